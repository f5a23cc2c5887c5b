"""What the three StateStore adapters (memory, SQLite, Firestore) share, so that they behave the same.

- One value codec. Stored values are JSON-compatible data plus dates and timezone-aware datetimes, which come
  back as `date` and `datetime` (with the offset they were stored with). Everything else is refused up front, on
  every adapter, with the limits of the strictest backend (Firestore): string keys that are not empty, do not
  start with "$" (reserved for the codec's tags) and are not `__reserved__`; integers within 64 bits; finite
  floats; no naive datetimes. A unit test with the memory store thus catches what Firestore would refuse.
- The reservation decision of `reserve`, given what is stored: free -> acquired, completed -> done, live lease
  -> held, expired lease -> reclaimed.
- Keyset paging of long query results, so that no adapter holds a cursor (or a stream) open while the caller
  works between records, and a record is yielded at most once per iteration even if it is updated meanwhile.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar

from flywheel.ports import SequenceRecord, StaleSequence

DATE_TAG = "$date"
DATETIME_TAG = "$datetime"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_RESERVED_KEY = re.compile(r"^__.*__$")

Cursor = TypeVar("Cursor")
Item = TypeVar("Item")


# --- values ----------------------------------------------------------------------------------------------------


def encode_value(value: Any, where: str = "value") -> Any:
    """`value` as JSON-compatible data; dates and datetimes become one-key tagged maps."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{where}: integer {value} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} is not a finite number")
        return value
    # datetime is a subclass of date: test it first
    if isinstance(value, datetime):
        return {DATETIME_TAG: require_aware(value, where).isoformat()}
    if isinstance(value, date):
        return {DATE_TAG: value.isoformat()}
    if isinstance(value, Mapping):
        return encode_mapping(value, where)
    if isinstance(value, list | tuple):
        return [encode_value(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored (JSON data, dates and datetimes only)")


def encode_mapping(mapping: Mapping[str, Any], where: str = "value") -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for key, item in mapping.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: key {key!r} is not a string")
        if not key or key.startswith("$") or _RESERVED_KEY.match(key):
            raise ValueError(f"{where}: key {key!r} is reserved (empty, '$...' or '__...__')")
        encoded[key] = encode_value(item, f"{where}.{key}")
    return encoded


def decode_value(value: Any) -> Any:
    """The inverse of `encode_value`: fresh objects, so callers may mutate what they get."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            ((tag, text),) = value.items()
            if tag == DATE_TAG and isinstance(text, str):
                return date.fromisoformat(text)
            if tag == DATETIME_TAG and isinstance(text, str):
                return datetime.fromisoformat(text)
        return {key: decode_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    return value


def decode_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return {key: decode_value(item) for key, item in value.items()}


def require_id(*names: str) -> None:
    """Keys, ids, kinds and collection names: any non-empty string (Firestore cannot name a document "")."""
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"state store names and ids must be non-empty strings, not {name!r}")


def require_aware(instant: datetime, where: str = "instant") -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{where}: naive datetime {instant!r}; state stores keep timezone-aware instants only")
    return instant


def to_utc(instant: datetime) -> datetime:
    return require_aware(instant).astimezone(UTC)


# --- reservations ----------------------------------------------------------------------------------------------

PENDING, DONE = "pending", "done"
Decision = Literal["acquire", "done", "held", "reclaim"]


def new_token() -> str:
    """A holder's fencing token: unique per reservation, so a late worker's token never matches a new holder's."""
    return uuid.uuid4().hex


def check_version(stored: int, expected: int | None, kind: str, sequence_id: str) -> None:
    """The compare of put_sequence's compare-and-set (None: an unconditional write)."""
    if expected is not None and stored != expected:
        raise StaleSequence(f"sequence {kind}/{sequence_id} is at version {stored}, not {expected}")


def reservation_decision(stored_status: str | None, lease_until: datetime | None, now: datetime) -> Decision:
    """What `reserve` does about a key, given what is stored for it (None: nothing).

    A lease is live while `lease_until > now`: at the instant it ends it may be reclaimed.
    """
    if stored_status is None:
        return "acquire"
    if stored_status == DONE:
        return "done"
    if lease_until is not None and lease_until > now:
        return "held"
    return "reclaim"


# --- sequence records ------------------------------------------------------------------------------------------


def sequence_to_fields(record: SequenceRecord) -> dict[str, Any]:
    """A SequenceRecord as flat fields; next_due as an ISO date string, so that string order is date order.
    The version is the store's to set, not the caller's: it is left out here."""
    if isinstance(record.next_due, datetime) or not (record.next_due is None or isinstance(record.next_due, date)):
        raise TypeError(f"sequence {record.kind}/{record.id}: next_due must be a date or None")
    return {
        "kind": record.kind,
        "id": record.id,
        "company_id": record.company_id,
        "status": record.status,
        "step": int(record.step),
        "next_due": None if record.next_due is None else record.next_due.isoformat(),
        "data": encode_mapping(record.data, f"sequence {record.kind}/{record.id} data"),
    }


def sequence_from_fields(fields: Mapping[str, Any]) -> SequenceRecord:
    next_due = fields.get("next_due")
    return SequenceRecord(
        kind=str(fields["kind"]),
        id=str(fields["id"]),
        company_id=str(fields["company_id"]),
        status=str(fields["status"]),
        step=int(fields["step"]),
        next_due=None if next_due is None else date.fromisoformat(str(next_due)),
        data=decode_mapping(fields.get("data") or {}),
        version=int(fields.get("version") or 0),
    )


# --- paging ----------------------------------------------------------------------------------------------------


def keyset_pages(
    fetch_page: Callable[[Cursor | None], Sequence[tuple[Cursor, Item]]],
    page_size: int,
    identity: Callable[[Item], Hashable] | None = None,
) -> Iterator[Item]:
    """Every item of a query read a page at a time, each page starting after the previous page's last cursor.

    `fetch_page(cursor)` returns up to `page_size` (cursor, item) pairs in cursor order. With `identity`, an item
    seen on an earlier page is not yielded again (a record the caller updated to a later position in the order).
    """
    seen: set[Hashable] = set()
    cursor: Cursor | None = None
    while True:
        page = fetch_page(cursor)
        for _, item in page:
            if identity is not None:
                item_id = identity(item)
                if item_id in seen:
                    continue
                seen.add(item_id)
            yield item
        if len(page) < page_size:
            return
        cursor = page[-1][0]


def lease_end(now: datetime, lease: timedelta) -> datetime:
    if lease <= timedelta(0):
        raise ValueError(f"lease must be positive, not {lease}")
    return to_utc(now) + lease
