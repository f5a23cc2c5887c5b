"""The ledger: what sirank_recalc keeps of every company between runs, so that an incremental run need not read
HubSpot again for a company whose orders did not change.

One state-store document per company: its orders (`deal:day:cents;...`, 20 bytes each once packed in memory),
D&P membership, the six values HubSpot holds (SiRank, last purchase date, retention segment, and the revenue of
the month, the previous month and the year), and its review day (the first day its score or its period revenue
may change with no new data: the first of a month rolls the revenue over). A document written before the
revenue values were kept lacks their keys (`rm`, `rp`, `ry`): the next run re-scores that company. A small meta
document names the current generation: each full run builds a new ledger and deal index under the next
generation and switches to it only when both are complete.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flywheel.domain.models import CrmRecord
from flywheel.domain.sirank import OrderFact
from flywheel.ports import StateStore
from flywheel.services.orders import Order
from flywheel.services.sirank.ids import chunks

META_COLLECTION = "sirank_meta"
META_DOC = "state"
STATE_CHUNK = 500  # documents per state-store call
ORDER = struct.Struct("<qiq")  # deal id, order day (ordinal), amount in cents

# sirank, last purchase date, retention segment, revenue month to date, of the previous month, year to date
HubSpotValues = tuple[str | None, str | None, str | None, str | None, str | None, str | None]
REVENUE_KEYS = ("rm", "rp", "ry")


def ledger_name(generation: int) -> str:
    return f"sirank_ledger_g{generation}"


def index_name(generation: int) -> str:
    return f"sirank_index_g{generation}"


class CompanyState:
    """One company as the ledger keeps it: its orders packed 20 bytes each, D&P membership, HubSpot's values."""

    __slots__ = ("dp", "hs_last", "hs_mtd", "hs_prev", "hs_segment", "hs_sirank", "hs_ytd", "orders", "review")

    def __init__(
        self,
        dp: bool = False,
        hs_sirank: str | None = None,
        hs_last: str | None = None,
        hs_segment: str | None = None,
        orders: bytearray | None = None,
        review: int | None = None,
        hs_revenue: tuple[str | None, str | None, str | None] = (None, None, None),
    ) -> None:
        self.dp = dp
        self.hs_sirank = hs_sirank
        self.hs_last = hs_last
        self.hs_segment = hs_segment
        self.hs_mtd, self.hs_prev, self.hs_ytd = hs_revenue
        self.orders = orders if orders is not None else bytearray()
        self.review = review  # the review day as a date ordinal; None: nothing changes by itself

    @property
    def order_count(self) -> int:
        return len(self.orders) // ORDER.size

    def order_entries(self) -> Iterator[tuple[int, int, int]]:
        for deal, day, cents in ORDER.iter_unpack(self.orders):
            yield int(deal), int(day), int(cents)

    def order_facts(self) -> list[OrderFact]:
        return [OrderFact(date.fromordinal(day), Decimal(cents) / 100) for _deal, day, cents in self.order_entries()]

    def remove(self, deal: int) -> bool:
        for position in range(0, len(self.orders), ORDER.size):
            if ORDER.unpack_from(self.orders, position)[0] == deal:
                del self.orders[position : position + ORDER.size]
                return True
        return False

    def upsert(self, deal: int, day: int, cents: int) -> None:
        self.remove(deal)
        self.orders += ORDER.pack(deal, day, cents)

    def upsert_order(self, order: Order) -> None:
        """The order (its deal id numeric, as HubSpot's are) added, or replacing its earlier version."""
        self.upsert(int(order.deal_id), order.day.toordinal(), order.cents)

    @property
    def hubspot_values(self) -> HubSpotValues:
        return (self.hs_sirank, self.hs_last, self.hs_segment, self.hs_mtd, self.hs_prev, self.hs_ytd)

    @property
    def hs_revenue(self) -> tuple[str | None, str | None, str | None]:
        return (self.hs_mtd, self.hs_prev, self.hs_ytd)

    def set_hubspot_values(self, record: CrmRecord, names: tuple[str, str, str, str, str, str]) -> None:
        values = [record.prop(n) for n in names]
        self.hs_sirank, self.hs_last, self.hs_segment, self.hs_mtd, self.hs_prev, self.hs_ytd = values

    def same_hubspot_values(self, other: CompanyState) -> bool:
        """Whether both hold the same values; a number may come back from HubSpot spelt otherwise than it was
        written ("1234.50" as "1234.5"), which is no change."""
        return self.hubspot_values[:3] == other.hubspot_values[:3] and all(
            _same_number(mine, theirs) for mine, theirs in zip(self.hs_revenue, other.hs_revenue, strict=True)
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "dp": self.dp,
            "s": self.hs_sirank,
            "l": self.hs_last,
            "r": self.hs_segment,
            "o": ";".join(f"{deal}:{day}:{cents}" for deal, day, cents in self.order_entries()),
            "n": self.review,
            **dict(zip(REVENUE_KEYS, self.hs_revenue, strict=True)),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> CompanyState:
        orders = bytearray()
        for item in str(document.get("o") or "").split(";"):
            if item:
                deal, day, cents = item.split(":")
                orders += ORDER.pack(int(deal), int(day), int(cents))
        review = document.get("n")
        return cls(
            bool(document.get("dp")),
            document.get("s"),
            document.get("l"),
            document.get("r"),
            orders,
            None if review is None else int(review),
            (document.get("rm"), document.get("rp"), document.get("ry")),
        )


def _same_number(a: str | None, b: str | None) -> bool:
    if a == b:
        return True
    try:
        return a is not None and b is not None and Decimal(a) == Decimal(b)
    except InvalidOperation:
        return False


@dataclass(frozen=True, slots=True)
class LedgerMeta:
    """Which ledger is current, and where the next incremental run starts reading HubSpot's changes."""

    generation: int
    shards: int  # of the deal index
    watermark: datetime  # the start of the last finished run: changes are read from there (minus a lookback)
    last_as_of: date

    @classmethod
    def load(cls, state: StateStore) -> LedgerMeta | None:
        document = state.get_document(META_COLLECTION, META_DOC)
        if document is None:
            return None
        return cls(
            int(document["generation"]),
            int(document["shards"]),
            datetime.fromisoformat(str(document["watermark"])),
            date.fromisoformat(str(document["last_as_of"])),
        )

    def save(self, state: StateStore) -> None:
        document = {
            "generation": self.generation,
            "shards": self.shards,
            "watermark": self.watermark.isoformat(),
            "last_as_of": self.last_as_of.isoformat(),
        }
        state.put_documents(META_COLLECTION, {META_DOC: document})


class LedgerCache:
    """The companies of one ledger that a run has touched, loaded on demand and written back when asked."""

    def __init__(self, state: StateStore, collection: str) -> None:
        self.state = state
        self.collection = collection
        self.companies: dict[str, CompanyState] = {}
        self.not_in_ledger: set[str] = set()  # new companies (and, on a dry run, companies of no ledger yet)

    def __getitem__(self, company_id: str) -> CompanyState:
        return self.companies[company_id]

    def load(self, ids: Iterable[str]) -> None:
        missing = [i for i in dict.fromkeys(ids) if i not in self.companies]
        for chunk in chunks(missing, STATE_CHUNK):
            found = self.state.get_documents(self.collection, chunk)
            for company_id in chunk:
                document = found.get(company_id)
                if document is None:
                    self.not_in_ledger.add(company_id)
                self.companies[company_id] = CompanyState.from_document(document) if document else CompanyState()

    def loaded(self, ids: Iterable[str]) -> dict[str, CompanyState]:
        wanted = list(ids)
        self.load(wanted)
        return {i: self.companies[i] for i in wanted}

    def write(self, ids: Iterable[str]) -> None:
        for chunk in chunks(sorted(ids), STATE_CHUNK):
            self.state.put_documents(self.collection, {i: self.companies[i].to_document() for i in chunk})

    def forget(self, ids: Iterable[str]) -> None:
        for company_id in ids:
            self.companies.pop(company_id, None)
