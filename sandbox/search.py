"""Search semantics of the CRM search endpoint: filter operators, value comparison by property type, sorting.

Values are compared the way HubSpot does: numbers numerically, dates and datetimes as epoch milliseconds (given
either as epoch ms or as ISO text), everything else as case-insensitive text.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)

NUMERIC_KINDS = frozenset({"number", "datetime", "date"})

Normalized = float | str


class InvalidFilter(ValueError):
    """A filter the search endpoint refuses (400)."""


@functools.lru_cache(maxsize=262_144)
def to_epoch_ms(text: str) -> float | None:
    """Epoch milliseconds for an epoch-ms number or an ISO date / datetime; None if it is neither."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return float(stripped)
    except ValueError:
        pass
    try:
        if len(stripped) == 10:
            day = date.fromisoformat(stripped)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000
        moment = datetime.fromisoformat(stripped)  # Python 3.11 reads the trailing Z itself
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


@functools.lru_cache(maxsize=262_144)
def _to_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) else number


def normalize(value: Any, kind: str) -> Normalized | None:
    """The comparable form of a stored or filter value for a property of the given type."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if text == "":
        return None
    if kind == "number":
        return _to_number(text)
    if kind in ("datetime", "date"):
        return to_epoch_ms(text)
    return text.lower()


def _same_kind(left: Normalized | None, right: Normalized | None) -> bool:
    return left is not None and right is not None and isinstance(left, float) == isinstance(right, float)


def compile_filter(spec: Mapping[str, Any], kind_of: Callable[[str], str]) -> tuple[str, Callable[[Any], bool]]:
    """(property name, predicate over the record's raw value) for one filter of a filter group."""
    name = spec.get("propertyName")
    operator = spec.get("operator")
    if not isinstance(name, str) or not name:
        raise InvalidFilter("Every filter needs a propertyName.")
    if operator not in OPERATORS:
        raise InvalidFilter(f"Unknown filter operator {operator!r} for property {name!r}.")
    kind = kind_of(name)

    if operator == "HAS_PROPERTY":
        return name, lambda raw: raw is not None and raw != ""
    if operator == "NOT_HAS_PROPERTY":
        return name, lambda raw: raw is None or raw == ""
    if operator in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise InvalidFilter(f"Operator {operator} on {name!r} needs a non-empty 'values' list.")
        wanted = {normalize(value, kind) for value in values} - {None}
        if operator == "IN":
            return name, lambda raw: normalize(raw, kind) in wanted
        return name, lambda raw: normalize(raw, kind) not in wanted
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(spec.get("value", "")).lower().replace("*", "")

        def contains(raw: Any) -> bool:
            return raw is not None and token in str(raw).lower()

        if operator == "CONTAINS_TOKEN":
            return name, contains
        return name, lambda raw: not contains(raw)

    if "value" not in spec or spec["value"] is None:
        raise InvalidFilter(f"Operator {operator} on {name!r} needs a 'value'.")
    target = normalize(spec["value"], kind)
    if target is None and kind in NUMERIC_KINDS:
        raise InvalidFilter(f"{spec['value']!r} is not a valid {kind} value for {name!r}.")
    if operator == "EQ":
        return name, lambda raw: normalize(raw, kind) == target
    if operator == "NEQ":
        return name, lambda raw: normalize(raw, kind) != target
    if operator == "BETWEEN":
        high = normalize(spec.get("highValue"), kind)
        if high is None:
            raise InvalidFilter(f"BETWEEN on {name!r} needs a 'highValue'.")

        def between(raw: Any) -> bool:
            current = normalize(raw, kind)
            return _same_kind(current, target) and _same_kind(current, high) and target <= current <= high  # type: ignore[operator]

        return name, between

    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "LT": lambda left, right: left < right,
        "LTE": lambda left, right: left <= right,
        "GT": lambda left, right: left > right,
        "GTE": lambda left, right: left >= right,
    }
    compare = comparisons[operator]

    def ordered(raw: Any) -> bool:
        current = normalize(raw, kind)
        return _same_kind(current, target) and compare(current, target)

    return name, ordered
