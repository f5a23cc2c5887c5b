"""Clocks: the real one for production, a fixed one for runs `as_of` a date (backfills, the demo, tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SystemClock:
    timezone: str = "Europe/Rome"

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.timezone)).date()


class FixedClock:
    """A clock standing on a given instant; `advance` moves it (the demo and tests walk through days)."""

    def __init__(self, instant: datetime, timezone: str = "Europe/Rome") -> None:
        if instant.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware instant")
        self._instant = instant
        self.timezone = timezone

    @classmethod
    def on(cls, day: date, timezone: str = "Europe/Rome", at: time = time(6, 0)) -> FixedClock:
        return cls(datetime.combine(day, at, tzinfo=ZoneInfo(timezone)), timezone)

    def now(self) -> datetime:
        return self._instant

    def today(self) -> date:
        return self._instant.astimezone(ZoneInfo(self.timezone)).date()

    def set(self, instant: datetime) -> None:
        self._instant = instant
