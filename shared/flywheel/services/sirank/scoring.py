"""Scoring and writing, for both modes: each target company scored from its ledger state, the values that differ
from what HubSpot holds sent in full batch updates of 100 changed companies, and the ledger kept in step.

The checkpoint is the position after the last company of the last batch sent: every company before it is
scored, written if needed, and in the ledger; none after it was written, except the batch in flight when a run
stopped, whose companies are read back from HubSpot before anything is decided about them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flywheel.domain.models import CrmRecord, UpdateCompany
from flywheel.domain.period_revenue import CENT, PeriodRevenue, money, next_change, period_revenue
from flywheel.domain.sirank import next_review, score
from flywheel.services.mapping import parse_date, parse_number
from flywheel.services.sirank.checkpoint import SCORE_PAGES
from flywheel.services.sirank.ids import chunks
from flywheel.services.sirank.job import FUNCTION, PROGRESS_EVERY, Job
from flywheel.services.sirank.ledger import STATE_CHUNK, CompanyState

BATCH = 100  # companies per batch update, and per page of targets loaded

# the companies of a page of targets, by id, in the state the ledger (or a full run's listing) has them
States = Callable[[list[str]], Mapping[str, CompanyState]]


def update_company(company_id: str, as_of: date, changes: Mapping[str, str]) -> UpdateCompany:
    """The one place sirank_recalc builds its action: these values of this company, once per as_of."""
    return UpdateCompany(
        company_id=company_id,
        key=f"{FUNCTION}:{company_id}:{as_of.isoformat()}",
        properties=dict(changes),
    )


@dataclass(frozen=True, slots=True)
class Scored:
    company_id: str
    company: CompanyState
    sirank: int
    changes: dict[str, str]  # property -> new value, only where HubSpot holds something else


class Scoring:
    def __init__(self, job: Job, ledger: str, states: States, on_done: Callable[[list[str]], None] | None = None):
        self.job = job
        self.ledger = ledger
        self.states = states
        self.on_done = on_done  # told the ids of every batch finished
        self.scored: list[Scored] = []  # since the last batch went out
        self.changed = 0  # of those

    def score_all(self, targets: Sequence[str]) -> None:
        """Score the targets from the checkpoint's position on, in order."""
        read_back = self._read_back_in_flight()
        start = self.job.checkpoint.score_position
        for page_number, page_start in enumerate(range(start, len(targets), BATCH)):
            ids = list(targets[page_start : page_start + BATCH])
            companies = self.states(ids)
            for company_id in ids:
                company = companies[company_id]
                if company_id in read_back:
                    company.set_hubspot_values(read_back[company_id], self.job.value_names)
                self._score(company_id, company)
            if (page_number + 1) % PROGRESS_EVERY == 0:
                self.job.ports.progress(f"sirank: {page_start + len(ids)} of {len(targets)} companies scored")
        if self.scored:
            self._flush()

    def _read_back_in_flight(self) -> dict[str, CrmRecord]:
        """What HubSpot holds now for the batch sent just before a stop: it may or may not have been applied."""
        in_flight = self.job.checkpoint.in_flight
        if not in_flight:
            return {}
        return {r.id: r for r in self.job.crm.read_batch("companies", in_flight, list(self.job.value_names))}

    def _score(self, company_id: str, company: CompanyState) -> None:
        changes, sirank = self._decide(company)
        self.scored.append(Scored(company_id, company, sirank, changes))
        if changes:
            self.changed += 1
            if self.changed == BATCH:
                self._flush()

    def _decide(self, company: CompanyState) -> tuple[dict[str, str], int]:
        """The company's values as of the run, those that differ from HubSpot's, and its next review day."""
        job = self.job
        facts = company.order_facts()
        result = score(facts, company.dp, job.as_of, job.rules)
        # the first day SiRank, the segment or the period revenue may change by itself
        candidates = (next_review(facts, company.dp, job.as_of, job.rules), next_change(facts, job.as_of))
        reviews = [day for day in candidates if day is not None]
        company.review = min(reviews).toordinal() if reviews else None
        changes: dict[str, str] = {}
        held_sirank = parse_number(company.hs_sirank)
        if held_sirank is None or round(held_sirank) != result.sirank:
            changes[job.contract.sirank] = str(result.sirank)
        last = result.last_purchase_date
        if parse_date(company.hs_last, job.timezone) != last or (last is None and company.hs_last):
            changes[job.contract.last_purchase_date] = "" if last is None else last.isoformat()
        if company.hs_segment != result.retention_segment:
            changes[job.contract.retention_segment] = result.retention_segment
        revenue = period_revenue(facts, job.as_of)
        names = job.value_names[3:]
        for name, held, amount in zip(names, company.hs_revenue, _figures(revenue), strict=True):
            if _held_amount(held) != amount:
                changes[name] = money(amount)
        return changes, result.sirank

    # --- one batch finished -------------------------------------------------------------------------------------

    def _flush(self) -> None:
        pending = [s for s in self.scored if s.changes]
        if not self.job.dry_run:
            gone = self._write(pending)
            self._keep_in_ledger(gone)
            self._stage_scores()
        self._account(pending)
        checkpoint = self.job.checkpoint
        checkpoint.score_position += len(self.scored)
        checkpoint.in_flight = None
        self.job.save()
        if self.on_done is not None:
            self.on_done([s.company_id for s in self.scored])
        self.scored = []
        self.changed = 0

    def _write(self, pending: Sequence[Scored]) -> set[str]:
        """One batch update, marked in flight first; the ids HubSpot no longer has.

        A company deleted meanwhile leaves the ledger; one refused for another reason is counted (the adapter
        logs HubSpot's reason) and not remembered as written, so that the next run tries again. Neither stops
        the run."""
        if not pending:
            return set()
        self.job.checkpoint.in_flight = [s.company_id for s in pending]
        self.job.save()
        refusals = self.job.crm.update_batch("companies", [(s.company_id, s.changes) for s in pending])
        gone = {r.record_id for r in refusals if r.status == 404}
        refused = {r.record_id for r in refusals} - gone
        if refused:
            self.job.checkpoint.count("failed:update_company", len(refused))
        for s in pending:
            if s.company_id not in gone and s.company_id not in refused:
                self._remember_written(s.company, s.changes)
        return gone

    def _remember_written(self, company: CompanyState, changes: Mapping[str, str]) -> None:
        contract = self.job.contract
        if contract.sirank in changes:
            company.hs_sirank = changes[contract.sirank]
        if contract.last_purchase_date in changes:
            company.hs_last = changes[contract.last_purchase_date] or None
        if contract.retention_segment in changes:
            company.hs_segment = changes[contract.retention_segment]
        company.hs_mtd = changes.get(contract.revenue_mtd, company.hs_mtd)
        company.hs_prev = changes.get(contract.revenue_prev_month, company.hs_prev)
        company.hs_ytd = changes.get(contract.revenue_ytd, company.hs_ytd)

    def _keep_in_ledger(self, gone: set[str]) -> None:
        kept = {s.company_id: s.company.to_document() for s in self.scored if s.company_id not in gone}
        for chunk in chunks(list(kept), STATE_CHUNK):
            self.job.state.put_documents(self.ledger, {i: kept[i] for i in chunk})
        if gone:
            self.job.state.delete_documents(self.ledger, sorted(gone))

    def _stage_scores(self) -> None:
        checkpoint = self.job.checkpoint
        self.job.staging.put(SCORE_PAGES, checkpoint.score_pages, {"v": [s.sirank for s in self.scored]})
        checkpoint.score_pages += 1

    def _account(self, pending: Sequence[Scored]) -> None:
        job, checkpoint = self.job, self.job.checkpoint
        job.actions += [update_company(s.company_id, job.as_of, s.changes) for s in pending]
        job.scores.extend(s.sirank for s in self.scored)
        checkpoint.scored += len(self.scored)
        checkpoint.companies_changed += len(pending)
        for s in pending:
            for name in s.changes:
                checkpoint.values_changed[name] = checkpoint.values_changed.get(name, 0) + 1


def _figures(revenue: PeriodRevenue) -> tuple[Decimal, Decimal, Decimal]:
    """In the order of the job's value names."""
    return (revenue.month_to_date, revenue.previous_month, revenue.year_to_date)


def _held_amount(value: str | None) -> Decimal | None:
    """What HubSpot holds, to the cent; None when empty or not a number, which a write then repairs."""
    if value is None or not value.strip():
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        return None
    return amount.quantize(CENT, rounding=ROUND_HALF_UP) if amount.is_finite() else None
