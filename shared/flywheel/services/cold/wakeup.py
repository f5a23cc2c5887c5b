"""The Wake Up pipeline: the paced queue of new deals, the automations on existing ones, and settling deals
a crashed run created."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from flywheel.domain import segments
from flywheel.domain.models import Action, Company
from flywheel.services.cold.plan import Plan, appointment_task, not_done, owner_name
from flywheel.services.cold.portal import (
    Portal,
    orders_of,
)
from flywheel.services.context import Ports
from flywheel.services.reads import contacts_of


def plan_wakeup_deals(ports: Ports, portal: Portal, as_of: date, plan: Plan) -> None:
    """`wakeup_eligible` on every company whose value changes, and today's share of the Wake Up queue."""
    candidates = _collect_wakeup_candidates(ports, portal, as_of, plan)
    # every candidate's orders, for the queue's order by value (and the R12 of today's deals)
    orders = orders_of(ports, [c.id for c in candidates])
    plan.queue = _pace_queue(ports, portal, as_of, candidates, orders)
    chosen = plan.queue.today
    ports.progress(
        f"cold_segment: {plan.segment_size} cold, {len(candidates)} waiting for Wake Up, {len(chosen)} today"
    )
    if not chosen:
        return
    plan.actions.extend(_wakeup_deal_actions(ports, as_of, chosen, orders))


def _collect_wakeup_candidates(ports: Ports, portal: Portal, as_of: date, plan: Plan) -> list[Company]:
    """The cold companies free to join the Wake Up queue. Every company passes through here, so this is also
    where the plan counts eligibility, the cold segment and its exclusions, and queues the eligibility updates."""
    rules = ports.settings.cold
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
    return candidates


def _pace_queue(
    ports: Ports,
    portal: Portal,
    as_of: date,
    candidates: Sequence[Company],
    orders: Mapping[str, list[tuple[date, float]]],
) -> segments.WakeupQueue:
    rules = ports.settings.cold
    queued = [
        segments.QueuedCompany(c, segments.priority_value(orders.get(c.id, []), as_of, rules)) for c in candidates
    ]
    return segments.pace_wakeup_queue(
        queued,
        as_of,
        rules,
        # earlier runs of the same day count against the allowance, so a repeated run never exceeds the pace
        created_today=portal.created_on_as_of,
        calendar=ports.settings.calendar.business_calendar(),
    )


def _wakeup_deal_actions(
    ports: Ports, as_of: date, chosen: Sequence[Company], orders: Mapping[str, list[tuple[date, float]]]
) -> list[Action]:
    """A Wake Up deal in the "new" stage for each of today's companies, its description briefing the assistant."""
    rules, schema, contract = ports.settings.cold, ports.schema, ports.settings.portal
    contacts = contacts_of(ports, [c.id for c in chosen])
    new_stage = schema.wakeup_stage(contract.wakeup_stage_new)
    actions: list[Action] = []
    for company in chosen:
        company_contacts = contacts.get(company.id, [])
        description = segments.wakeup_description(
            company,
            as_of,
            revenue_12m=segments.r12(orders.get(company.id, []), as_of, rules.r12_window_days),
            owner_name=owner_name(schema, company.owner_id),
            checklist=segments.data_care_checklist(company, company_contacts),
        )
        actions.append(
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
    return actions


def plan_wakeup_automations(ports: Ports, portal: Portal, as_of: date, plan: Plan) -> None:
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
            safety_net.append(appointment_task(ports, deal, company, as_of))
        elif segments.stale_new_deal(
            deal, as_of, rules, new_stage_label=schema.wakeup_stage(contract.wakeup_stage_new).label
        ):
            safety_net.append(
                segments.reminder_task_action(
                    deal,
                    company.name,
                    as_of,
                    assistant_id=schema.sales_assistant.id,
                    timezone=zone,
                    calendar=ports.settings.calendar.business_calendar(),
                )
            )
    plan.actions.extend(not_done(ports, safety_net))


def settle_created_deals(ports: Ports, portal: Portal) -> int:
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
