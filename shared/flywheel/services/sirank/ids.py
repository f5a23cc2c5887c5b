"""HubSpot ids as sirank_recalc orders and slices them: numerically, and in batches of a fixed size."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def by_id(record_id: str) -> tuple[int, str]:
    """Sort key: numeric ids in numeric order (the order companies are scored in, and the company that owns a
    deal associated with several), any other id after 0, by its text."""
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
