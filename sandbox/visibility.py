"""Search lag: HubSpot's search index trails writes by a few seconds, so for `search_lag_seconds` after a write
search still shows a record as it was before (a new record not at all).

With a lag set, every write leaves a history (the version before the first unsettled write, then each write with
its time on the portal clock); search judges a record on the newest version older than the lag, and forgets a
history once all its writes are older than that. With no lag nothing is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sandbox.clock import PortalClock
from sandbox.limits import Settings
from sandbox.records import Record
from sandbox.schema import OBJECT_TYPES


@dataclass
class History:
    """What search still shows of a recently written record: the version before the first unsettled write."""

    before: dict[str, str] | None
    writes: list[tuple[float, dict[str, str]]] = field(default_factory=list)


class Visibility:
    """The unsettled writes of one portal, by type and id. Called under the store lock."""

    def __init__(self, settings: Settings, clock: PortalClock) -> None:
        self._settings = settings
        self._clock = clock
        self._histories: dict[str, dict[str, History]] = {name: {} for name in OBJECT_TYPES}

    def settle(self, object_type: str, lag: float, now: float) -> dict[str, History]:
        """Forget histories whose writes are all older than the lag; returns the ones still unsettled."""
        histories = self._histories[object_type]
        if not histories:
            return histories
        for object_id in [i for i, history in histories.items() if now - history.writes[-1][0] >= lag]:
            del histories[object_id]
        return histories

    def visible(self, object_type: str, record: Record, lag: float, now: float) -> Mapping[str, str] | None:
        """The version of a record search shows now: the newest write older than the lag (None: not yet indexed)."""
        history = self._histories[object_type].get(record.id)
        if history is None:
            return record.properties
        visible = history.before
        for written_at, snapshot in history.writes:
            if now - written_at >= lag:
                visible = snapshot
            else:
                break
        return visible

    def remember(self, object_type: str, record: Record, before: dict[str, str] | None) -> None:
        """Note a write (`before`: the record's properties before it, None for a new record)."""
        if self._settings.search_lag_seconds <= 0:
            return
        history = self._histories[object_type].get(record.id)
        if history is None:
            history = self._histories[object_type][record.id] = History(before=before)
        history.writes.append((self._clock.seconds(), dict(record.properties)))
