"""The daily step run: who is looked at, what each sequence gets today, and carrying it out in order.

The order matters: a new enrolment is stored before its first email (so a crash after sending still finds it),
a step counts only once its email is confirmed sent, the company properties follow the sends, and the
sequences are saved last, from what actually happened.
"""

from __future__ import annotations

from collections.abc import Sequence

from flywheel.domain import nurture as rules_of
from flywheel.domain.models import Action, ExecutionReport, RunResult
from flywheel.services.effects import EffectExecutor
from flywheel.services.nurture.company import Suspensions, property_actions
from flywheel.services.nurture.conversions import find_conversions
from flywheel.services.nurture.coupon import coupon_sent_with
from flywheel.services.nurture.emails import consenting_contacts, step_emails
from flywheel.services.nurture.enrolment import new_enrolments, running_plans, running_sequences
from flywheel.services.nurture.names import FUNCTION
from flywheel.services.nurture.plan import DailyRun, Plan
from flywheel.services.nurture.records import save
from flywheel.services.nurture.summary import daily_result


def run_daily(daily: DailyRun) -> RunResult:
    progress = daily.ports.progress
    progress(f"{FUNCTION} {daily.as_of}: reading active sequences")
    active = running_sequences(daily)
    plans, gone = running_plans(daily, active)
    plans += new_enrolments(daily, active)
    progress(f"{FUNCTION} {daily.as_of}: {len(plans)} sequences to look at")

    find_conversions(daily, plans)
    # a company that ordered since its last known order is not lukewarm after all: that spell is over
    plans = [p for p in plans if not (p.is_new and p.conversion is not None)]
    decide(daily, plans)
    actions: list[Action] = [a for p in plans for a in p.actions]
    suspensions = Suspensions(daily)
    if daily.dry_run:
        actions += property_actions(daily, plans, suspensions)
        return daily_result(daily, [*plans, *gone], actions, ExecutionReport())

    report = send(daily, plans)
    updates = property_actions(daily, plans, suspensions)
    if updates:
        report.merge(EffectExecutor(daily.ports).execute(updates))
    suspensions.settle(plans, report)
    for plan in [*plans, *gone]:
        if plan.outcome is not None and plan.outcome != plan.enrolment:
            plan.outcome = save(daily.ports, plan.outcome)
    progress(f"{FUNCTION} {daily.as_of}: done")
    return daily_result(daily, [*plans, *gone], actions + updates, report)


def decide(daily: DailyRun, plans: Sequence[Plan]) -> None:
    """Each sequence's decision for today: converted, ended for consent, or its due step's emails."""
    candidates = [p for p in plans if p.conversion is None and rules_of.step_due(p.enrolment, daily.as_of)]
    contacts = consenting_contacts(daily, [p.enrolment.company_id for p in candidates])
    for plan in plans:
        e = plan.enrolment
        plan.recipients = contacts.get(e.company_id, [])
        order_date = None if plan.conversion is None else plan.conversion.order_date
        decision = rules_of.decide(e, daily.as_of, order_date, bool(plan.recipients))
        if decision == "convert":
            assert plan.conversion is not None
            plan.outcome = rules_of.convert(e, plan.conversion, daily.as_of)
        elif decision == "no_consent":
            plan.outcome = rules_of.end_for_consent(e, daily.as_of)
        elif decision == "send":
            plan.step = rules_of.step_due(e, daily.as_of)
            plan.actions = step_emails(daily, plan)
        elif plan.is_new:
            plan.outcome = e  # enrolled on a day it may not yet send (never by the rules as they stand)


def send(daily: DailyRun, plans: Sequence[Plan]) -> ExecutionReport:
    sending = [p for p in plans if p.actions]
    for plan in sending:
        if plan.is_new:
            # stored before the first email, so a crash after sending still finds the enrolment tomorrow
            save(daily.ports, plan.enrolment)
    report = EffectExecutor(daily.ports).execute([a for p in sending for a in p.actions])
    for plan in sending:
        _record_delivered(daily, plan, report)
    return report


def _record_delivered(daily: DailyRun, plan: Plan, report: ExecutionReport) -> None:
    """The step as sent, if any of its emails was confirmed; nothing delivered (held by a concurrent run,
    failed, consent withdrawn a moment ago) leaves the step due, and the next run tries again or ends the
    sequence for consent."""
    assert plan.step is not None
    # only confirmed messages count: an email whose outcome is unknown is not a step sent
    delivered = tuple(
        (a.contact_id, str(report.results[a.key]["message_id"]))
        for a in plan.actions
        if a.key in report.results and report.results[a.key].get("message_id")
    )
    if delivered:
        coupon = coupon_sent_with(plan.step, plan.enrolment, daily.rules, daily.as_of)
        plan.outcome = rules_of.record_send(
            plan.enrolment, plan.step, daily.as_of, daily.rules, messages=delivered, coupon_code=coupon
        )
