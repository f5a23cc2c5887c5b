"""A daily run's result: how many sequences were enrolled, sent a step, ended (and why), or are still running.

A dry run counts what a successful send would record, so it reports the same numbers the real run would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flywheel.domain import nurture as rules_of
from flywheel.domain.models import Action, ExecutionReport, RunResult
from flywheel.domain.nurture import Enrolment
from flywheel.services.nurture.names import FUNCTION
from flywheel.services.nurture.plan import DailyRun, Plan

# summary counts that add up over runs (the demo and reports total them); the others describe one run
SUMMARY_TOTALS = ("enrolled", "sent", "converted", "completed", "no_consent", "skipped_no_consent")


def daily_result(daily: DailyRun, plans: Sequence[Plan], actions: list[Action], report: ExecutionReport) -> RunResult:
    summary: dict[str, Any] = {
        "enrolled": 0,
        "sent": {f"step_{s}": 0 for s in rules_of.STEPS},
        "emails": 0,
        "converted": 0,
        "completed": 0,
        "no_consent": 0,
        "skipped_no_consent": 0,
        "company_missing": 0,
        "pending": 0,
        "active": 0,
    }
    for plan in plans:
        _count(summary, plan, _after(daily, plan))
    summary["emails"] = len([a for a in actions if a.type == "send_email"]) if daily.dry_run else report.total("sent")
    if not daily.dry_run:
        summary["effects"] = report.as_dict()
    return RunResult(
        function=FUNCTION, as_of=daily.as_of, dry_run=daily.dry_run, actions=actions, summary=summary, report=report
    )


def _after(daily: DailyRun, plan: Plan) -> Enrolment:
    """The enrolment as this run leaves it (on a dry run, as a successful send would)."""
    after = plan.outcome
    if after is None and daily.dry_run and plan.step is not None:
        after = rules_of.record_send(plan.enrolment, plan.step, daily.as_of, daily.rules)
    return after or plan.enrolment


def _count(summary: dict[str, Any], plan: Plan, after: Enrolment) -> None:
    before = plan.enrolment
    if plan.is_new and after.status != "skipped_no_consent":
        summary["enrolled"] += 1
    if after.step > before.step:
        summary["sent"][f"step_{after.step}"] += 1
    elif plan.step is not None:
        summary["pending"] += 1
    ended_now = after.status != before.status or (plan.is_new and not after.is_active)
    if ended_now and after.status in summary:
        summary[after.status] += 1
    summary["active"] += after.is_active
