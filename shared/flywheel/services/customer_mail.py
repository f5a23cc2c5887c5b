"""What cashback_21st and dp_progress share when they write to a customer: who receives the email (the nurture
recipients policy behind the one consent gate), how the company's owner is named, and which companies an email
actually reached."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from flywheel.domain.models import Company, Contact, ExecutionReport, SendEmail
from flywheel.mail.consent import ConsentPolicy, may_email
from flywheel.services.context import Ports
from flywheel.services.reads import contacts_of

NO_OWNER = "il tuo referente commerciale"


def consenting_recipients(ports: Ports, company_ids: Iterable[str]) -> dict[str, list[Contact]]:
    """Each company's contacts who may be emailed, by the same policy as nurture_step: the primary consenting
    contact, or every consenting contact with `FLYWHEEL_NURTURE__RECIPIENTS=all`. Consent is checked again at
    send time by the executor."""
    ids = sorted(set(company_ids))
    if not ids:
        return {}
    consent = ConsentPolicy.from_settings(ports.settings)
    everyone = ports.settings.nurture.recipients == "all"
    found: dict[str, list[Contact]] = {}
    for company_id, contacts in contacts_of(ports, ids).items():
        allowed = [contact for contact in contacts if may_email(contact, consent)]
        found[company_id] = allowed if everyone else allowed[:1]
    return found


def owner_name(ports: Ports, company: Company) -> str:
    owner = ports.schema.owner(company.owner_id)
    return owner.full_name if owner else NO_OWNER


def contact_name(contact: Contact) -> str:
    return " ".join(n for n in (contact.first_name, contact.last_name) if n) or "Cliente"


def reached(actions: Sequence[SendEmail], report: ExecutionReport) -> bool:
    """Whether at least one of the emails is known to have gone out (now or on an earlier run)."""
    return any(a.key in report.results and report.results[a.key].get("message_id") for a in actions)


def money(value: Decimal) -> float:
    """A euro amount for a summary: two decimals."""
    return float(value.quantize(Decimal("0.01")))
