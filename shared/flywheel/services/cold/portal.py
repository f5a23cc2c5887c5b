"""Reading the portal for a cold_segment run: companies, open sales deals, Wake Up deals, recent orders."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flywheel.domain import segments
from flywheel.domain.models import Company, CrmRecord
from flywheel.ports import Filter
from flywheel.services.cold.names import SETTLE_DAYS
from flywheel.services.context import Ports
from flywheel.services.mapping import (
    company_properties,
    parse_date,
    parse_instant,
    to_company,
)
from flywheel.services.orders import ORDER_PROPERTIES, as_order
from flywheel.services.reads import associated_records


@dataclasses.dataclass
class Portal:
    """What one run read: companies by id (with the effective last order), and the Wake Up deals by company."""

    companies: dict[str, Company]
    open_sales_companies: set[str]
    wakeup_by_company: dict[str, list[segments.WakeupDeal]]
    open_wakeup: list[segments.WakeupDeal]
    # (deal id, flywheel_key) of Wake Up deals this function created in the last days, to settle their keys
    recently_created: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    # Wake Up deals this function created on as_of (by earlier runs of the day): they use up its allowance
    created_on_as_of: int = 0


def wakeup_deal_properties(ports: Ports) -> list[str]:
    contract, schema = ports.settings.portal, ports.schema
    new_stage = schema.wakeup_stage(contract.wakeup_stage_new)
    return [
        "dealname",
        "pipeline",
        "dealstage",
        "createdate",
        f"hs_date_entered_{new_stage.id}",
        contract.wakeup_appointment_at,
        contract.wakeup_appointment_kind,
        contract.wakeup_notes,
        contract.flywheel_key,
    ]


def to_wakeup_deal(record: CrmRecord, company_id: str | None, ports: Ports) -> segments.WakeupDeal | None:
    schema, contract, zone = ports.schema, ports.settings.portal, ports.settings.timezone
    stage = schema.stage(schema.wakeup_pipeline.id, record.prop("dealstage") or "")
    if stage is None:
        return None
    new_stage = schema.wakeup_stage(contract.wakeup_stage_new)
    return segments.WakeupDeal(
        id=record.id,
        company_id=company_id,
        stage_label=stage.label,
        is_closed=stage.is_closed,
        created_on=parse_date(record.prop("createdate"), zone),
        in_stage_since=parse_date(record.prop(f"hs_date_entered_{new_stage.id}"), zone),
        appointment_at=parse_instant(record.prop(contract.wakeup_appointment_at)),
        appointment_kind=record.prop(contract.wakeup_appointment_kind),
        notes=record.prop(contract.wakeup_notes),
        name=record.prop("dealname"),
    )


def first_companies(ports: Ports, object_type: str, ids: Sequence[str]) -> dict[str, str]:
    """The (first) company of each record, by one batched associations read."""
    if not ids:
        return {}
    linked = ports.crm.associated_ids(object_type, "companies", list(ids))
    return {record_id: companies[0] for record_id, companies in linked.items() if companies}


def search_all(ports: Ports, object_type: str, filters: Sequence[Filter], properties: Sequence[str]) -> list[CrmRecord]:
    return [record for page in ports.crm.search_pages(object_type, filters, properties) for record in page.records]


def open_sales_deal_companies(ports: Ports) -> set[str]:
    schema = ports.schema
    order_pipelines = [p for p in schema.deal_pipelines if p.id in schema.order_pipeline_ids]
    open_stage_ids = sorted({s.id for p in order_pipelines for s in p.stages if not s.is_closed})
    if not open_stage_ids:
        return set()
    filters = [
        Filter("pipeline", "IN", values=tuple(sorted(schema.order_pipeline_ids))),
        Filter("dealstage", "IN", values=tuple(open_stage_ids)),
    ]
    records = search_all(ports, "deals", filters, ["pipeline", "dealstage"])
    # stage ids may repeat across pipelines: keep the deals whose own pipeline calls the stage open
    open_ids = [
        r.id
        for r in records
        if (stage := schema.stage(r.prop("pipeline") or "", r.prop("dealstage") or "")) and not stage.is_closed
    ]
    return set(first_companies(ports, "deals", open_ids).values())


def recent_orders(ports: Ports, as_of: date) -> dict[str, date]:
    """The latest order date per company among orders closed in the last few days, straight from the deals:
    `last_purchase_date` is refreshed by sirank_recalc and may not show today's order yet."""
    schema, zone = ports.schema, ports.settings.timezone
    won_stage_ids = schema.order_won_stage_ids()
    if not won_stage_ids:
        return {}
    since = datetime.combine(as_of - timedelta(days=ports.settings.cold.recent_order_days), time(0), ZoneInfo(zone))
    filters = [
        Filter("pipeline", "IN", values=tuple(sorted(schema.order_pipeline_ids))),
        Filter("dealstage", "IN", values=tuple(sorted(won_stage_ids))),
        Filter("closedate", "GTE", value=str(int(since.timestamp() * 1000))),
    ]
    found = (as_order(r, schema, zone) for r in search_all(ports, "deals", filters, ORDER_PROPERTIES))
    orders = [order for order in found if order is not None]
    company_of = first_companies(ports, "deals", [order.deal_id for order in orders])
    latest: dict[str, date] = {}
    for order in orders:
        company_id = company_of.get(order.deal_id)
        if company_id is None or order.day > as_of:
            continue
        latest[company_id] = max(order.day, latest.get(company_id, order.day))
    return latest


def read_portal(ports: Ports, as_of: date) -> Portal:
    contract = ports.settings.portal
    ports.progress("cold_segment: reading companies")
    companies: dict[str, Company] = {}
    properties = [*company_properties(contract), ports.settings.cold.eligible_property]
    for page in ports.crm.list_pages("companies", properties):
        for record in page.records:
            companies[record.id] = to_company(record, contract)
    ports.progress(f"cold_segment: {len(companies)} companies read; reading deals")
    open_sales = open_sales_deal_companies(ports)

    wakeup_records = search_all(
        ports,
        "deals",
        [Filter("pipeline", "EQ", value=ports.schema.wakeup_pipeline.id)],
        wakeup_deal_properties(ports),
    )
    wakeup_company = first_companies(ports, "deals", [r.id for r in wakeup_records])
    by_company: dict[str, list[segments.WakeupDeal]] = defaultdict(list)
    open_wakeup: list[segments.WakeupDeal] = []
    recently_created: list[tuple[str, str]] = []
    created_on_as_of = 0
    settle_since = as_of - timedelta(days=SETTLE_DAYS)
    for record in wakeup_records:
        deal = to_wakeup_deal(record, wakeup_company.get(record.id), ports)
        if deal is None:
            continue
        key = record.prop(contract.flywheel_key)
        ours = bool(key and key.startswith(f"{segments.KEY_PREFIX}:"))
        if key and ours and (deal.created_on or as_of) >= settle_since:
            recently_created.append((record.id, key))
        created_on_as_of += ours and deal.created_on == as_of
        if deal.company_id is not None:
            by_company[deal.company_id].append(deal)
        if not deal.is_closed:
            open_wakeup.append(deal)

    # the effective last order: the company property, or a newer order found among the recent deals
    for company_id, day in recent_orders(ports, as_of).items():
        company = companies.get(company_id)
        if company is not None and (company.last_purchase_date is None or day > company.last_purchase_date):
            companies[company_id] = dataclasses.replace(company, last_purchase_date=day)
    return Portal(companies, open_sales, dict(by_company), open_wakeup, recently_created, created_on_as_of)


def orders_of(ports: Ports, company_ids: Iterable[str]) -> dict[str, list[tuple[date, float]]]:
    """(order date, amount) of every order of the companies, for their R12: associations, then batch reads."""
    ids = sorted(set(company_ids))
    if not ids:
        return {}
    deals = associated_records(ports, "companies", "deals", ids, ORDER_PROPERTIES)
    orders: dict[str, list[tuple[date, float]]] = {}
    for company_id in ids:
        read = (as_order(record, ports.schema, ports.settings.timezone) for record in deals[company_id])
        orders[company_id] = [(order.day, order.value or 0.0) for order in read if order is not None]
    return orders
