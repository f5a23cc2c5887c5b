"""The report: read the portal and the state store once, compute every definition of domain.report, return JSON.

HubSpot reads (issue 13: never one call per company):
- the portal schema (deal pipelines, owners): 2 calls, once per instance;
- every company, 100 a list page (name, owner, province, available credit, D&P level);
- every deal, 100 a list page, with its company association: the orders (closed-won in an order pipeline, read as
  services/orders.py reads them) and the open Wake Up deals, in one pass;
- the line items of the products period's orders: their ids by the associations batch read (100 deals a call),
  then the items by batch read (100 a call).
State store: the touches (services/report/touches.py) and the nurture enrolments (the active ones by one range
query, the ended ones of the companies the nurture flow has emailed, one query each).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from flywheel.config import ReportRules, SirankRules
from flywheel.domain import report as rules_of
from flywheel.domain.models import Owner
from flywheel.domain.sirank import is_dp_member
from flywheel.errors import BadInput
from flywheel.services.context import Ports
from flywheel.services.mapping import parse_number
from flywheel.services.orders import ORDER_PROPERTIES, as_order
from flywheel.services.report import touches as touch_store

# the kind of services.nurture's sequences (not imported: nurture imports the effect executor, which imports us)
NURTURE_KIND = "nurture"
LINE_ITEM_PROPERTIES = ("name", "hs_sku", "quantity", "price", "amount")
DEAL_PROPERTIES = tuple(dict.fromkeys((*ORDER_PROPERTIES, "dealname")))


@dataclass
class _Company:
    name: str
    owner_id: str | None
    province: str | None
    credit: float | None
    dp: bool
    days: array[int] = field(default_factory=lambda: array("i"))
    cents: array[int] = field(default_factory=lambda: array("q"))


@dataclass(frozen=True, slots=True)
class _PeriodOrder:
    deal_id: str
    company_id: str
    day: date


@dataclass
class _Portal:
    companies: dict[str, _Company] = field(default_factory=dict)
    period_orders: list[_PeriodOrder] = field(default_factory=list)
    wakeup_open: dict[str, int] = field(default_factory=dict)  # stage id -> open deals


def owner_id_of(ports: Ports, email: str | None) -> str | None:
    """The HubSpot owner id of `email` (any case); BadInput when no owner has it."""
    if email is None:
        return None
    wanted = email.strip().casefold()
    for owner in ports.schema.owners:
        if owner.email.strip().casefold() == wanted:
            return owner.id
    raise BadInput(f"no HubSpot owner with email {email!r}")


def build_report(ports: Ports, as_of: date, owner: str | None = None) -> dict[str, Any]:
    """The report at as_of, of every company or of those `owner` (an owner's email) owns, as plain JSON types."""
    settings = ports.settings
    rules, sirank_rules = settings.report, settings.sirank
    owner_id = owner_id_of(ports, owner)
    period = rules_of.products_period(as_of, rules)
    portal = _read_portal(ports, owner_id, period)
    companies = _company_facts(portal)
    owners = {o.id: o for o in ports.schema.owners}
    rows, kpis = _overview(companies, owners, as_of, rules, sirank_rules)
    scope = {c.id for c in companies}
    first_month = rules_of.report_months(as_of, rules.months)[0]
    # a touch counts for an order up to the attribution window before it, so read that far before the first month
    since = first_month - timedelta(days=rules.attribution_window_days)
    touches = touch_store.read(ports.state, scope, since)
    return {
        "as_of": as_of.isoformat(),
        "owner": owners[owner_id].email if owner_id else None,
        "owners": _owners_of(companies, owners),
        "kpis": kpis,
        "months": rules_of.month_rows(companies, as_of, rules, sirank_rules),
        "companies": rows,
        "silent_30": [c.id for c in companies if rules_of.is_silent(c, as_of, rules)],
        "credit_available": [c.id for c in companies if rules_of.has_credit(c)],
        "revenue_by_province": rules_of.revenue_by_province(companies, as_of),
        "products_sold": _products_sold(ports, portal.period_orders, {c.id: c for c in companies}),
        "products_period": {"from": period[0].isoformat(), "to": period[1].isoformat()},
        "attribution": rules_of.attribution(
            _orders_between(companies, first_month, as_of), touches, rules.attribution_window_days
        ),
        "nurture_funnel": rules_of.nurture_funnel(_nurture_sequences(ports, scope)),
        "wakeup_pipeline": _wakeup_pipeline(ports, portal.wakeup_open),
    }


# --- report sections -------------------------------------------------------------------------------------------


def _company_facts(portal: _Portal) -> list[rules_of.CompanyFacts]:
    """The companies read, in id order with their orders sorted by day, as the domain's facts."""
    companies = [
        rules_of.CompanyFacts(
            id=company_id,
            name=c.name,
            owner_id=c.owner_id,
            province=c.province,
            available_credit=c.credit,
            dp_member=c.dp,
            days=c.days,
            cents=c.cents,
        )
        for company_id, c in _sorted_orders(portal.companies)
    ]
    portal.companies.clear()
    return companies


def _overview(
    companies: Sequence[rules_of.CompanyFacts],
    owners: dict[str, Owner],
    as_of: date,
    rules: ReportRules,
    sirank_rules: SirankRules,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each company's overview row, and the KPIs that add them up."""
    rows = []
    equity_sirank = equity_cents = active = 0
    for company in companies:
        row = rules_of.overview(company, as_of, sirank_rules)
        row["owner_email"] = _email(owners.get(company.owner_id or ""))
        rows.append(row)
        equity_sirank += row["sirank"]
        # summed in whole cents, so the total does not drift with float additions
        equity_cents += round(row["r12"] * 100)
        active += rules_of.is_active(company, as_of, rules.active_window_days)
    kpis = {
        "active_customers": active,
        "customer_equity_sirank": equity_sirank,
        "customer_equity_r12": rules_of.money(equity_cents),
    }
    return rows, kpis


def _owners_of(companies: Iterable[rules_of.CompanyFacts], owners: dict[str, Owner]) -> list[dict[str, Any]]:
    """The owners of the companies in the report, by name."""
    return [
        {"id": o.id, "email": o.email, "name": o.full_name}
        for o in sorted(
            (owners[i] for i in {c.owner_id for c in companies if c.owner_id in owners}),
            key=lambda o: (o.full_name.casefold(), o.id),
        )
    ]


def _wakeup_pipeline(ports: Ports, open_deals: dict[str, int]) -> list[dict[str, Any]]:
    """The open deals of each open stage of the Wake Up pipeline, empty stages included."""
    return [
        {"stage_id": s.id, "label": s.label, "deals": open_deals.get(s.id, 0)}
        for s in ports.schema.wakeup_pipeline.stages
        if not s.is_closed
    ]


# --- HubSpot reads ---------------------------------------------------------------------------------------------


def _read_portal(ports: Ports, owner_id: str | None, period: tuple[date, date]) -> _Portal:
    contract, schema, timezone = ports.settings.portal, ports.schema, ports.settings.timezone
    portal = _Portal()
    properties = [
        contract.company_name,
        "hubspot_owner_id",
        contract.province,
        contract.available_credit,
        contract.dp_level,
    ]
    for page in ports.crm.list_pages("companies", properties):
        for record in page.records:
            owner = record.prop("hubspot_owner_id")
            if owner_id is not None and owner != owner_id:
                continue
            portal.companies[record.id] = _Company(
                name=record.prop(contract.company_name) or "",
                owner_id=owner,
                province=record.prop(contract.province),
                credit=parse_number(record.prop(contract.available_credit)),
                dp=is_dp_member(record.prop(contract.dp_level)),
            )
    wakeup = schema.wakeup_pipeline
    first, last = period
    for page in ports.crm.list_pages("deals", DEAL_PROPERTIES, associations=["companies"]):
        for record in page.records:
            linked = record.associations.get("companies", ())
            company_id = min(linked, key=_by_id) if linked else None
            if record.prop("pipeline") == wakeup.id:
                stage = wakeup.stage(record.prop("dealstage") or "")
                if stage is not None and not stage.is_closed and (owner_id is None or company_id in portal.companies):
                    portal.wakeup_open[stage.id] = portal.wakeup_open.get(stage.id, 0) + 1
                continue
            company = portal.companies.get(company_id or "")
            order = as_order(record, schema, timezone)
            if order is None or company is None or company_id is None:
                continue
            company.days.append(order.day.toordinal())
            company.cents.append(order.cents)
            if first <= order.day <= last:
                portal.period_orders.append(_PeriodOrder(order.deal_id, company_id, order.day))
    return portal


def _products_sold(
    ports: Ports, orders: Sequence[_PeriodOrder], companies: dict[str, rules_of.CompanyFacts]
) -> list[dict[str, Any]]:
    if not orders:
        return []
    by_deal = {o.deal_id: o for o in orders}
    lines_of = ports.crm.associated_ids("deals", "line_items", list(by_deal))
    line_ids = list(dict.fromkeys(i for ids in lines_of.values() for i in ids))
    lines = {r.id: r for r in ports.crm.read_batch("line_items", line_ids, LINE_ITEM_PROPERTIES)} if line_ids else {}
    sold = []
    for deal_id, ids in lines_of.items():
        order = by_deal.get(deal_id)
        if order is None:
            continue
        company = companies[order.company_id]
        for line_id in ids:
            line = lines.get(line_id)
            if line is None:
                continue
            price = parse_number(line.prop("price"))
            sold.append(
                {
                    "product": line.prop("name") or line.prop("hs_sku") or "",
                    "quantity": parse_number(line.prop("quantity")) or 0.0,
                    "unit_price": None if price is None else round(price, 2),
                    "company_id": company.id,
                    "company": company.name,
                    "owner_id": company.owner_id,
                    "order_date": order.day.isoformat(),
                }
            )
    sold.sort(key=lambda s: (s["order_date"], s["company_id"], s["product"]))
    return sold


# --- state-store reads -----------------------------------------------------------------------------------------


def _nurture_sequences(ports: Ports, scope: set[str]) -> Iterable[tuple[int, str]]:
    """(last step sent, status) of every nurture enrolment on record, active or ended, of the companies in scope."""
    return [
        (record.step, record.status) for record in ports.state.sequences(NURTURE_KIND) if record.company_id in scope
    ]


# --- helpers ---------------------------------------------------------------------------------------------------


def _sorted_orders(companies: dict[str, _Company]) -> Iterable[tuple[str, _Company]]:
    """Companies in id order, each one's orders sorted by day (deals are listed in id order, not by date)."""
    for company_id in sorted(companies, key=_by_id):
        company = companies[company_id]
        if any(company.days[k] > company.days[k + 1] for k in range(len(company.days) - 1)):
            pairs = sorted(zip(company.days, company.cents, strict=True))
            company.days = array("i", (d for d, _ in pairs))
            company.cents = array("q", (c for _, c in pairs))
        yield company_id, company


def _orders_between(companies: Iterable[rules_of.CompanyFacts], first: date, last: date) -> Iterable[rules_of.OrderRef]:
    lo, hi = first.toordinal(), last.toordinal()
    for company in companies:
        for day, cents in zip(company.days, company.cents, strict=True):
            if lo <= day <= hi:
                yield rules_of.OrderRef(company.id, date.fromordinal(day), cents)


def _email(owner: Owner | None) -> str | None:
    return owner.email if owner else None


def _by_id(record_id: str) -> tuple[int, str]:
    # the company that owns a deal associated with several: the lowest id, as sirank_recalc chooses it
    return (int(record_id), "") if record_id.isdigit() else (0, record_id)
