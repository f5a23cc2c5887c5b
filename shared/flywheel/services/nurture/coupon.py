"""The gift coupon the sequence offers from its second step: its code and its last day.

Both the emails (which quote them) and the company properties (which the e-commerce site honours) need the same
code and expiry, before the gift went out (a dry run, today's email) and after (as recorded).
"""

from __future__ import annotations

from datetime import date, timedelta

from flywheel.config import NurtureRules
from flywheel.domain import nurture as rules_of
from flywheel.domain.nurture import Enrolment

# the step whose email carries the gift: from it on, a sent step records the coupon
GIFT_STEP = 2


def coupon_expiry(enrolment: Enrolment, rules: NurtureRules, as_of: date) -> date:
    """The gift's last day: recorded once the gift went out, else as if it goes out today."""
    return rules_of.coupon_expiry_for(enrolment, rules) or as_of + timedelta(days=rules.coupon_valid_days)


def coupon_code(enrolment: Enrolment, rules: NurtureRules, as_of: date) -> str:
    """The code carries its expiry, signed: the shop's `coupon_check` reads both from the code alone."""
    return enrolment.coupon_code or rules_of.coupon_code(
        rules.coupon_secret, rules.coupon_prefix, enrolment.company_id, coupon_expiry(enrolment, rules, as_of)
    )


def coupon_sent_with(step: int, enrolment: Enrolment, rules: NurtureRules, as_of: date) -> str | None:
    """The code a sent `step` records: none before the gift step."""
    return coupon_code(enrolment, rules, as_of) if step >= GIFT_STEP else None
