"""A Crm that invents a large portal page by page and keeps none of it: the memory of a run, and nothing else.

Companies have ids 1..N; each has a deterministic number of orders (as in the sandbox generator's mix: many
small buyers, a few large ones, ~8 deals a company, ~3% of them not orders) spread over five years. Writes are
counted and dropped. Used to measure a full run's peak memory at sizes the HTTP sandbox would take long to serve.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta

from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.domain.models import CrmRecord, Owner, Page, Pipeline
from flywheel.ports import AssociationTarget, Filter, RecordRefusal

DEAL_ID_BASE = 30_000_000_000


class SyntheticCrm:
    def __init__(self, companies: int, today: date, seed: int = 1) -> None:
        self.companies = companies
        self.today = today
        self.seed = seed
        self._schema = MemoryCrm.with_default_schema()
        pipeline = self._schema.pipeline("Pipeline delle vendite")
        self._pipeline = pipeline.id
        self._won = next(s.id for s in pipeline.stages if s.is_won)
        self._lost = next(s.id for s in pipeline.stages if s.is_closed and not s.is_won)
        self._calls = 0
        self.updates = 0
        rng = random.Random(seed)
        # deals per company: a long tail (lognormal-ish), mean about 8
        self._deal_counts = [min(400, int(rng.paretovariate(1.6) * 3)) for _ in range(companies)]
        self.deals = sum(self._deal_counts)

    @property
    def calls_made(self) -> int:
        return self._calls

    def owners(self) -> list[Owner]:
        self._calls += 1
        return self._schema.owners()

    def pipelines(self, object_type: str) -> list[Pipeline]:
        self._calls += 1
        return self._schema.pipelines(object_type)

    def list_pages(
        self,
        object_type: str,
        properties: Sequence[str],
        *,
        associations: Sequence[str] = (),
        after: str | None = None,
        archived: bool = False,
    ) -> Iterator[Page]:
        items = self._company_records if object_type == "companies" else self._deal_records
        total = self.companies if object_type == "companies" else self.deals
        start = int(after or 0)
        if archived:
            self._calls += 1
            yield Page((), None)
            return
        while start < total:
            self._calls += 1
            end = min(total, start + 100)
            yield Page(tuple(items(start, end)), str(end) if end < total else None)
            start = end

    def _company_records(self, start: int, end: int) -> Iterator[CrmRecord]:
        for n in range(start, end):
            dp = ("none", "bronze", "silver", "gold")[n % 4]
            yield CrmRecord(str(n + 1), {"dp_level": dp, "sirank": None, "last_purchase_date": None})

    def _deal_records(self, start: int, end: int) -> Iterator[CrmRecord]:
        # deal k belongs to the company whose cumulative count covers k; walk from the page's first deal
        company, first = self._company_of(start)
        for k in range(start, end):
            while k >= first + self._deal_counts[company]:
                first += self._deal_counts[company]
                company += 1
            rng = random.Random(self.seed * 1_000_003 + k)
            closed = self.today - timedelta(days=rng.randrange(0, 5 * 365))
            yield CrmRecord(
                str(DEAL_ID_BASE + k),
                {
                    "amount": f"{rng.lognormvariate(6, 1.2):.2f}",
                    "closedate": f"{closed.isoformat()}T09:30:00.000Z",
                    "pipeline": self._pipeline,
                    "dealstage": self._won if rng.random() > 0.03 else self._lost,
                },
                associations={"companies": (str(company + 1),)},
            )

    def _company_of(self, deal: int) -> tuple[int, int]:
        first = 0
        for company, count in enumerate(self._deal_counts):
            if deal < first + count:
                return company, first
            first += count
        return len(self._deal_counts), first

    def search_pages(
        self, object_type: str, filters: Sequence[Filter], properties: Sequence[str], *, after: str | None = None
    ) -> Iterator[Page]:
        self._calls += 1
        yield Page((), None)

    def read_batch(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> list[CrmRecord]:
        self._calls += (len(ids) + 99) // 100
        return []

    def update_batch(self, object_type: str, updates: Sequence[tuple[str, Mapping[str, str]]]) -> list[RecordRefusal]:
        self._calls += (len(updates) + 99) // 100
        self.updates += len(updates)
        return []

    def create(
        self, object_type: str, properties: Mapping[str, str], associations: Sequence[AssociationTarget] = ()
    ) -> CrmRecord:
        raise NotImplementedError("the synthetic portal is read-mostly")

    def associated_ids(self, from_object_type: str, to_object_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        self._calls += (len(ids) + 99) // 100
        return {}

    def find_by_values(self, object_type: str, property_name: str, values: Sequence[str]) -> dict[str, CrmRecord]:
        return {}
