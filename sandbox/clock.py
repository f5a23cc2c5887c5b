"""The sandbox portal's clock: real time, or an instant pinned by a test or the demo that moves only when told.

Everything the portal stamps (createdate, hs_lastmodifieddate, archivedAt, batch startedAt/completedAt) and the
moment a write becomes visible to search read this clock, so a test that pins it sees the same dates on any day
it runs. The rate limit's 10-second window is not portal data but a property of the caller's real pace, so it
stays on `time.monotonic()`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


def parse_instant(value: str) -> datetime:
    """An ISO-8601 instant with an offset or Z; a value without an offset is refused (it names no instant)."""
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{value!r} has no UTC offset: write it as 2026-11-21T09:00:00Z or with +01:00")
    return moment.astimezone(UTC)


def iso_from_datetime(moment: datetime) -> str:
    """An instant as HubSpot writes it: UTC, ISO 8601 with milliseconds and Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class PortalClock:
    """Now for the portal. Unpinned it follows the wall clock; pinned it stands still until advanced."""

    def __init__(self, pinned: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._pinned = pinned.astimezone(UTC) if pinned is not None else None

    def now(self) -> datetime:
        with self._lock:
            return self._pinned if self._pinned is not None else datetime.now(UTC)

    def iso_now(self) -> str:
        return iso_from_datetime(self.now())

    def seconds(self) -> float:
        """Now as epoch seconds: the time base of search-lag visibility."""
        return self.now().timestamp()

    @property
    def pinned(self) -> bool:
        with self._lock:
            return self._pinned is not None

    def pin(self, moment: datetime | None) -> None:
        """Stand still at `moment`; None returns to real time."""
        with self._lock:
            self._pinned = moment.astimezone(UTC) if moment is not None else None

    def advance(self, seconds: float) -> None:
        """Move a pinned clock forward (or back, with a negative number). A clock on real time cannot be moved."""
        with self._lock:
            if self._pinned is None:
                raise ValueError("the clock follows real time: pin it with {'now': ...} before advancing it")
            self._pinned += timedelta(seconds=seconds)

    def state(self) -> dict[str, object]:
        """The `GET /_sandbox/clock` answer."""
        return {"now": self.iso_now(), "pinned": self.pinned}
