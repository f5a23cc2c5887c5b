"""Clocks: the real one for production, a fixed one for runs `as_of` a date (backfills, the demo, tests)."""

from __future__ import annotations

import time as monotonic_time
from collections.abc import Callable
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


class RunBudget:
    """The time a run has left before the platform stops it (Cloud Functions' timeout). Retries never sleep
    past it: a run near its end gives up at once with a transient failure, checkpoints, and answers 503 so the
    scheduler tries again, instead of being killed mid-sleep. Started afresh for each run; None = no budget."""

    def __init__(self, monotonic: Callable[[], float] = monotonic_time.monotonic) -> None:
        self._monotonic = monotonic
        self._until: float | None = None

    def start(self, seconds: float | None) -> None:
        self._until = None if seconds is None or seconds <= 0 else self._monotonic() + seconds

    def remaining(self) -> float | None:
        return None if self._until is None else self._until - self._monotonic()

    def allows(self, wait: float) -> bool:
        remaining = self.remaining()
        return remaining is None or wait < remaining
