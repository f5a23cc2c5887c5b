"""cold_segment: the Wake Up pipeline for cold customers, recontact tasks for high-value ones gone quiet.

One daily run reads the portal in a handful of paged or batched calls:
  companies (list pages), open deals of the order pipelines (search), every Wake Up deal (search), orders of
  the last few days (search), then associations and batch reads only for the companies something happens to.
It decides with `flywheel.domain.segments` and acts through the EffectExecutor (exactly once per key).
The Wake Up webhook re-reads the deals it is told about and creates the owner's appointment task.

The Wake Up queue is not stored anywhere: every run rebuilds it from the portal (the cold companies without a
Wake Up deal for their quiet spell), takes today's allowance, the most valuable first, and reports the rest as
the backlog. What earlier runs of the same day created counts against the allowance (Wake Up deals carrying
this function's key and created on as_of), so a retried or repeated run never exceeds the daily pace.

State kept in the store (besides the executor's idempotency keys): one sequence record of kind
`cold_recontact` per company and quiet spell, the recontact series: step 1 (task 1 created, due for the
"no activity in 5 business days" check), step 2 (task 2 created, due for the "no activity in 10 days" check
that sends the reactivation email).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flywheel.domain import segments
from flywheel.domain.models import Action, Company, CrmRecord, ExecutionReport, RunRequest, RunResult
from flywheel.mail.consent import ConsentPolicy, may_email
from flywheel.ports import Filter, SequenceRecord
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from flywheel.services.mapping import (
    company_properties,
    parse_date,
    parse_instant,
    to_company,
)
from flywheel.services.orders import ORDER_PROPERTIES, as_order
from flywheel.services.portal import PortalSchema
from flywheel.services.reads import associated_records, contacts_of

FUNCTION = "cold_segment"
# summary counts that add up over runs (the demo and reports total them); the others describe one run
SUMMARY_TOTALS = (
    "deals_created",
    "deals_moved",
    "tasks_created",
    "emails_sent",
    "eligibility_changes",
    "recontact_series_started",
    "second_reminders",
)

RECONTACT_KIND = "cold_recontact"
# how far back Wake Up deals created by this function are checked against their idempotency keys
SETTLE_DAYS = 7
# engagements that count as the owner's activity on a company (tasks only once completed)
ACTIVITY_TYPES = ("calls", "emails", "meetings", "notes", "tasks")


class Request(RunRequest):
    """`{"as_of"?, "dry_run"?}`: the daily run needs nothing more."""


# --- reading the portal ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Portal:
    """What one run read: companies by id (with the effective last order), and the Wake Up deals by company."""

    companies: dict[str, Company]
    open_sales_companies: set[str]
    wakeup_by_company: dict[str, list[segments.WakeupDeal]]
    open_wakeup: list[segments.WakeupDeal]
    # (deal id, flywheel_key) of Wake Up deals this function created in the last days, to settle their keys
    recently_created: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    # Wake Up deals this function created on as_of (by earlier runs of the day): they use up its allowance
    created_on_as_of: int = 0


def _wakeup_deal_properties(ports: Ports) -> list[str]:
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


def _to_wakeup_deal(record: CrmRecord, company_id: str | None, ports: Ports) -> segments.WakeupDeal | None:
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


def _first_companies(ports: Ports, object_type: str, ids: Sequence[str]) -> dict[str, str]:
    """The (first) company of each record, by one batched associations read."""
    if not ids:
        return {}
    linked = ports.crm.associated_ids(object_type, "companies", list(ids))
    return {record_id: companies[0] for record_id, companies in linked.items() if companies}


def _search_all(
    ports: Ports, object_type: str, filters: Sequence[Filter], properties: Sequence[str]
) -> list[CrmRecord]:
    return [record for page in ports.crm.search_pages(object_type, filters, properties) for record in page.records]


def _open_sales_deal_companies(ports: Ports) -> set[str]:
    schema = ports.schema
    order_pipelines = [p for p in schema.deal_pipelines if p.id in schema.order_pipeline_ids]
    open_stage_ids = sorted({s.id for p in order_pipelines for s in p.stages if not s.is_closed})
    if not open_stage_ids:
        return set()
    filters = [
        Filter("pipeline", "IN", values=tuple(sorted(schema.order_pipeline_ids))),
        Filter("dealstage", "IN", values=tuple(open_stage_ids)),
    ]
    records = _search_all(ports, "deals", filters, ["pipeline", "dealstage"])
    # stage ids may repeat across pipelines: keep the deals whose own pipeline calls the stage open
    open_ids = [
        r.id
        for r in records
        if (stage := schema.stage(r.prop("pipeline") or "", r.prop("dealstage") or "")) and not stage.is_closed
    ]
    return set(_first_companies(ports, "deals", open_ids).values())


def _recent_orders(ports: Ports, as_of: date) -> dict[str, date]:
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
    found = (as_order(r, schema, zone) for r in _search_all(ports, "deals", filters, ORDER_PROPERTIES))
    orders = [order for order in found if order is not None]
    company_of = _first_companies(ports, "deals", [order.deal_id for order in orders])
    latest: dict[str, date] = {}
    for order in orders:
        company_id = company_of.get(order.deal_id)
        if company_id is None or order.day > as_of:
            continue
        latest[company_id] = max(order.day, latest.get(company_id, order.day))
    return latest


def _read_portal(ports: Ports, as_of: date) -> _Portal:
    contract = ports.settings.portal
    ports.progress("cold_segment: reading companies")
    companies: dict[str, Company] = {}
    properties = [*company_properties(contract), ports.settings.cold.eligible_property]
    for page in ports.crm.list_pages("companies", properties):
        for record in page.records:
            companies[record.id] = to_company(record, contract)
    ports.progress(f"cold_segment: {len(companies)} companies read; reading deals")
    open_sales = _open_sales_deal_companies(ports)

    wakeup_records = _search_all(
        ports,
        "deals",
        [Filter("pipeline", "EQ", value=ports.schema.wakeup_pipeline.id)],
        _wakeup_deal_properties(ports),
    )
    wakeup_company = _first_companies(ports, "deals", [r.id for r in wakeup_records])
    by_company: dict[str, list[segments.WakeupDeal]] = defaultdict(list)
    open_wakeup: list[segments.WakeupDeal] = []
    recently_created: list[tuple[str, str]] = []
    created_on_as_of = 0
    settle_since = as_of - timedelta(days=SETTLE_DAYS)
    for record in wakeup_records:
        deal = _to_wakeup_deal(record, wakeup_company.get(record.id), ports)
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
    for company_id, day in _recent_orders(ports, as_of).items():
        company = companies.get(company_id)
        if company is not None and (company.last_purchase_date is None or day > company.last_purchase_date):
            companies[company_id] = dataclasses.replace(company, last_purchase_date=day)
    return _Portal(companies, open_sales, dict(by_company), open_wakeup, recently_created, created_on_as_of)


def _orders_of(ports: Ports, company_ids: Iterable[str]) -> dict[str, list[tuple[date, float]]]:
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


# --- planning --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Plan:
    actions: list[Action] = dataclasses.field(default_factory=list)
    segment_size: int = 0
    excluded: Counter[str] = dataclasses.field(default_factory=Counter)
    recontact_candidates: int = 0
    eligible: int = 0
    queue: segments.WakeupQueue | None = None
    # company id -> (spell, task key) of the recontact tasks decided this run
    recontacts: dict[str, tuple[date, str]] = dataclasses.field(default_factory=dict)
    # company id -> task 2 key, for the series whose 5-business-day check found the owner silent
    second_reminders: dict[str, str] = dataclasses.field(default_factory=dict)
    # company id -> outcome of an activity check, and the email keys it produced
    checks: dict[str, str] = dataclasses.field(default_factory=dict)
    check_keys: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def _owner_name(schema: PortalSchema, owner_id: str | None) -> str:
    owner = schema.owner(owner_id)
    return owner.full_name if owner else "non assegnato"


def _not_done(ports: Ports, actions: Iterable[Action]) -> list[Action]:
    """Drop daily safety-net actions whose key already completed, so a dry run shows only what a run would do."""
    kept = []
    for action in actions:
        found = ports.state.lookup(action.key) if action.key else None
        if found is None or found.status != "done":
            kept.append(action)
    return kept


def _plan_wakeup_deals(ports: Ports, portal: _Portal, as_of: date, plan: _Plan) -> None:
    """`wakeup_eligible` on every company whose value changes, and today's share of the Wake Up queue."""
    rules, schema, contract = ports.settings.cold, ports.schema, ports.settings.portal
    candidates: list[Company] = []
    for company in portal.companies.values():
        verdict = segments.cold_verdict(
            company,
            as_of,
            rules,
            has_open_sales_deal=company.id in portal.open_sales_companies,
            wakeup_deals=portal.wakeup_by_company.get(company.id, ()),
        )
        eligible = segments.wakeup_eligible(verdict)
        plan.eligible += eligible
        update = segments.eligibility_update(company, eligible, rules)
        if update is not None:
            plan.actions.append(update)
        if not verdict.in_segment:
            continue
        plan.segment_size += 1
        if verdict.exclusion is not None:
            plan.excluded[verdict.exclusion] += 1
        else:
            candidates.append(company)
    # every candidate's orders, for the queue's order by value (and the R12 of today's deals)
    orders = _orders_of(ports, [c.id for c in candidates])
    queued = [
        segments.QueuedCompany(c, segments.priority_value(orders.get(c.id, []), as_of, rules)) for c in candidates
    ]
    plan.queue = segments.pace_wakeup_queue(queued, as_of, rules, created_today=portal.created_on_as_of)
    chosen = plan.queue.today
    ports.progress(
        f"cold_segment: {plan.segment_size} cold, {len(candidates)} waiting for Wake Up, {len(chosen)} today"
    )
    if not chosen:
        return
    contacts = contacts_of(ports, [c.id for c in chosen])
    new_stage = schema.wakeup_stage(contract.wakeup_stage_new)
    for company in chosen:
        company_contacts = contacts.get(company.id, [])
        description = segments.wakeup_description(
            company,
            as_of,
            revenue_12m=segments.r12(orders.get(company.id, []), as_of, rules.r12_window_days),
            owner_name=_owner_name(schema, company.owner_id),
            checklist=segments.data_care_checklist(company, company_contacts),
        )
        plan.actions.append(
            segments.wakeup_deal_action(
                company,
                as_of,
                pipeline_id=schema.wakeup_pipeline.id,
                stage_id=new_stage.id,
                assistant_id=schema.sales_assistant.id,
                contact_ids=[c.id for c in company_contacts],
                description=description,
            )
        )


def _plan_wakeup_automations(ports: Ports, portal: _Portal, as_of: date, plan: _Plan) -> None:
    rules, schema, contract, zone = ports.settings.cold, ports.schema, ports.settings.portal, ports.settings.timezone
    won = schema.wakeup_stage(contract.wakeup_stage_won)
    safety_net: list[Action] = []
    for deal in portal.open_wakeup:
        company = portal.companies.get(deal.company_id or "")
        if company is None:
            continue
        if segments.reactivated(deal, company.last_purchase_date):
            plan.actions.append(segments.reactivated_action(deal, won_stage_id=won.id))
        elif deal.stage_label == schema.wakeup_stage(contract.wakeup_stage_appointment).label:
            owner = company.owner_id or schema.sales_assistant.id
            safety_net.append(
                segments.appointment_task_action(deal, company.name, as_of, owner_id=owner, timezone=zone)
            )
        elif segments.stale_new_deal(
            deal, as_of, rules, new_stage_label=schema.wakeup_stage(contract.wakeup_stage_new).label
        ):
            safety_net.append(
                segments.reminder_task_action(
                    deal, company.name, as_of, assistant_id=schema.sales_assistant.id, timezone=zone
                )
            )
    plan.actions.extend(_not_done(ports, safety_net))


def _plan_recontacts(ports: Ports, portal: _Portal, as_of: date, plan: _Plan) -> None:
    rules, zone = ports.settings.cold, ports.settings.timezone
    for company in portal.companies.values():
        if company.last_purchase_date is None:
            continue
        # cheap pre-check without history, so the state store is read only for the few candidates
        if not segments.recontact_due(company, as_of, rules, last_task_on=None):
            continue
        plan.recontact_candidates += 1
        record = ports.state.get_sequence(RECONTACT_KIND, company.id)
        data = record.data if record else {}
        if data.get("spell") == company.last_purchase_date.isoformat():
            continue  # this quiet spell already had its task
        last_task_on = date.fromisoformat(data["task_on"]) if data.get("task_on") else None
        if not segments.recontact_due(company, as_of, rules, last_task_on=last_task_on):
            continue
        action = segments.recontact_task_action(company, as_of, rules, owner_id=company.owner_id, timezone=zone)
        plan.actions.append(action)
        plan.recontacts[company.id] = (company.last_purchase_date, action.key or "")


def _activity_times(ports: Ports, company_ids: Sequence[str]) -> dict[str, list[datetime]]:
    """When each company's calls, emails, meetings and notes happened and its tasks were completed."""
    times: dict[str, list[datetime]] = defaultdict(list)
    properties = ["hs_timestamp", "hs_task_status", "hs_task_completion_date", "hs_lastmodifieddate"]
    for object_type in ACTIVITY_TYPES:
        engagements = associated_records(ports, "companies", object_type, company_ids, properties)
        for company_id, records in engagements.items():
            for record in records:
                if object_type == "tasks":
                    if (record.prop("hs_task_status") or "").upper() != "COMPLETED":
                        continue
                    moment = parse_instant(record.prop("hs_task_completion_date") or record.prop("hs_lastmodifieddate"))
                else:
                    moment = parse_instant(record.prop("hs_timestamp"))
                if moment is not None:
                    times[company_id].append(moment)
    return times


def _plan_recontact_followups(ports: Ports, portal: _Portal, as_of: date, plan: _Plan) -> None:
    """The series after task 1: the owner's silence 5 business days on earns task 2, still silence 10 days after
    task 1 the reactivation email. Any activity since task 1, or an order, ends the series."""
    rules, schema, zone = ports.settings.cold, ports.schema, ports.settings.timezone
    due = [r for r in ports.state.due_sequences(RECONTACT_KIND, as_of) if r.status == "waiting"]
    if not due:
        return
    ports.progress(f"cold_segment: checking owner activity on {len(due)} recontacted companies")
    # a company that ordered since the task (its quiet spell ended) or left the portal gets nothing more
    reordered: set[str] = set()
    for record in due:
        company = portal.companies.get(record.company_id)
        if company is None or company.last_purchase_date is None:
            plan.checks[record.company_id] = "company_gone"
            reordered.add(record.company_id)
        elif company.last_purchase_date.isoformat() != record.data.get("spell"):
            plan.checks[record.company_id] = "reordered"
            reordered.add(record.company_id)
    quiet = [r for r in due if r.company_id not in reordered]
    activity = _activity_times(ports, [r.company_id for r in quiet])
    silent = []
    for record in quiet:
        created = parse_instant(record.data.get("task_created_at"))
        if created is not None and segments.owner_was_active(created, activity.get(record.company_id, [])):
            plan.checks[record.company_id] = "owner_active"
        elif record.step < 2:
            company = portal.companies[record.company_id]
            action = segments.second_reminder_task_action(
                company,
                date.fromisoformat(record.data["spell"]),
                as_of,
                date.fromisoformat(record.data["task_on"]),
                rules,
                owner_id=company.owner_id,
                timezone=zone,
            )
            plan.actions.append(action)
            plan.second_reminders[company.id] = action.key
        else:
            silent.append(record)
    contacts = contacts_of(ports, [r.company_id for r in silent])
    consent = ConsentPolicy.from_settings(ports.settings)
    for record in silent:
        company = portal.companies[record.company_id]
        consenting = [c for c in contacts.get(company.id, []) if may_email(c, consent)]
        emails = segments.reactivation_email_actions(
            company,
            date.fromisoformat(record.data["spell"]),
            consenting,
            template=rules.reactivation_template,
            owner_name=_owner_name(schema, company.owner_id),
            ecommerce_url=ports.settings.nurture.ecommerce_url,
        )
        plan.actions.extend(emails)
        plan.checks[company.id] = "emailed" if emails else "no_consenting_contact"
        plan.check_keys[company.id] = [a.key or "" for a in emails]


# --- recording what happened -----------------------------------------------------------------------------------


def _settle_created_deals(ports: Ports, portal: _Portal) -> int:
    """Complete the keys of Wake Up deals that exist in HubSpot while their reservation is still pending.

    A run that died between HubSpot's answer and the state write leaves the deal and a pending key; the next
    run sees the open deal and excludes the company (already in Wake Up), so the executor would never meet
    that key again. Reclaiming it here, once its lease ran out, records the deal that HubSpot holds.
    """
    settled = 0
    idempotency = ports.idempotency
    for deal_id, key in portal.recently_created:
        found = ports.state.lookup(key)
        if found is not None and found.status == "done":
            continue
        claim = idempotency.claim(key)
        if claim.owned and idempotency.complete(claim, {"id": deal_id, "reconciled": True}):
            settled += 1
    return settled


def _record_recontacts(ports: Ports, plan: _Plan, report: ExecutionReport, as_of: date) -> None:
    """A sequence record per recontact task created (or found done), due for its 5-business-day check."""
    rules = ports.settings.cold
    for company_id, (spell, key) in plan.recontacts.items():
        result = report.results.get(key)
        if not result or "id" not in result:
            continue  # not created (transient failure): the next run decides again
        created_at = ports.clock.now().astimezone(UTC)
        ports.state.put_sequence(
            _recontact_record(
                company_id, spell, key, str(result["id"]), created_at, as_of, segments.second_reminder_on(as_of, rules)
            )
        )


def _record_second_reminders(ports: Ports, plan: _Plan, report: ExecutionReport, as_of: date) -> None:
    """Step 2 of the series once task 2 exists, due for the email check; a task 2 not created (a transient
    failure) leaves the record due, so the next run tries again under the same key."""
    rules = ports.settings.cold
    for company_id, key in plan.second_reminders.items():
        result = report.results.get(key)
        record = ports.state.get_sequence(RECONTACT_KIND, company_id)
        if not result or "id" not in result or record is None or record.step >= 2:
            continue
        task_on = date.fromisoformat(record.data["task_on"])
        record.step = 2
        record.next_due = segments.after_second_reminder(task_on, as_of, rules)
        record.data = {**record.data, "second_key": key, "second_id": str(result["id"]), "second_on": as_of.isoformat()}
        ports.state.put_sequence(record)


def _recontact_record(
    company_id: str, spell: date, key: str, task_id: str, created_at: datetime, as_of: date, next_due: date
) -> SequenceRecord:
    return SequenceRecord(
        kind=RECONTACT_KIND,
        id=company_id,
        company_id=company_id,
        status="waiting",
        step=1,
        next_due=next_due,
        data={
            "spell": spell.isoformat(),
            "task_key": key,
            "task_id": task_id,
            "task_on": as_of.isoformat(),
            "task_created_at": created_at.isoformat(),
        },
    )


def _close_checks(ports: Ports, plan: _Plan) -> None:
    """Close each activity check, unless one of its emails is still pending (a transient failure): then the
    next run sees the record due again and the executor reconciles the pending key."""
    for company_id, outcome in plan.checks.items():
        keys = plan.check_keys.get(company_id, [])
        pending = [k for k in keys if (found := ports.state.lookup(k)) is not None and found.status != "done"]
        if pending:
            continue
        record = ports.state.get_sequence(RECONTACT_KIND, company_id)
        if record is None:
            continue
        record.status, record.next_due = outcome, None
        record.data = {**record.data, "checked_on": ports.clock.today().isoformat()}
        ports.state.put_sequence(record)


# --- entry points ----------------------------------------------------------------------------------------------


def _summary(plan: _Plan, report: ExecutionReport | None, crm_calls: int) -> dict[str, Any]:
    planned = Counter(a.type for a in plan.actions)
    done: Mapping[str, int] = report.outcomes if report else {}
    queue = plan.queue
    checks = Counter(plan.checks.values())
    checks["second_reminder"] += len(plan.second_reminders)
    return {
        "cold_segment_size": plan.segment_size,
        "excluded": {reason: plan.excluded.get(reason, 0) for reason in segments.EXCLUSION_REASONS},
        "wakeup_eligible": plan.eligible,
        "eligibility_changes": done.get("updated:update_company", 0),
        "queued_today": len(queue.today) if queue else 0,
        "backlog": queue.backlog if queue else 0,
        "backlog_business_days": queue.backlog_business_days if queue else 0,
        "backlog_cleared_by": (queue.backlog_cleared_by.isoformat() if queue and queue.backlog_cleared_by else None),
        "recontact_candidates": plan.recontact_candidates,
        # tasks 1 and 2 of the recontact series that exist in HubSpot after this run
        "recontact_series_started": sum(1 for _, key in plan.recontacts.values() if report and key in report.results),
        "second_reminders": sum(1 for key in plan.second_reminders.values() if report and key in report.results),
        "activity_checks": dict(sorted((k, n) for k, n in checks.items() if n)),
        "planned": dict(sorted(planned.items())),
        "deals_created": done.get("created:create_deal", 0),
        "deals_moved": done.get("moved:move_deal", 0),
        "tasks_created": done.get("created:create_task", 0),
        "emails_sent": done.get("sent:send_email", 0),
        "effects": report.as_dict() if report else {},
        "crm_calls": crm_calls,
    }


def run(request: Request, ports: Ports) -> RunResult:
    as_of = request.as_of or ports.clock.today()
    calls_before = ports.crm.calls_made
    portal = _read_portal(ports, as_of)
    plan = _Plan()
    _plan_wakeup_automations(ports, portal, as_of, plan)
    _plan_wakeup_deals(ports, portal, as_of, plan)
    _plan_recontacts(ports, portal, as_of, plan)
    _plan_recontact_followups(ports, portal, as_of, plan)
    report: ExecutionReport | None = None
    if not request.dry_run:
        ports.progress(f"cold_segment: carrying out {len(plan.actions)} actions")
        report = EffectExecutor(ports).execute(plan.actions)
        settled = _settle_created_deals(ports, portal)
        if settled:
            report.outcomes["reconciled:create_deal"] += settled
        _record_recontacts(ports, plan, report, as_of)
        _record_second_reminders(ports, plan, report, as_of)
        _close_checks(ports, plan)
    summary = _summary(plan, report, ports.crm.calls_made - calls_before)
    ports.progress(
        f"cold_segment: {summary['cold_segment_size']} cold, {summary['deals_created']} deals created, "
        f"{summary['tasks_created']} tasks, {summary['emails_sent']} emails"
    )
    return RunResult(
        function=FUNCTION,
        as_of=as_of,
        dry_run=request.dry_run,
        actions=plan.actions,
        summary=summary,
        report=report or ExecutionReport(),
    )


def webhook(events: list[dict[str, Any]], ports: Ports) -> RunResult:
    """Wake Up stage changes pushed by a HubSpot workflow. The payload only says which deals to look at: each is
    re-read, and only a deal now in the Wake Up pipeline at "Appuntamento fissato" gets its owner's task, once
    per deal and appointment however many times HubSpot delivers the event."""
    as_of = ports.clock.today()
    calls_before = ports.crm.calls_made
    deal_ids = sorted(
        {
            str(event["objectId"])
            for event in events
            if event.get("objectId") not in (None, "")
            and str(event.get("subscriptionType") or "deal.").startswith("deal.")
        }
    )
    plan = _Plan()
    if deal_ids:
        schema, contract, zone = ports.schema, ports.settings.portal, ports.settings.timezone
        appointment = schema.wakeup_stage(contract.wakeup_stage_appointment)
        records = [
            r
            for r in ports.crm.read_batch("deals", deal_ids, _wakeup_deal_properties(ports))
            if r.prop("pipeline") == schema.wakeup_pipeline.id and r.prop("dealstage") == appointment.id
        ]
        company_of = _first_companies(ports, "deals", [r.id for r in records])
        company_records = ports.crm.read_batch(
            "companies", sorted(set(company_of.values())), [contract.company_name, "hubspot_owner_id"]
        )
        companies = {r.id: to_company(r, contract) for r in company_records}
        for record in records:
            deal = _to_wakeup_deal(record, company_of.get(record.id), ports)
            company = companies.get(company_of.get(record.id, ""))
            if deal is None or company is None:
                continue
            owner = company.owner_id or schema.sales_assistant.id
            plan.actions.append(
                segments.appointment_task_action(deal, company.name, as_of, owner_id=owner, timezone=zone)
            )
    report = EffectExecutor(ports).execute(plan.actions)
    summary = {
        "events": len(events),
        "deals": len(deal_ids),
        "appointments": len(plan.actions),
        "tasks_created": report.outcomes.get("created:create_task", 0),
        "effects": report.as_dict(),
        "crm_calls": ports.crm.calls_made - calls_before,
    }
    return RunResult(
        function=FUNCTION, as_of=as_of, dry_run=False, actions=plan.actions, summary=summary, report=report
    )
