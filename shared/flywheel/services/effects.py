"""Carrying out a service's actions exactly once under at-least-once triggers.

Every effect that is not naturally idempotent (creating a deal or task, sending an email) goes through the one
idempotency primitive (services/idempotency.py): claim the key -> act -> complete, or release when nothing was
done. A key is looked up in HubSpot by its `flywheel_key` before a deal or task is created, one search per 100
keys: a reclaimed key (an earlier attempt may have acted) and a fresh one alike, so a new or lost state store
never creates anything twice. An email whose outcome was unknown is recovered through the mailer (the outbox can
tell, HubSpot deduplicates by sendId); where it cannot be (SES) it stays `uncertain`: never resent, never counted
as sent. An email the mailer knows did not go out frees its key, so the next run sends it.
Every completed effect that is a touch of a flow (an email sent, a Wake Up deal, a recontact task) is recorded
for the report's attribution (services/report/touches.py).

Property updates (companies, contacts, deal stages) are idempotent and go out in batches of 100; a record HubSpot
refuses is counted with the reason (`failed:update_company`) and the others proceed.
HubSpot calls are never made inside a state-store transaction.

Every email is built here, at send time, for every function alike: Reply-To the company's owner (a person, not the
sender address), a signed unsubscribe link in the footer and the List-Unsubscribe headers, and for the reactivation
email the owner's booking page when `cold.meeting_links` has one. No email goes out without the link's settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from flywheel.config import unsubscribe_link_settings
from flywheel.domain.models import (
    Action,
    CreateDeal,
    CreateTask,
    CrmRecord,
    ExecutionReport,
    MoveDeal,
    NotifyOwner,
    Owner,
    SendEmail,
    UpdateCompany,
    UpdateContact,
)
from flywheel.mail.consent import ConsentPolicy, consent_refusal
from flywheel.mail.links import link_expiry, unsubscribe_link
from flywheel.mail.templates import render
from flywheel.ports import AssociationTarget, CrmError, EmailMessage, MailerError, Reservation
from flywheel.services.context import Ports
from flywheel.services.mapping import contact_properties, to_contact
from flywheel.services.report import touches

log = logging.getLogger(__name__)

# keys claimed and looked up in HubSpot together: one search answers 100 keys
LOOKUP_CHUNK = 100

Create = CreateDeal | CreateTask
Keyed = Create | SendEmail | NotifyOwner
# the template name an owner's alert is sent under (outbox files, SES tags, HubSpot's email id mapping)
OWNER_ALERT_TEMPLATE = "avviso_proprietario"


@dataclass
class _Sorted:
    """The actions of a run by kind, in the order they are carried out."""

    companies: list[UpdateCompany] = field(default_factory=list)
    contacts: list[UpdateContact] = field(default_factory=list)
    moves: list[MoveDeal] = field(default_factory=list)
    creates: list[Create] = field(default_factory=list)
    emails: list[SendEmail] = field(default_factory=list)
    alerts: list[NotifyOwner] = field(default_factory=list)

    @classmethod
    def of(cls, actions: Sequence[Action]) -> _Sorted:
        found = cls()
        for action in actions:
            match action:
                case UpdateCompany():
                    found.companies.append(action)
                case UpdateContact():
                    found.contacts.append(action)
                case MoveDeal():
                    found.moves.append(action)
                case CreateDeal() | CreateTask():
                    found.creates.append(action)
                case SendEmail():
                    found.emails.append(action)
                case NotifyOwner():
                    found.alerts.append(action)
        return found


class EffectExecutor:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports
        self.contract = ports.settings.portal
        self.idempotency = ports.idempotency
        # set when the run has emails: (secret, entry URL) of the unsubscribe links, and each company's owner
        self._links: tuple[str, str] = ("", "")
        self._owners: dict[str, Owner | None] = {}

    def execute(self, actions: Sequence[Action]) -> ExecutionReport:
        """Idempotent property writes first (batched), then creates and emails, each exactly once."""
        report = ExecutionReport()
        work = _Sorted.of(actions)
        self._write("companies", [(a, a.company_id, a.properties) for a in work.companies], "updated", report)
        self._write("contacts", [(a, a.contact_id, a.properties) for a in work.contacts], "updated", report)
        moves = [(a, a.deal_id, {"dealstage": a.stage, **(a.properties or {})}) for a in work.moves]
        self._write("deals", moves, "moved", report)
        for start in range(0, len(work.creates), LOOKUP_CHUNK):
            self._create_once(work.creates[start : start + LOOKUP_CHUNK], report)
        if work.emails:
            # before any key is claimed: no email goes out without a working unsubscribe link
            self._links = unsubscribe_link_settings(self.ports.settings)
            self._owners = self._owners_for(work.emails)
        contacts = self._contacts_for(work.emails)
        for email in work.emails:
            self._deliver_once(email, partial(self._message, email, contacts), report)
        for alert in work.alerts:
            self._deliver_once(alert, partial(self._alert_message, alert), report)
        return report

    # --- exactly once ------------------------------------------------------------------------------------------

    def _claim(self, action: Keyed, report: ExecutionReport) -> Reservation | None:
        """The claim on the action's key when it is ours to act on; None (counted) when it is done or held."""
        claim = self.idempotency.claim(action.key)
        if claim.status == "done":
            result = claim.result or {}
            if result.get("uncertain"):
                report.count("skipped_uncertain", action)  # never counted as delivered
            else:
                report.count("skipped_done", action)
                report.results[action.key] = result
            return None
        if claim.status == "held":
            report.count("skipped_held", action)
            return None
        return claim

    def _create_once(self, actions: Sequence[Create], report: ExecutionReport) -> None:
        """Deals and tasks: claim a chunk of keys, look them all up in HubSpot in one search per object type,
        record what exists already, create the rest."""
        claims = [(action, claim) for action in actions if (claim := self._claim(action, report)) is not None]
        found: dict[str, CrmRecord] = {}
        for object_type in ("deals", "tasks"):
            keys = [c.key for a, c in claims if _object_type(a) == object_type]
            if keys:
                try:
                    found |= self.ports.crm.find_by_values(object_type, self.contract.flywheel_key, keys)
                except CrmError as error:
                    # without the lookup a create could duplicate: keep the keys for the next run
                    for action, claim in claims:
                        if _object_type(action) == object_type:
                            self._failed(action, claim, error, report, outcome_known=False)
                    claims = [(a, c) for a, c in claims if _object_type(a) != object_type]
        for action, claim in claims:
            existing = found.get(claim.key)
            if existing is not None:
                # an earlier attempt (or a run on another state store) created it: record it, create nothing
                self._done(action, claim, {"id": existing.id, "found_existing": True}, "found_existing", report)
                continue
            try:
                result = self._create_deal(action) if isinstance(action, CreateDeal) else self._create_task(action)
            except CrmError as error:
                # a create that failed transiently may have happened: keep the key, the lookup settles it
                self._failed(action, claim, error, report, outcome_known=not error.transient)
                continue
            self._done(action, claim, result, "created", report)

    def _deliver_once(
        self, action: SendEmail | NotifyOwner, build: Callable[[], EmailMessage | str], report: ExecutionReport
    ) -> None:
        """An email exactly once: `build` renders it, or says why it may not go (consent, no address)."""
        claim = self._claim(action, report)
        if claim is None:
            return
        try:
            message = build()
            if isinstance(message, str):
                # nothing was sent (no consent): free the key so a later run may act once consent is given
                self.idempotency.release(claim)
                report.count(f"refused_{message}", action)
                return
            if claim.status == "reclaimed":
                receipt = self.ports.mailer.recover(message)
                if receipt is None:
                    self._done(action, claim, {"uncertain": True}, "uncertain", report, delivered=False)
                    return
                outcome = "reconciled"
            else:
                receipt = self.ports.mailer.send(message)
                outcome = "sent"
        except MailerError as error:
            self._failed(action, claim, error, report, outcome_known=error.nothing_sent)
            return
        except Exception:
            # a template or data error before anything went out: the key must not stay held
            self.idempotency.release(claim)
            raise
        self._done(action, claim, {"message_id": receipt.message_id, "channel": receipt.channel}, outcome, report)

    def _done(
        self,
        action: Keyed,
        claim: Reservation,
        result: Mapping[str, Any],
        outcome: str,
        report: ExecutionReport,
        *,
        delivered: bool = True,
    ) -> None:
        if not self.idempotency.complete(claim, result):
            # our lease ran out and another worker holds the key now: it will find what we did by lookup
            log.warning("%s completed after its lease was taken over", claim.key)
        report.count(outcome, action)
        if delivered:
            report.results[claim.key] = result
            touches.record(self.ports.state, action, claim.key, outcome, self.ports.clock.today())

    def _failed(
        self,
        action: Keyed,
        claim: Reservation,
        error: CrmError | MailerError,
        report: ExecutionReport,
        *,
        outcome_known: bool,
    ) -> None:
        """Nothing happened (refused, or the mailer knows nothing went out): free the key so the next run acts.
        Outcome unknown: keep the key; the next run reconciles it before acting again."""
        if outcome_known:
            self.idempotency.release(claim)
        if error.transient:
            report.count("failed_transient", action)
            log.warning("transient failure on %s: %s", claim.key, error)
        else:
            report.count("failed", action)
            report.refusals[claim.key] = str(error)
            log.error("refused %s: %s", claim.key, error)

    # --- effects -----------------------------------------------------------------------------------------------

    def _create_deal(self, action: CreateDeal) -> Mapping[str, Any]:
        properties = dict(action.properties)
        properties[self.contract.flywheel_key] = action.key
        if action.pipeline:
            properties["pipeline"] = action.pipeline
        if action.stage:
            properties["dealstage"] = action.stage
        if action.owner_id:
            properties["hubspot_owner_id"] = action.owner_id
        targets = [AssociationTarget("companies", action.company_id)]
        targets += [AssociationTarget("contacts", cid) for cid in action.contact_ids or []]
        record = self.ports.crm.create("deals", properties, targets)
        return {"id": record.id}

    def _create_task(self, action: CreateTask) -> Mapping[str, Any]:
        properties = {
            "hs_task_subject": action.subject,
            "hs_task_body": action.body or "",
            "hs_task_status": "NOT_STARTED",
            "hs_task_type": "TODO",
            "hs_task_priority": "MEDIUM",
            self.contract.flywheel_key: action.key,
            **(action.properties or {}),
        }
        if action.due is not None:
            properties["hs_timestamp"] = action.due.isoformat()
        if action.owner_id:
            properties["hubspot_owner_id"] = action.owner_id
        targets = [AssociationTarget("companies", action.company_id)]
        if action.deal_id:
            targets.append(AssociationTarget("deals", action.deal_id))
        record = self.ports.crm.create("tasks", properties, targets)
        return {"id": record.id}

    def _message(self, action: SendEmail, contacts: Mapping[str, CrmRecord]) -> EmailMessage | str:
        """The rendered email, or why the contact may not receive it (consent is checked at send time)."""
        record = contacts.get(action.contact_id)
        if record is None:
            return "unknown_contact"
        contact = to_contact(record, self.contract)
        refusal = consent_refusal(contact, ConsentPolicy.from_settings(self.ports.settings))
        if refusal is not None or contact.email is None:
            return refusal or "no_email"
        settings = self.ports.settings
        owner = self._owners.get(action.company_id)
        # a reply reaches a person: the Wake Up emails' the assistant who works the pipeline, the others' the owner
        # (the assistant too for a company nobody owns, rather than the unread sender address)
        assistant = self.ports.schema.sales_assistant
        replier = assistant if action.template in settings.mail.assistant_templates else owner or assistant
        secret, entry = self._links
        expires = link_expiry(self.ports.clock.today(), settings.mail.unsubscribe_valid_days)
        unsubscribe = unsubscribe_link(entry, secret, contact.id, expires)
        context = {**(action.context or {}), "unsubscribe_url": unsubscribe}
        booking = settings.cold.meeting_links if action.template == settings.cold.reactivation_template else {}
        meeting = _meeting_link(booking, owner)
        if meeting:
            context["meeting_url"] = meeting
        subject, body = render(action.template, context)
        return EmailMessage(
            key=action.key,
            template=action.template,
            company_id=action.company_id,
            contact_id=contact.id,
            to_email=contact.email,
            subject=subject,
            body_text=body,
            context=context,
            reply_to=replier.email if replier else None,
            unsubscribe_url=unsubscribe,
        )

    def _alert_message(self, action: NotifyOwner) -> EmailMessage | str:
        """The owner's alert (the sales assistant's for a company nobody owns), to the address HubSpot has for
        them. An internal message: no consent gate, no unsubscribe link."""
        owner = self.ports.schema.owner(action.owner_id) or self.ports.schema.sales_assistant
        if owner is None or not owner.email:
            return "no_owner_email"
        return EmailMessage(
            key=action.key,
            template=OWNER_ALERT_TEMPLATE,
            company_id=action.company_id,
            contact_id=f"owner:{owner.id}",
            to_email=owner.email,
            subject=action.subject,
            body_text=action.body or action.subject,
        )

    def _owners_for(self, emails: Sequence[SendEmail]) -> dict[str, Owner | None]:
        """Each emailed company's owner, read at send time (one batch read per 100 companies)."""
        ids = sorted({a.company_id for a in emails})
        records = self.ports.crm.read_batch("companies", ids, ["hubspot_owner_id"])
        return {r.id: self.ports.schema.owner(r.prop("hubspot_owner_id")) for r in records}

    def _contacts_for(self, emails: Sequence[SendEmail]) -> dict[str, CrmRecord]:
        """Consent is read fresh at send time, not trusted from when the action was decided."""
        ids = sorted({a.contact_id for a in emails})
        if not ids:
            return {}
        records = self.ports.crm.read_batch("contacts", ids, contact_properties(self.contract))
        return {r.id: r for r in records}

    def _write(
        self,
        object_type: str,
        writes: Sequence[tuple[Action, str, Mapping[str, str]]],
        outcome: str,
        report: ExecutionReport,
    ) -> None:
        """(action, record id, properties) as batch updates. A record HubSpot refuses is a failure with HubSpot's
        reason; it does not fail the run or the others."""
        if not writes:
            return
        refusals = self.ports.crm.update_batch(object_type, [(record, properties) for _, record, properties in writes])
        refused = {r.record_id: r.reason for r in refusals}
        for action, record, _ in writes:
            reason = refused.get(record)
            if reason is None:
                report.count(outcome, action)
            else:
                report.count("failed", action)
                report.refusals[f"{action.type}:{record}"] = reason


def _meeting_link(links: Mapping[str, str], owner: Owner | None) -> str | None:
    """The owner's booking page from `cold.meeting_links` (keyed by owner email, any case)."""
    if owner is None:
        return None
    wanted = owner.email.strip().casefold()
    return next((url for email, url in links.items() if email.strip().casefold() == wanted and url.strip()), None)


def _object_type(action: Create) -> str:
    return "deals" if isinstance(action, CreateDeal) else "tasks"
