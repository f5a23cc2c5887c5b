"""The incremental run: what changed in HubSpot since the last run's watermark (less a lookback, as search lags
writes) is applied to the ledger; then the companies touched, and those whose review day has come (an order
leaving the window, a segment threshold, an anniversary moving the rounded value, the first of a month rolling
their period revenue over), are re-scored from the ledger without reading HubSpot for them.

Phases: deals (modified deals, searched in hs_object_id order) -> archived (deleted deals, listed: search never
shows them) -> companies (modified companies: D&P level, values edited by hand) -> targets -> score -> finish
(the watermark moves to this run's start). Every page applied writes its companies to the ledger and stages
their ids, so that a resumed run knows what it touched.

Known limits: a deal re-associated to another company without other changes stays with its old company until
the next full run (association changes do not always move hs_lastmodifieddate); the archived-deals list is read
whole on each incremental run (HubSpot keeps archived records 90 days).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta

from flywheel.domain.models import CrmRecord
from flywheel.ports import Filter
from flywheel.services.orders import ORDER_PROPERTIES, Order
from flywheel.services.sirank.checkpoint import AFFECTED_PAGES, TARGET_PAGES
from flywheel.services.sirank.deal_index import DealIndex
from flywheel.services.sirank.ids import by_id, chunks
from flywheel.services.sirank.job import Job
from flywheel.services.sirank.ledger import REVENUE_KEYS, LedgerCache, LedgerMeta, index_name, ledger_name
from flywheel.services.sirank.scoring import BATCH, Scoring


class IncrementalRun:
    def __init__(self, job: Job) -> None:
        assert job.meta is not None, "an incremental run needs the ledger of a full run"
        self.job = job
        self.meta = job.meta
        self.checkpoint = job.checkpoint
        self.ledger = LedgerCache(job.state, ledger_name(self.meta.generation))
        self.index = DealIndex(job.state, index_name(self.meta.generation), self.meta.shards)
        self.affected: set[str] = set()  # companies whose orders or HubSpot values changed
        self.since = self.meta.watermark - timedelta(minutes=job.rules.lookback_minutes)

    def execute(self) -> None:
        self.job.extra_summary["modified_since"] = self.since.isoformat()
        for document in self.job.staging.pages(AFFECTED_PAGES, self.checkpoint.affected_pages):
            self.affected.update(document.get("ids", []))
        if self.checkpoint.phase == "deals":
            self._read_modified_deals()
        if self.checkpoint.phase == "archived":
            self._read_archived_deals()
        if self.checkpoint.phase == "companies":
            self._read_modified_companies()
        targets = self._targets()
        if self.checkpoint.phase == "score":
            Scoring(self.job, self.ledger.collection, self.ledger.loaded, self.ledger.forget).score_all(targets)
            self.job.next_phase("finish")
        self._finish()

    # --- reading what changed ---------------------------------------------------------------------------------

    def _modified_since(self) -> list[Filter]:
        return [Filter("hs_lastmodifieddate", "GTE", str(int(self.since.timestamp() * 1000)))]

    def _read_modified_deals(self) -> None:
        crm, cursor = self.job.crm, self.checkpoint.cursor
        for page in crm.search_pages("deals", self._modified_since(), ORDER_PROPERTIES, after=cursor):
            dirty = self._apply_deals(page.records)
            self.checkpoint.count("deals_modified", len(page.records))
            self._absorb(page.after, dirty)
        self.job.next_phase("archived")

    def _read_archived_deals(self) -> None:
        for page in self.job.crm.list_pages("deals", (), archived=True, after=self.checkpoint.cursor):
            dirty = self._remove_archived(page.records)
            self.checkpoint.count("archived_orders_removed", len(dirty))
            self._absorb(page.after, dirty)
        self.job.next_phase("companies")

    def _read_modified_companies(self) -> None:
        job, cursor = self.job, self.checkpoint.cursor
        for page in job.crm.search_pages("companies", self._modified_since(), job.company_properties, after=cursor):
            dirty = self._apply_companies(page.records)
            self.checkpoint.count("companies_modified", len(page.records))
            self._absorb(page.after, dirty)
        self.job.next_phase("targets")

    def _absorb(self, cursor: str | None, dirty: set[str]) -> None:
        """One page applied: its companies and index shards written, their ids staged, the cursor saved."""
        self.affected |= dirty
        self.checkpoint.cursor = cursor
        if self.job.dry_run:
            return
        self.ledger.write(dirty)
        self.index.flush()
        if dirty:
            number = self.checkpoint.affected_pages
            self.job.staging.put(AFFECTED_PAGES, number, {"ids": sorted(dirty, key=by_id)})
            self.checkpoint.affected_pages = number + 1
        self.job.save()

    # --- applying it to the ledger ------------------------------------------------------------------------------

    def _apply_deals(self, records: Sequence[CrmRecord]) -> set[str]:
        """The ledger in line with one search page of modified deals; the companies touched."""
        deals = [r for r in records if r.id.isdigit()]
        self.index.load(int(r.id) for r in deals)
        orders = {int(r.id): self.job.order_of(r) for r in deals}
        linked = self._companies_of_new_orders(orders)
        dirty: set[str] = set()
        for deal, order in orders.items():
            dirty |= self._place(deal, order, linked)
        return dirty

    def _companies_of_new_orders(self, orders: Mapping[int, Order | None]) -> dict[str, list[str]]:
        """The companies of the orders the index does not know (new deals, deals just won): one association
        read per 100; a known order stays with the company the index has for it."""
        unknown = [str(deal) for deal, order in orders.items() if order is not None and self.index.get(deal) is None]
        return self.job.crm.associated_ids("deals", "companies", unknown) if unknown else {}

    def _place(self, deal: int, order: Order | None, linked: Mapping[str, list[str]]) -> set[str]:
        """The deal's order moved to where it belongs now (nowhere, if it is no longer an order)."""
        previous = self.index.get(deal)
        current: str | None
        if order is None:
            current = None
        elif previous is not None:
            current = previous
        else:
            companies = linked.get(str(deal), [])
            current = min(companies, key=by_id) if companies else None
        touched: set[str] = set()
        if previous is not None and previous != current:
            self.ledger.load([previous])
            self.ledger[previous].remove(deal)
            self.index.pop(deal)
            touched.add(previous)
        if current is not None and order is not None:
            self.ledger.load([current])
            self.ledger[current].upsert_order(order)
            self.index.put(deal, current)
            touched.add(current)
        return touched

    def _remove_archived(self, records: Sequence[CrmRecord]) -> set[str]:
        deals = [int(r.id) for r in records if r.id.isdigit()]
        self.index.load(deals)
        touched: set[str] = set()
        for deal in deals:
            company_id = self.index.pop(deal)
            if company_id is not None:
                self.ledger.load([company_id])
                self.ledger[company_id].remove(deal)
                touched.add(company_id)
        return touched

    def _apply_companies(self, records: Sequence[CrmRecord]) -> set[str]:
        self.ledger.load(r.id for r in records)
        touched: set[str] = set()
        for record in records:
            company = self.ledger[record.id]
            fresh = self.job.company_state(record)
            # our own writes of the last run come back here unchanged: only a real difference re-scores
            same = company.dp == fresh.dp and company.same_hubspot_values(fresh)
            if not same or record.id in self.ledger.not_in_ledger:
                company.dp = fresh.dp
                company.set_hubspot_values(record, self.job.value_names)
                touched.add(record.id)
        return touched

    # --- re-scoring -------------------------------------------------------------------------------------------

    def _targets(self) -> list[str]:
        """The companies to re-score, in id order, staged once so that a resumed run scores the same list."""
        if self.checkpoint.phase == "targets":
            targets = sorted(self.affected | self._due(), key=by_id)
            for number, chunk in enumerate(chunks(targets, BATCH)):
                self.job.staging.put(TARGET_PAGES, number, {"ids": list(chunk)})
            self.checkpoint.target_pages = math.ceil(len(targets) / BATCH)
            self.job.next_phase("score")
            return targets
        if self.checkpoint.phase == "score":
            pages = self.job.staging.pages(TARGET_PAGES, self.checkpoint.target_pages)
            return [company_id for document in pages for company_id in document.get("ids", [])]
        return []

    def _due(self) -> set[str]:
        """Companies whose review day has come (the first of a month, for those whose period revenue rolls
        over), and those the ledger kept before it kept the revenue values; all of them when as_of went back
        before the last run's."""
        everything = self.job.as_of < self.meta.last_as_of
        today = self.job.as_of.toordinal()
        due: set[str] = set()
        for company_id, document in self.job.state.iter_documents(self.ledger.collection):
            company = self.ledger.companies.get(company_id)
            review = company.review if company is not None else document.get("n")
            before_revenue = company is None and REVENUE_KEYS[0] not in document
            if everything or before_revenue or (review is not None and int(review) <= today):
                due.add(company_id)
        for company_id, company in self.ledger.companies.items():  # a dry run's companies not in the ledger yet
            if everything or (company.review is not None and company.review <= today):
                due.add(company_id)
        self.checkpoint.count("due_by_review_day", len(due))
        return due

    def _finish(self) -> None:
        job = self.job
        if not job.dry_run:
            LedgerMeta(self.meta.generation, self.meta.shards, self.checkpoint.started_at, job.as_of).save(job.state)
            job.finish()
