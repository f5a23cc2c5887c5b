"""Whom a run looks at: the running sequences, with their companies re-read, and the companies whose last order
entered the enrolment window.

Running sequences come from the state store by due date, never from a scan of all companies; new ones come
from one HubSpot search on `last_purchase_date`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

from flywheel.config import PortalContract
from flywheel.domain import nurture as rules_of
from flywheel.domain.models import Company
from flywheel.domain.nurture import Enrolment
from flywheel.ports import Filter
from flywheel.services.mapping import company_properties, to_company
from flywheel.services.nurture.names import KIND
from flywheel.services.nurture.plan import DailyRun, Plan
from flywheel.services.nurture.records import from_record

# every active record is due within one step interval; this horizon reads them all with the due-date query
_ACTIVE_HORIZON = timedelta(days=3660)


def running_sequences(daily: DailyRun) -> dict[str, Enrolment]:
    records = daily.ports.state.due_sequences(KIND, daily.as_of + _ACTIVE_HORIZON)
    return {e.id: e for e in map(from_record, records)}


def running_plans(daily: DailyRun, active: Mapping[str, Enrolment]) -> tuple[list[Plan], list[Plan]]:
    """The plans of the running sequences, and apart those whose company is gone: a company deleted or merged
    away in HubSpot ends its sequence here, and nothing is sent or written to it."""
    companies = read_companies(daily, {e.company_id for e in active.values()})
    plans = [Plan(e, is_new=False, company=companies.get(e.company_id)) for e in active.values()]
    gone = [p for p in plans if p.company is None]
    for plan in gone:
        plan.outcome = rules_of.end_for_missing_company(plan.enrolment, daily.as_of)
    return [p for p in plans if p.company is not None], gone


def read_companies(daily: DailyRun, ids: Iterable[str]) -> dict[str, Company]:
    wanted = sorted(ids)
    if not wanted:
        return {}
    records = daily.ports.crm.read_batch("companies", wanted, nurture_company_properties(daily.contract))
    return {r.id: to_company(r, daily.contract) for r in records}


def nurture_company_properties(contract: PortalContract) -> list[str]:
    return [*company_properties(contract), contract.nurture_step, contract.nurture_status]


def new_enrolments(daily: DailyRun, active: Mapping[str, Enrolment]) -> list[Plan]:
    """Companies whose last order entered the window, once per spell (a record of any status blocks)."""
    plans: list[Plan] = []
    properties = nurture_company_properties(daily.contract)
    for page in daily.ports.crm.search_pages("companies", _window_filters(daily), properties):
        for record in page.records:
            company = to_company(record, daily.contract)
            spell = company.last_purchase_date
            if spell is None or not rules_of.is_enrollable(spell, daily.as_of, daily.rules, backfill=daily.backfill):
                continue  # search lags writes: trust the value read, not the filter
            sequence_id = rules_of.sequence_id(company.id, spell)
            if sequence_id in active or daily.ports.state.get_sequence(KIND, sequence_id) is not None:
                continue
            plans.append(Plan(rules_of.enrol(company.id, spell, daily.as_of), is_new=True, company=company))
    return plans


def _window_filters(daily: DailyRun) -> list[Filter]:
    earliest, latest = rules_of.enrolment_bounds(daily.as_of, daily.rules, backfill=daily.backfill)
    name = daily.contract.last_purchase_date
    if earliest is None:
        return [Filter(name, "LTE", latest.isoformat())]
    return [Filter(name, "BETWEEN", earliest.isoformat(), high_value=latest.isoformat())]
