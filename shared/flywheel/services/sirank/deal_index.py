"""The deal index: the company each order of the ledger belongs to, so that an incremental run finds the company
of a changed or deleted deal without asking HubSpot (a deleted deal no longer has associations to ask about).

Sharded by deal id, about 2,000 orders a shard (`{"d": "deal:company;..."}`); a run loads the shards of the deals
it meets and writes back the ones it changed.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping

from flywheel.ports import StateStore
from flywheel.services.sirank.ledger import STATE_CHUNK, CompanyState

ORDERS_PER_SHARD = 2000
_ENTRY = struct.Struct("<qq")  # deal id, company id
SHARDS_PER_WRITE = 100


def shard_count(orders: int) -> int:
    return max(1, math.ceil(orders / ORDERS_PER_SHARD))


def _encode(entries: Iterable[tuple[int, int | str]]) -> dict[str, str]:
    return {"d": ";".join(f"{deal}:{company}" for deal, company in entries)}


def _decode(document: Mapping[str, object]) -> dict[int, str]:
    entries: dict[int, str] = {}
    for item in str(document.get("d") or "").split(";"):
        if item:
            deal, company = item.split(":")
            entries[int(deal)] = company
    return entries


def write_index(state: StateStore, collection: str, companies: Mapping[str, CompanyState], shards: int) -> None:
    """The whole index of a full run's companies, packed 16 bytes an order while it is sorted into shards."""
    packed = [bytearray() for _ in range(shards)]
    for company_id, company in companies.items():
        if not company_id.isdigit():
            continue
        for deal, _day, _cents in company.order_entries():
            packed[deal % shards] += _ENTRY.pack(deal, int(company_id))
    for start in range(0, shards, SHARDS_PER_WRITE):
        documents = {}
        for shard in range(start, min(start + SHARDS_PER_WRITE, shards)):
            documents[str(shard)] = _encode(_ENTRY.iter_unpack(packed[shard]))
            packed[shard] = bytearray()
        state.put_documents(collection, documents)


class DealIndex:
    """deal -> company for the ledger's orders, in shards loaded on demand and written back when changed."""

    def __init__(self, state: StateStore, collection: str, shards: int) -> None:
        self.state = state
        self.collection = collection
        self.shards = shards
        self.loaded: dict[int, dict[int, str]] = {}
        self.dirty: set[int] = set()

    def load(self, deals: Iterable[int]) -> None:
        wanted = sorted({deal % self.shards for deal in deals} - self.loaded.keys())
        for start in range(0, len(wanted), STATE_CHUNK):
            chunk = [str(s) for s in wanted[start : start + STATE_CHUNK]]
            found = self.state.get_documents(self.collection, chunk)
            for shard_id in chunk:
                self.loaded[int(shard_id)] = _decode(found.get(shard_id, {}))

    def get(self, deal: int) -> str | None:
        return self.loaded[deal % self.shards].get(deal)

    def put(self, deal: int, company_id: str) -> None:
        shard = deal % self.shards
        if self.loaded[shard].get(deal) != company_id:
            self.loaded[shard][deal] = company_id
            self.dirty.add(shard)

    def pop(self, deal: int) -> str | None:
        shard = deal % self.shards
        company = self.loaded[shard].pop(deal, None)
        if company is not None:
            self.dirty.add(shard)
        return company

    def flush(self) -> None:
        if not self.dirty:
            return
        documents = {str(shard): _encode(self.loaded[shard].items()) for shard in sorted(self.dirty)}
        self.state.put_documents(self.collection, documents)
        self.dirty.clear()
