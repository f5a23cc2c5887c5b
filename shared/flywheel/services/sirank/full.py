"""The full run: every company and every order listed from HubSpot (100 a page), every company scored, and a new
generation of the ledger and the deal index built and switched to.

Phases: companies (list, staged a page at a time) -> deals (list with their company association, orders staged
a page at a time) -> score -> finish (deal index, meta, the previous generation deleted). A resumed run reloads
the staged pages instead of listing them again.
"""

from __future__ import annotations

from flywheel.services.orders import ORDER_PROPERTIES
from flywheel.services.sirank.checkpoint import COMPANY_PAGES, DEAL_PAGES
from flywheel.services.sirank.deal_index import shard_count, write_index
from flywheel.services.sirank.ids import by_id, chunks
from flywheel.services.sirank.job import PROGRESS_EVERY, Job
from flywheel.services.sirank.ledger import REVENUE_KEYS, CompanyState, LedgerMeta, index_name, ledger_name
from flywheel.services.sirank.scoring import BATCH, Scoring


class FullRun:
    def __init__(self, job: Job) -> None:
        self.job = job
        self.checkpoint = job.checkpoint
        self.companies: dict[str, CompanyState] = {}
        self.pages: list[list[str]] = []  # company ids in the order HubSpot listed them, a page each

    def execute(self) -> None:
        if self.job.resumed:
            self._reload_staged()
        if self.checkpoint.phase == "companies":
            self._list_companies()
        if self.checkpoint.phase == "deals":
            self._list_deals()
        self._add_unlisted_companies()
        if self.checkpoint.phase == "score":
            self._score()
        self._switch_ledger()
        self.job.extra_summary["orders"] = sum(company.order_count for company in self.companies.values())

    # --- reading HubSpot ----------------------------------------------------------------------------------------

    def _list_companies(self) -> None:
        job = self.job
        for page in job.crm.list_pages("companies", job.company_properties, after=self.checkpoint.cursor):
            ids = [record.id for record in page.records]
            states = [job.company_state(record) for record in page.records]
            self.companies.update(zip(ids, states, strict=True))
            self.pages.append(ids)
            number = self.checkpoint.company_pages
            job.staging.put(COMPANY_PAGES, number, _company_page(ids, states))
            self.checkpoint.cursor = page.after
            self.checkpoint.company_pages = number + 1
            job.save()
            if (number + 1) % PROGRESS_EVERY == 0:
                job.ports.progress(f"sirank: {len(self.companies)} companies read")
        self.job.next_phase("deals")

    def _list_deals(self) -> None:
        job = self.job
        pages = job.crm.list_pages("deals", ORDER_PROPERTIES, associations=["companies"], after=self.checkpoint.cursor)
        for page in pages:
            staged: list[str] = []
            for record in page.records:
                order = job.order_of(record)
                linked = record.associations.get("companies", ())
                if order is None or not linked:
                    continue
                company_id = min(linked, key=by_id)
                self.companies.setdefault(company_id, CompanyState()).upsert_order(order)
                staged.append(f"{order.deal_id}:{company_id}:{order.day.toordinal()}:{order.cents}")
            number = self.checkpoint.deal_pages
            job.staging.put(DEAL_PAGES, number, {"o": ";".join(staged)})
            self.checkpoint.cursor = page.after
            self.checkpoint.deal_pages = number + 1
            job.save()
            if (number + 1) % PROGRESS_EVERY == 0:
                job.ports.progress(f"sirank: {(number + 1) * 100} deals read")
        self.job.next_phase("score")

    def _reload_staged(self) -> None:
        staging = self.job.staging
        for document in staging.pages(COMPANY_PAGES, self.checkpoint.company_pages):
            ids = list(document.get("ids", []))
            self.pages.append(ids)
            # a page staged before the revenue values were read has none of them: a write puts them right
            revenue = zip(*(document.get(key) or [None] * len(ids) for key in REVENUE_KEYS), strict=True)
            for company_id, dp, sirank, last, segment, held in zip(
                ids, document["dp"], document["s"], document["l"], document["r"], revenue, strict=True
            ):
                self.companies[company_id] = CompanyState(bool(dp), sirank, last, segment, hs_revenue=held)
        for document in staging.pages(DEAL_PAGES, self.checkpoint.deal_pages):
            for item in str(document.get("o") or "").split(";"):
                if item:
                    deal, company_id, day, cents = item.split(":")
                    self.companies.setdefault(company_id, CompanyState()).upsert(int(deal), int(day), int(cents))

    def _add_unlisted_companies(self) -> None:
        """Companies created while the deals were listed: their orders came in, their own page did not."""
        listed = {company_id for page in self.pages for company_id in page}
        unlisted = sorted((c for c in self.companies if c not in listed), key=by_id)
        self.pages += [list(chunk) for chunk in chunks(unlisted, BATCH)]

    # --- scoring and switching ------------------------------------------------------------------------------

    def _score(self) -> None:
        targets = [company_id for page in self.pages for company_id in page]
        ledger = ledger_name(self.checkpoint.generation)
        Scoring(self.job, ledger, lambda ids: {i: self.companies[i] for i in ids}).score_all(targets)
        self.job.next_phase("finish")

    def _switch_ledger(self) -> None:
        """The deal index, then the meta document that makes the new generation current, then the old one gone."""
        job, generation = self.job, self.checkpoint.generation
        if job.dry_run:
            return
        shards = shard_count(sum(company.order_count for company in self.companies.values()))
        write_index(job.state, index_name(generation), self.companies, shards)
        LedgerMeta(generation, shards, self.checkpoint.started_at, job.as_of).save(job.state)
        if generation > 1:
            # the ledger this run replaces (also when a stop came between switching and deleting)
            job.delete_collection(ledger_name(generation - 1))
            job.delete_collection(index_name(generation - 1))
        job.finish()


def _company_page(ids: list[str], states: list[CompanyState]) -> dict[str, list[object]]:
    return {
        "ids": list(ids),
        "dp": [s.dp for s in states],
        "s": [s.hs_sirank for s in states],
        "l": [s.hs_last for s in states],
        "r": [s.hs_segment for s in states],
        **{key: [s.hs_revenue[n] for s in states] for n, key in enumerate(REVENUE_KEYS)},
    }
