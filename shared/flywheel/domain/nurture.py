"""The nurture sequence for lukewarm customers, as a pure state machine.

A company whose last order is `start_days` (61: "da oltre 60 giorni") old enters a quiet *spell*, identified by
that last order's date.
Once per spell it is enrolled and receives up to five emails, each `step_interval_days` (15) after the previous
one was actually sent. The first order after the spell's last order ends the sequence as `converted`; losing
every consenting contact ends it as `no_consent`; the fifth email completes it (and suspends the e-commerce
account). A later order starts a new spell, which may be enrolled again 61 days on.

Nothing here reads a clock or does I/O: every function takes the day it decides for (`as_of`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Final, Literal

from flywheel.config import NurtureRules
from flywheel.domain.retention import days_since

FINAL_STEP = 5
STEPS = tuple(range(1, FINAL_STEP + 1))

# company_missing: the company was deleted or merged away in HubSpot while enrolled
Status = Literal["active", "converted", "completed", "no_consent", "skipped_no_consent", "company_missing"]
STATUSES: frozenset[str] = frozenset(
    {"active", "converted", "completed", "no_consent", "skipped_no_consent", "company_missing"}
)
# what the company's `nurture_status` property shows for each status (HubSpot has no "skipped" option, and a
# missing company has no properties to show anything)
HUBSPOT_STATUS: dict[str, str] = {
    "active": "active",
    "converted": "converted",
    "completed": "completed",
    "no_consent": "no_consent",
    "skipped_no_consent": "no_consent",
}


def template_for(step: int) -> str:
    return f"nurture_{step}"


def sequence_id(company_id: str, spell: date) -> str:
    """One enrolment per company and quiet spell; the spell is named by the last order date that started it."""
    return f"{company_id}:{spell.isoformat()}"


def effect_key(company_id: str, spell: date, step: int, contact_id: str) -> str:
    """The idempotency key of one email: at most one send per company, spell, step and contact, ever."""
    return f"nurture_step:{company_id}:{spell.isoformat()}:{step}:{contact_id}"


def suspension_key(company_id: str, spell: date) -> str:
    return f"nurture_step:{company_id}:{spell.isoformat()}:suspend"


# --- enrolment -------------------------------------------------------------------------------------------------


def enrolment_bounds(as_of: date, rules: NurtureRules, *, backfill: bool = False) -> tuple[date | None, date]:
    """The range of last order dates eligible for enrolment on as_of, both ends inclusive.

    Automatically only companies that reached `start_days` within the last `enrol_window_days` (61..75 days
    by default), so a first deployment does not mail the whole dormant base; a backfill has no lower bound.
    """
    latest = as_of - timedelta(days=rules.start_days)
    if backfill:
        return None, latest
    earliest = as_of - timedelta(days=rules.start_days + max(rules.enrol_window_days, 1) - 1)
    return earliest, latest


def is_enrollable(last_order: date | None, as_of: date, rules: NurtureRules, *, backfill: bool = False) -> bool:
    days = days_since(last_order, as_of)
    if days is None or days < rules.start_days:
        return False
    return backfill or days < rules.start_days + max(rules.enrol_window_days, 1)


# --- the sequence ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """One step that went out: the day, and the message id per contact it reached."""

    step: int
    sent_on: date
    messages: tuple[tuple[str, str], ...] = ()  # (contact id, message id)


@dataclass(frozen=True, slots=True)
class Conversion:
    """The order that ended the sequence: kept for the revenue reports."""

    order_date: date
    order_value: float | None = None
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Enrolment:
    company_id: str
    spell: date
    enrolled_on: date
    status: Status = "active"
    step: int = 0  # the last step sent, 0 before the first
    next_due: date | None = None  # None once ended
    sends: tuple[Send, ...] = ()
    coupon_code: str | None = None
    coupon_expiry: date | None = None
    conversion: Conversion | None = None
    ended_on: date | None = None

    @property
    def id(self) -> str:
        return sequence_id(self.company_id, self.spell)

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def sent_on(self, step: int) -> date | None:
        return next((s.sent_on for s in self.sends if s.step == step), None)


def enrol(company_id: str, spell: date, as_of: date) -> Enrolment:
    """A new enrolment: the first step is due at once."""
    return Enrolment(company_id=company_id, spell=spell, enrolled_on=as_of, next_due=as_of)


def step_due(enrolment: Enrolment, as_of: date) -> int | None:
    """The one step to send on as_of, if any: never more than one, however many days were missed."""
    if not enrolment.is_active or enrolment.step >= FINAL_STEP:
        return None
    if enrolment.next_due is None or enrolment.next_due > as_of:
        return None
    return enrolment.step + 1


def is_converting_order(enrolment: Enrolment, order_date: date | None) -> bool:
    """An order after the spell's last order ends the spell (and the sequence, while it is active)."""
    return enrolment.is_active and order_date is not None and order_date > enrolment.spell


Decision = Literal["wait", "convert", "send", "no_consent"]


def decide(enrolment: Enrolment, as_of: date, last_order: date | None, has_consenting_contact: bool) -> Decision:
    """What to do with an enrolment today: an order wins over everything, then a due step needs a recipient."""
    if not enrolment.is_active:
        return "wait"
    if is_converting_order(enrolment, last_order):
        return "convert"
    if step_due(enrolment, as_of) is None:
        return "wait"
    return "send" if has_consenting_contact else "no_consent"


def record_send(
    enrolment: Enrolment,
    step: int,
    sent_on: date,
    rules: NurtureRules,
    *,
    messages: tuple[tuple[str, str], ...] = (),
    coupon_code: str | None = None,
) -> Enrolment:
    """The enrolment after `step` went out on sent_on. Recording a step already recorded changes nothing, so
    two runs that both saw the same send converge on the same record."""
    if not enrolment.is_active or step <= enrolment.step:
        return enrolment
    if step != enrolment.step + 1:
        raise ValueError(f"step {step} cannot follow step {enrolment.step} of {enrolment.id}")
    updated = replace(
        enrolment,
        step=step,
        sends=(*enrolment.sends, Send(step=step, sent_on=sent_on, messages=messages)),
        next_due=sent_on + timedelta(days=rules.step_interval_days),
        coupon_code=enrolment.coupon_code or coupon_code,
    )
    if step == 2 and updated.coupon_expiry is None:
        # the gift's validity runs from the day the customer received it
        updated = replace(updated, coupon_expiry=sent_on + timedelta(days=rules.coupon_valid_days))
    if step == FINAL_STEP:
        updated = replace(updated, status="completed", next_due=None, ended_on=sent_on)
    return updated


def convert(enrolment: Enrolment, conversion: Conversion, as_of: date) -> Enrolment:
    """End an active sequence at the first order after its spell began; anything else is left as it is."""
    if not is_converting_order(enrolment, conversion.order_date):
        return enrolment
    return replace(enrolment, status="converted", next_due=None, conversion=conversion, ended_on=as_of)


def end_for_missing_company(enrolment: Enrolment, as_of: date) -> Enrolment:
    if not enrolment.is_active:
        return enrolment
    return replace(enrolment, status="company_missing", next_due=None, ended_on=as_of)


def end_for_consent(enrolment: Enrolment, as_of: date) -> Enrolment:
    """No contact may be emailed: before the first step that is a skip, afterwards a lost consent."""
    if not enrolment.is_active:
        return enrolment
    status: Status = "skipped_no_consent" if enrolment.step == 0 else "no_consent"
    return replace(enrolment, status=status, next_due=None, ended_on=as_of)


# --- the coupon ------------------------------------------------------------------------------------------------


# Crockford-like base32 without the letters people misread (I, L, O, U), for a code typed at a checkout
_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EPOCH: Final = date(2000, 1, 1)
_EXPIRY_CHARS: Final = 4  # 32**4 days: until the 29th century
_CODE_MAC_CHARS: Final = 10  # 50 bits: guessing one company's code takes ~10**15 tries


def _encode(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def _decode(text: str) -> int | None:
    number = 0
    for char in text:
        digit = _ALPHABET.find(char)
        if digit < 0:
            return None
        number = number * 32 + digit
    return number


def _code_mac(secret: str, company_id: str, expires: date) -> str:
    digest = hmac.new(secret.encode(), f"coupon:{company_id}:{expires.isoformat()}".encode(), hashlib.sha256).digest()
    return _encode(int.from_bytes(digest[:8], "big") >> (64 - 5 * _CODE_MAC_CHARS), _CODE_MAC_CHARS)


def coupon_code(secret: str, prefix: str, company_id: str, expires: date) -> str:
    """`PREFIX-EEEE-MMMMMMMMMM`: the expiry (days since 2000, base32) and a MAC over company and expiry. The same
    company and expiry give the same code, so a resend carries the code the customer already has."""
    body = f"{_encode((expires - _EPOCH).days, _EXPIRY_CHARS)}-{_code_mac(secret, company_id, expires)}"
    return f"{prefix}-{body}" if prefix else body


@dataclass(frozen=True)
class CouponCheck:
    valid: bool
    expires: date | None  # only for a code that is genuinely this company's
    reason: str | None  # not_this_company (malformed, forged or another company's) | expired

    def as_json(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "expires": None if self.expires is None else self.expires.isoformat(),
            "reason": self.reason,
        }


def check_coupon(secret: str, prefix: str, company_id: str, code: str, today: date) -> CouponCheck:
    """Whether `code` is this company's and still valid on `today` (its expiry day included)."""
    refused = CouponCheck(False, None, "not_this_company")
    text = code.strip().upper()
    if prefix:
        if not text.startswith(f"{prefix.upper()}-"):
            return refused
        text = text[len(prefix) + 1 :]
    expiry_part, _, mac_part = text.partition("-")
    days = _decode(expiry_part) if len(expiry_part) == _EXPIRY_CHARS else None
    if days is None or len(mac_part) != _CODE_MAC_CHARS:
        return refused
    expires = _EPOCH + timedelta(days=days)
    if not hmac.compare_digest(_code_mac(secret, company_id, expires), mac_part):
        return refused
    if today > expires:
        return CouponCheck(False, expires, "expired")
    return CouponCheck(True, expires, None)


def coupon_expiry_for(enrolment: Enrolment, rules: NurtureRules) -> date | None:
    if enrolment.coupon_expiry is not None:
        return enrolment.coupon_expiry
    step_two = enrolment.sent_on(2)
    return None if step_two is None else step_two + timedelta(days=rules.coupon_valid_days)
