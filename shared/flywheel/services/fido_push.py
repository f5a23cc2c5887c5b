"""fido_push: each Monday, one task per owner listing their customers with unused credit (fido) to push.

One weekly run: a search for the companies with `available_credit` at or above the threshold (pages of 200),
then, for those left after the category and owner checks, their deals (associations, then a batch read) to
leave out the ones the Wake Up pipeline or an open order is already working. It decides with
`flywheel.domain.fido` and creates the digests through the EffectExecutor, once per owner per ISO week.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Any

from flywheel.domain import fido as rules_of
from flywheel.domain.models import Company, CreateTask, ExecutionReport, RunRequest, RunResult
from flywheel.ports import Filter
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from flywheel.services.mapping import company_properties, to_company
from flywheel.services.reads import associated_records

FUNCTION = "fido_push"
# summary counts that add up over runs (the demo and reports total them); the others describe one run
SUMMARY_TOTALS = ("digests_created",)


class Request(RunRequest):
    """`{"as_of"?, "dry_run"?}`: the weekly run needs nothing more."""


@dataclasses.dataclass
class _Plan:
    actions: list[CreateTask] = dataclasses.field(default_factory=list)
    candidates: int = 0
    excluded: Counter[str] = dataclasses.field(default_factory=Counter)
    already_done: int = 0
    listed: dict[str, list[Company]] = dataclasses.field(default_factory=dict)


def _candidates(ports: Ports) -> list[Company]:
    contract, rules = ports.settings.portal, ports.settings.fido
    filters = [Filter(contract.available_credit, "GTE", value=str(rules.min_available_credit))]
    return [
        to_company(record, contract)
        for page in ports.crm.search_pages("companies", filters, company_properties(contract))
        for record in page.records
    ]


def _working_deals(ports: Ports, company_ids: list[str]) -> tuple[set[str], set[str]]:
    """The companies with an open Wake Up deal, and those with an open deal in an order pipeline."""
    schema = ports.schema
    deals = associated_records(ports, "companies", "deals", company_ids, ["pipeline", "dealstage"])
    wakeup, ordering = set(), set()
    for company_id, records in deals.items():
        for record in records:
            pipeline = record.prop("pipeline") or ""
            stage = schema.stage(pipeline, record.prop("dealstage") or "")
            if stage is None or stage.is_closed:
                continue
            if pipeline == schema.wakeup_pipeline.id:
                wakeup.add(company_id)
            elif pipeline in schema.order_pipeline_ids:
                ordering.add(company_id)
    return wakeup, ordering


def _plan(ports: Ports, as_of: date) -> _Plan:
    rules, excluded_categories = ports.settings.fido, ports.settings.cold.excluded_categories
    plan = _Plan()
    found = _candidates(ports)
    plan.candidates = len(found)
    # search lags writes: the threshold, owner and category are checked on the values read
    first_pass = []
    for company in found:
        reason = rules_of.exclusion(
            company, rules, excluded_categories=excluded_categories, has_open_wakeup=False, has_open_order_deal=False
        )
        if reason is None:
            first_pass.append(company)
        else:
            plan.excluded[reason] += 1
    wakeup, ordering = _working_deals(ports, [c.id for c in first_pass])
    listed = []
    for company in first_pass:
        reason = rules_of.exclusion(
            company,
            rules,
            excluded_categories=excluded_categories,
            has_open_wakeup=company.id in wakeup,
            has_open_order_deal=company.id in ordering,
        )
        if reason is None:
            listed.append(company)
        else:
            plan.excluded[reason] += 1
    digests = rules_of.by_owner(listed, rules)
    for owner_id, companies in digests.items():
        found_key = ports.state.lookup(rules_of.digest_key(owner_id, as_of))
        if found_key is not None and found_key.status == "done":
            plan.already_done += 1  # this week's digest exists: the week's list stays as it was sent
            continue
        calendar = ports.settings.calendar.business_calendar()
        plan.actions.append(
            rules_of.digest_task(owner_id, companies, as_of, timezone=ports.settings.timezone, calendar=calendar)
        )
        plan.listed[owner_id] = companies
    return plan


def _summary(plan: _Plan, report: ExecutionReport | None, dry_run: bool, crm_calls: int) -> dict[str, Any]:
    done: Mapping[str, int] = report.outcomes if report else {}
    if dry_run or report is None:
        created_owners = set(plan.listed)
    else:
        created_owners = {a.owner_id or "" for a in plan.actions if "id" in (report.results.get(a.key) or {})}
    companies = [c for owner, listed in plan.listed.items() if owner in created_owners for c in listed]
    return {
        "candidates": plan.candidates,
        "excluded": {reason: plan.excluded.get(reason, 0) for reason in rules_of.EXCLUSION_REASONS},
        "owners": len(plan.listed) + plan.already_done,
        "digests_created": len(plan.actions) if dry_run else done.get("created:create_task", 0),
        "already_sent": plan.already_done,
        "companies_listed": len(companies),
        "credit_listed": rules_of.credit_listed(companies),
        "effects": report.as_dict() if report else {},
        "crm_calls": crm_calls,
    }


def run(request: Request, ports: Ports) -> RunResult:
    as_of = request.as_of or ports.clock.today()
    calls_before = ports.crm.calls_made
    ports.progress(f"{FUNCTION}: searching companies with available credit")
    plan = _plan(ports, as_of)
    report: ExecutionReport | None = None
    if not request.dry_run:
        report = EffectExecutor(ports).execute(list(plan.actions)) if plan.actions else ExecutionReport()
    summary = _summary(plan, report, request.dry_run, ports.crm.calls_made - calls_before)
    ports.progress(
        f"{FUNCTION}: {summary['digests_created']} digests, {summary['companies_listed']} companies, "
        f"{summary['credit_listed']:.2f} EUR of credit"
    )
    return RunResult(
        function=FUNCTION,
        as_of=as_of,
        dry_run=request.dry_run,
        actions=list(plan.actions),
        summary=summary,
        report=report or ExecutionReport(),
    )
