"""What the `unsubscribe` and `coupon_check` entries do once the HTTP layer has checked the caller.

An unsubscribe sets the contact's `hs_email_optout` (the contract's `contact_optout`): the consent gate reads it
fresh at every send, so no later email of any function reaches the contact. Writing the property is idempotent, so
a link opened twice, or a one-click POST repeated by a mail client, changes nothing more.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Literal

from flywheel.config import NurtureRules
from flywheel.domain.nurture import CouponCheck, check_coupon
from flywheel.ports import CrmError
from flywheel.services.context import Ports

log = logging.getLogger(__name__)

Unsubscribed = Literal["unsubscribed", "unknown_contact"]


def unsubscribe(contact_id: str, ports: Ports) -> Unsubscribed:
    """Record the opt-out in HubSpot. A contact HubSpot no longer has (deleted, merged) is mailed by nobody."""
    name = ports.settings.portal.contact_optout
    refusals = ports.crm.update_batch("contacts", [(contact_id, {name: "true"})])
    for refusal in refusals:
        if refusal.status == 404:
            log.info("unsubscribe: contact %s is not in HubSpot", contact_id)
            return "unknown_contact"
        raise CrmError(f"HubSpot refused the opt-out of contact {contact_id}: {refusal.reason}", status=refusal.status)
    log.info("unsubscribe: contact %s opted out", contact_id)
    return "unsubscribed"


def coupon_validity(rules: NurtureRules, company_id: str, code: str, today: date) -> CouponCheck:
    """From the code's signature alone: no HubSpot call, no state."""
    return check_coupon(rules.coupon_secret, rules.coupon_prefix, company_id, code, today)
