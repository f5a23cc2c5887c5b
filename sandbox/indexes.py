"""Search indexes over the records' property values: per (type, property) an equality index (normalized value ->
ids) and a range index (ids ordered by a numeric value), each built on first use and kept current on every write.

Both hold archived records too (archiving changes no value); search filters those out.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.records import Record, Tables, collector_paused
from sandbox.schema_registry import SchemaRegistry
from sandbox.search import NUMERIC_KINDS, Normalized, normalize

ValueIndex = dict[Normalized, set[str]]
# (low, low inclusive, high, high inclusive)
Bounds = tuple[float, bool, float, bool]


class RangeIndex:
    """Ids ordered by a numeric property value (ties by id): range filters by bisection, and sort order."""

    def __init__(self) -> None:
        self.keys: list[tuple[float, int]] = []
        self.ids: list[str] = []
        self.key_of: dict[str, tuple[float, int]] = {}

    @classmethod
    def build(cls, records: Iterable[Record], name: str, kind: str) -> RangeIndex:
        entries = []
        for record in records:
            raw = record.properties.get(name)
            if raw:
                value = normalize(raw, kind)
                if isinstance(value, float):
                    entries.append((value, int(record.id), record.id))
        entries.sort()
        index = cls()
        index.keys = [(value, number) for value, number, _object_id in entries]
        index.ids = [object_id for _value, _number, object_id in entries]
        index.key_of = dict(zip(index.ids, index.keys, strict=True))
        return index

    def put(self, object_id: str, value: Normalized | None) -> None:
        old = self.key_of.pop(object_id, None)
        if old is not None:
            position = bisect.bisect_left(self.keys, old)
            del self.keys[position]
            del self.ids[position]
        if isinstance(value, float):
            key = (value, int(object_id))
            position = bisect.bisect_left(self.keys, key)
            self.keys.insert(position, key)
            self.ids.insert(position, object_id)
            self.key_of[object_id] = key

    def slice_bounds(self, low: float, low_inclusive: bool, high: float, high_inclusive: bool) -> tuple[int, int]:
        # (value, inf) sorts after every (value, id): bisecting at it passes all the ids holding `value`
        start = (
            bisect.bisect_left(self.keys, (low, -1))
            if low_inclusive
            else bisect.bisect_right(self.keys, (low, math.inf))
        )
        end = (
            bisect.bisect_right(self.keys, (high, math.inf))
            if high_inclusive
            else bisect.bisect_left(self.keys, (high, -1))
        )
        return start, end

    def between(self, low: float, low_inclusive: bool, high: float, high_inclusive: bool) -> set[str]:
        start, end = self.slice_bounds(low, low_inclusive, high, high_inclusive)
        return set(self.ids[start:end]) if start < end else set()


def range_bounds(spec: Mapping[str, Any], kind: str) -> Bounds | None:
    """(low, low inclusive, high, high inclusive) of a range filter on a numeric property; None otherwise."""
    operator = spec.get("operator")
    if operator not in ("LT", "LTE", "GT", "GTE", "BETWEEN") or kind not in NUMERIC_KINDS:
        return None
    low = normalize(spec.get("value"), kind)
    high = normalize(spec.get("highValue"), kind) if operator == "BETWEEN" else low
    if not isinstance(low, float) or not isinstance(high, float):
        return None
    bounds: dict[str, Bounds] = {
        "LT": (-math.inf, True, low, False),
        "LTE": (-math.inf, True, low, True),
        "GT": (low, False, math.inf, True),
        "GTE": (low, True, math.inf, True),
        "BETWEEN": (low, True, high, True),
    }
    return bounds[str(operator)]


class Indexes:
    """The equality and range indexes of one portal. Called under the store lock."""

    def __init__(self, tables: Tables, schema: SchemaRegistry) -> None:
        self._tables = tables
        self._schema = schema
        self._value_indexes: dict[tuple[str, str], ValueIndex] = {}
        self._range_indexes: dict[tuple[str, str], RangeIndex] = {}

    def value_index(self, object_type: str, name: str, kind: str) -> ValueIndex:
        index = self._value_indexes.get((object_type, name))
        if index is None:
            index = {}
            with collector_paused():
                for record in self._tables[object_type].values():
                    value = normalize(record.properties.get(name), kind)
                    if value is not None:
                        index.setdefault(value, set()).add(record.id)
            self._value_indexes[(object_type, name)] = index
        return index

    def range_index(self, object_type: str, name: str, kind: str) -> RangeIndex:
        index = self._range_indexes.get((object_type, name))
        if index is None:
            with collector_paused():
                index = RangeIndex.build(self._tables[object_type].values(), name, kind)
            self._range_indexes[(object_type, name)] = index
        return index

    def update(self, object_type: str, record: Record, before: Mapping[str, str] | None) -> None:
        """Bring every index of the type up to a record just written (`before`: its properties before, if any)."""
        kind_of = self._schema.kind_function(object_type)
        for (indexed_type, name), index in self._value_indexes.items():
            if indexed_type != object_type:
                continue
            kind = kind_of(name)
            old = normalize(before.get(name), kind) if before is not None else None
            new = normalize(record.properties.get(name), kind)
            if old == new:
                continue
            if old is not None:
                index.get(old, set()).discard(record.id)
            if new is not None:
                index.setdefault(new, set()).add(record.id)
        for (indexed_type, name), range_index in self._range_indexes.items():
            if indexed_type == object_type:
                range_index.put(record.id, normalize(record.properties.get(name), kind_of(name)))
