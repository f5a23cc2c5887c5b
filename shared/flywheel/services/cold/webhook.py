"""The Wake Up stage webhook: an appointment fixed by the sales assistant becomes the owner's task."""

from __future__ import annotations

from typing import Any

from flywheel.domain.models import RunResult
from flywheel.services.cold.names import FUNCTION
from flywheel.services.cold.plan import Plan, appointment_task
from flywheel.services.cold.portal import (
    first_companies,
    to_wakeup_deal,
    wakeup_deal_properties,
)
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from flywheel.services.mapping import (
    to_company,
)
from flywheel.webhooks import object_ids


def webhook(events: list[dict[str, Any]], ports: Ports) -> RunResult:
    """Wake Up stage changes pushed by a HubSpot workflow. The payload only says which deals to look at: each is
    re-read, and only a deal now in the Wake Up pipeline at "Appuntamento fissato" gets its owner's task, once
    per deal and appointment however many times HubSpot delivers the event."""
    as_of = ports.clock.today()
    calls_before = ports.crm.calls_made
    deal_ids = object_ids(events, about=lambda event: str(event.get("subscriptionType") or "deal.").startswith("deal."))
    plan = Plan()
    if deal_ids:
        schema, contract = ports.schema, ports.settings.portal
        appointment = schema.wakeup_stage(contract.wakeup_stage_appointment)
        records = [
            r
            for r in ports.crm.read_batch("deals", deal_ids, wakeup_deal_properties(ports))
            if r.prop("pipeline") == schema.wakeup_pipeline.id and r.prop("dealstage") == appointment.id
        ]
        company_of = first_companies(ports, "deals", [r.id for r in records])
        company_records = ports.crm.read_batch(
            "companies", sorted(set(company_of.values())), [contract.company_name, "hubspot_owner_id"]
        )
        companies = {r.id: to_company(r, contract) for r in company_records}
        for record in records:
            deal = to_wakeup_deal(record, company_of.get(record.id), ports)
            company = companies.get(company_of.get(record.id, ""))
            if deal is None or company is None:
                continue
            plan.actions.append(appointment_task(ports, deal, company, as_of))
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
