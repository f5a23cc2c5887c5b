"""What the company shows in HubSpot: `nurture_step` / `nurture_status`, the gift coupon, and the e-commerce
account's suspension after the fifth step.

The suspension is claimed under an idempotency key before its update goes out and settled after it, so two runs
recording the fifth step suspend the account once, and a refused update is tried again by the next run.
"""

from __future__ import annotations

from collections.abc import Sequence

from flywheel.domain import nurture as rules_of
from flywheel.domain.models import Action, ExecutionReport, UpdateCompany
from flywheel.domain.nurture import Enrolment
from flywheel.ports import Reservation
from flywheel.services.nurture.coupon import coupon_sent_with
from flywheel.services.nurture.plan import DailyRun, Plan


class Suspensions:
    """The suspension keys one run holds, by company: only this run may complete (or release) them."""

    def __init__(self, daily: DailyRun) -> None:
        self.daily = daily
        self.held: dict[str, Reservation] = {}

    def reserve(self, e: Enrolment) -> bool:
        """The account is suspended once per spell, even if two runs record the fifth step."""
        claim = self.daily.ports.idempotency.claim(rules_of.suspension_key(e.company_id, e.spell))
        if claim.owned:
            self.held[e.company_id] = claim
        return claim.owned

    def settle(self, plans: Sequence[Plan], report: ExecutionReport) -> None:
        """Complete the suspensions this run made. One HubSpot refused is released, and its sequence is not
        stored as completed: the next run records the fifth step again (its email is done, not resent) and
        suspends then."""
        idempotency = self.daily.ports.idempotency
        for plan in plans:
            claim = self.held.get(plan.enrolment.company_id)
            if claim is None or plan.outcome is None or plan.outcome.status != "completed":
                continue
            if f"update_company:{plan.enrolment.company_id}" in report.refusals:
                idempotency.release(claim)
                plan.outcome = None
            else:
                idempotency.complete(claim, {"suspended_on": self.daily.as_of.isoformat()})


def property_actions(daily: DailyRun, plans: Sequence[Plan], suspensions: Suspensions) -> list[Action]:
    """`nurture_step` / `nurture_status` on each company whose sequence changed, and the suspension.

    One update per company (HubSpot refuses a batch naming a record twice); when a run ends an old spell
    and enrols a new one, the new spell is what the company shows.
    """
    contract = daily.contract
    by_company: dict[str, dict[str, str]] = {}
    for plan in sorted(plans, key=lambda p: p.enrolment.spell):
        outcome = _shown_outcome(daily, plan)
        if outcome is None or (outcome == plan.enrolment and not plan.is_new):
            continue
        properties = by_company.setdefault(outcome.company_id, {})
        properties[contract.nurture_step] = str(outcome.step)
        properties[contract.nurture_status] = rules_of.HUBSPOT_STATUS[outcome.status]
        if outcome.coupon_code and outcome.coupon_code != plan.enrolment.coupon_code:
            # the gift just went out: on the company, where the e-commerce site (reading HubSpot) honours it
            properties[contract.nurture_coupon_code] = outcome.coupon_code
            expiry = rules_of.coupon_expiry_for(outcome, daily.rules)
            properties[contract.nurture_coupon_expires] = "" if expiry is None else expiry.isoformat()
        just_completed = outcome.status == "completed" and plan.enrolment.is_active
        if just_completed and (daily.dry_run or suspensions.reserve(outcome)):
            properties[contract.ecommerce_status] = "suspended"
    return [
        UpdateCompany(company_id=company_id, properties=properties) for company_id, properties in by_company.items()
    ]


def _shown_outcome(daily: DailyRun, plan: Plan) -> Enrolment | None:
    """The enrolment the company should show: what the run recorded, or on a dry run what a successful send
    would record."""
    if plan.outcome is None and daily.dry_run and plan.step is not None:
        coupon = coupon_sent_with(plan.step, plan.enrolment, daily.rules, daily.as_of)
        return rules_of.record_send(plan.enrolment, plan.step, daily.as_of, daily.rules, coupon_code=coupon)
    return plan.outcome
