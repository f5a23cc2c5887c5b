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

from collections import Counter
from collections.abc import Mapping
from typing import Any

from flywheel.domain import segments
from flywheel.domain.models import ExecutionReport, RunRequest, RunResult
from flywheel.services.cold.names import FUNCTION, RECONTACT_KIND
from flywheel.services.cold.plan import Plan
from flywheel.services.cold.portal import read_portal
from flywheel.services.cold.recontact import (
    close_checks,
    plan_recontact_followups,
    plan_recontacts,
    record_recontacts,
    record_second_reminders,
)
from flywheel.services.cold.wakeup import plan_wakeup_automations, plan_wakeup_deals, settle_created_deals
from flywheel.services.cold.webhook import webhook
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor

__all__ = ["FUNCTION", "RECONTACT_KIND", "SUMMARY_TOTALS", "Request", "run", "webhook"]

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


class Request(RunRequest):
    """`{"as_of"?, "dry_run"?}`: the daily run needs nothing more."""


def _summary(plan: Plan, report: ExecutionReport | None, crm_calls: int) -> dict[str, Any]:
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
    portal = read_portal(ports, as_of)
    plan = Plan()
    plan_wakeup_automations(ports, portal, as_of, plan)
    plan_wakeup_deals(ports, portal, as_of, plan)
    plan_recontacts(ports, portal, as_of, plan)
    plan_recontact_followups(ports, portal, as_of, plan)
    report: ExecutionReport | None = None
    if not request.dry_run:
        ports.progress(f"cold_segment: carrying out {len(plan.actions)} actions")
        report = EffectExecutor(ports).execute(plan.actions)
        settled = settle_created_deals(ports, portal)
        if settled:
            report.outcomes["reconciled:create_deal"] += settled
        record_recontacts(ports, plan, report, as_of)
        record_second_reminders(ports, plan, report, as_of)
        close_checks(ports, plan)
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
