"""What cashback_21st and dp_progress share when they write to a customer: who receives the email (the nurture
recipients policy behind the one consent gate), how the company's owner is named, which companies an email
actually reached, and the end of a run (send through the effect executor, count, record, the run's result)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from flywheel.domain.models import Action, Company, Contact, ExecutionReport, RunResult, SendEmail
from flywheel.mail.consent import ConsentPolicy, may_email
from flywheel.services.context import Ports
from flywheel.services.effects import EffectExecutor
from flywheel.services.reads import contacts_of

NO_OWNER = "il tuo referente commerciale"


class Plan(Protocol):
    """One company a run means to write to, and the emails it gets (one per recipient, once addressed)."""

    company: Company
    actions: list[SendEmail]


P = TypeVar("P", bound=Plan)


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


def address(ports: Ports, plans: Sequence[P], email: Callable[[P, Contact], SendEmail]) -> list[P]:
    """Give each plan one email per contact of its company who may receive it (`consenting_recipients`); the
    plans whose company has nobody to write to, in their order, are returned and keep no email."""
    recipients = consenting_recipients(ports, [plan.company.id for plan in plans])
    nobody: list[P] = []
    for plan in plans:
        contacts = recipients.get(plan.company.id, [])
        if contacts:
            plan.actions = [email(plan, contact) for contact in contacts]
        else:
            nobody.append(plan)
    return nobody


def send_and_report(
    ports: Ports,
    plans: Sequence[P],
    *,
    function: str,
    as_of: date,
    dry_run: bool,
    summary: dict[str, Any],
    count: Callable[[Sequence[P]], None],
    record: Callable[[Sequence[P]], None],
) -> RunResult:
    """The end of a run: the plans' emails go through the effect executor (none on a dry run); `count` is given
    the plans whose emails reached their company (on a dry run, those that would be sent) and `record` (never on
    a dry run) the same; the summary gets the emails sent (and the executor's report) and becomes the result's."""
    sending = [plan for plan in plans if plan.actions]
    actions: list[Action] = [action for plan in sending for action in plan.actions]
    if dry_run:
        count(sending)
        summary["emails"] = len(actions)
        report = ExecutionReport()
    else:
        report = EffectExecutor(ports).execute(actions)
        delivered = [plan for plan in sending if reached(plan.actions, report)]
        count(delivered)
        summary["emails"] = report.total("sent") + report.total("reconciled")
        summary["effects"] = report.as_dict()
        record(delivered)
    return RunResult(function=function, as_of=as_of, dry_run=dry_run, actions=actions, summary=summary, report=report)
