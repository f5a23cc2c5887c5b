"""Carrying out a service's actions exactly once under at-least-once triggers.

Every effect that is not naturally idempotent (creating a deal or task, sending an email) goes through the one
idempotency primitive (services/idempotency.py): claim the key -> act -> complete, or release when nothing was
done. A key is looked up in HubSpot by its `flywheel_key` before a deal or task is created, one search per 100
keys: a reclaimed key (an earlier attempt may have acted) and a fresh one alike, so a new or lost state store
never creates anything twice. An email whose outcome was unknown is recovered through the mailer (the outbox can
tell, HubSpot deduplicates by sendId); where it cannot be (SES) it stays `uncertain`: never resent, never counted
as sent. An email the mailer knows did not go out frees its key, so the next run sends it.

Property updates (companies, contacts, deal stages) are idempotent and go out in batches of 100; a record HubSpot
refuses is counted with the reason (`failed:update_company`) and the others proceed.
HubSpot calls are never made inside a state-store transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flywheel.domain.models import Action, CrmRecord
from flywheel.mail.consent import ConsentPolicy, consent_refusal
from flywheel.mail.templates import render
from flywheel.ports import AssociationTarget, CrmError, EmailMessage, MailerError, RecordRefusal, Reservation
from flywheel.services.context import Ports
from flywheel.services.mapping import contact_properties, to_contact

log = logging.getLogger(__name__)

# keys claimed and looked up in HubSpot together: one search answers 100 keys
LOOKUP_CHUNK = 100
CREATES = ("create_deal", "create_task", "notify_owner")


@dataclass
class ExecutionReport:
    """What happened to the actions, by outcome and type (`created:create_task`, `skipped_done:send_email`...).

    `results` holds the recorded result of every effect known to have happened (a message id for an email),
    by key; an email whose outcome is unknown is never in it."""

    outcomes: Counter[str] = field(default_factory=Counter)
    results: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    refusals: dict[str, str] = field(default_factory=dict)

    def count(self, outcome: str, action: Action) -> None:
        self.outcomes[f"{outcome}:{action.type}"] += 1

    def merge(self, other: ExecutionReport) -> None:
        self.outcomes.update(other.outcomes)
        self.results.update(other.results)
        self.refusals.update(other.refusals)

    @property
    def transient_failures(self) -> int:
        """Effects that failed for a reason that may pass (their keys are free or kept for reconciliation): the
        caller answers 503 so that the trigger is retried."""
        return self.total("failed_transient")

    def total(self, outcome: str) -> int:
        return sum(n for k, n in self.outcomes.items() if k.split(":", 1)[0] == outcome)

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.outcomes.items()))


class EffectExecutor:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports
        self.contract = ports.settings.portal
        self.idempotency = ports.idempotency

    def execute(self, actions: Sequence[Action]) -> ExecutionReport:
        report = ExecutionReport()
        self._update_in_batches("companies", [a for a in actions if a.type == "update_company"], report)
        self._update_in_batches("contacts", [a for a in actions if a.type == "update_contact"], report)
        self._move_deals([a for a in actions if a.type == "move_deal"], report)
        creates = [a for a in actions if a.type in CREATES]
        for start in range(0, len(creates), LOOKUP_CHUNK):
            self._create_once(creates[start : start + LOOKUP_CHUNK], report)
        emails = [a for a in actions if a.type == "send_email"]
        contacts = self._contacts_for(emails)
        for action in emails:
            self._email_once(action, contacts, report)
        return report

    # --- exactly once ------------------------------------------------------------------------------------------

    def _claim(self, action: Action, report: ExecutionReport) -> Reservation | None:
        """The claim on the action's key when it is ours to act on; None (counted) when it is done or held."""
        if action.key is None:
            raise ValueError(f"{action.type} for company {action.company_id} has no idempotency key")
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

    def _create_once(self, actions: Sequence[Action], report: ExecutionReport) -> None:
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
            perform = self._create_deal if action.type == "create_deal" else self._create_task
            try:
                result = perform(action)
            except CrmError as error:
                # a create that failed transiently may have happened: keep the key, the lookup settles it
                self._failed(action, claim, error, report, outcome_known=not error.transient)
                continue
            self._done(action, claim, result, "created", report)

    def _email_once(self, action: Action, contacts: Mapping[str, CrmRecord], report: ExecutionReport) -> None:
        claim = self._claim(action, report)
        if claim is None:
            return
        try:
            message = self._message(action, contacts)
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
        action: Action,
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

    def _failed(
        self,
        action: Action,
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

    def _create_deal(self, action: Action) -> Mapping[str, Any]:
        properties = dict(action.properties or {})
        properties[self.contract.flywheel_key] = action.key or ""
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

    def _create_task(self, action: Action) -> Mapping[str, Any]:
        properties = {
            "hs_task_subject": action.subject or "",
            "hs_task_body": action.body or "",
            "hs_task_status": "NOT_STARTED",
            "hs_task_type": "TODO",
            "hs_task_priority": "HIGH" if action.type == "notify_owner" else "MEDIUM",
            self.contract.flywheel_key: action.key or "",
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

    def _message(self, action: Action, contacts: Mapping[str, CrmRecord]) -> EmailMessage | str:
        """The rendered email, or why the contact may not receive it (consent is checked at send time)."""
        record = contacts.get(action.contact_id or "")
        if record is None:
            return "unknown_contact"
        contact = to_contact(record, self.contract)
        refusal = consent_refusal(contact, ConsentPolicy.from_settings(self.ports.settings))
        if refusal is not None or contact.email is None:
            return refusal or "no_email"
        context = dict(action.context or {})
        subject, body = render(action.template or "", context)
        return EmailMessage(
            key=action.key or "",
            template=action.template or "",
            company_id=action.company_id,
            contact_id=contact.id,
            to_email=contact.email,
            subject=subject,
            body_text=body,
            context=context,
        )

    def _contacts_for(self, emails: Sequence[Action]) -> dict[str, CrmRecord]:
        """Consent is read fresh at send time, not trusted from when the action was decided."""
        ids = sorted({a.contact_id for a in emails if a.contact_id})
        if not ids:
            return {}
        records = self.ports.crm.read_batch("contacts", ids, contact_properties(self.contract))
        return {r.id: r for r in records}

    def _update_in_batches(self, object_type: str, actions: Sequence[Action], report: ExecutionReport) -> None:
        if not actions:
            return
        updates: list[tuple[str, Mapping[str, str]]] = []
        for action in actions:
            target = action.contact_id if object_type == "contacts" else action.company_id
            updates.append((target or action.company_id, action.properties or {}))
        refusals = self.ports.crm.update_batch(object_type, updates)
        self._count_updates(actions, refusals, "updated", report, contacts=object_type == "contacts")

    def _move_deals(self, actions: Sequence[Action], report: ExecutionReport) -> None:
        if not actions:
            return
        updates: list[tuple[str, Mapping[str, str]]] = []
        for action in actions:
            if action.deal_id is None or action.stage is None:
                raise ValueError(f"move_deal for company {action.company_id} needs deal_id and stage")
            updates.append((action.deal_id, {"dealstage": action.stage, **(action.properties or {})}))
        refusals = self.ports.crm.update_batch("deals", updates)
        self._count_updates(actions, refusals, "moved", report, deals=True)

    def _count_updates(
        self,
        actions: Sequence[Action],
        refusals: Sequence[RecordRefusal],
        outcome: str,
        report: ExecutionReport,
        *,
        contacts: bool = False,
        deals: bool = False,
    ) -> None:
        """A refused record is a failure with HubSpot's reason; it does not fail the run or the others."""
        refused = {r.record_id: r.reason for r in refusals}
        for action in actions:
            target = action.deal_id if deals else action.contact_id if contacts else action.company_id
            reason = refused.get(target or action.company_id)
            if reason is None:
                report.count(outcome, action)
            else:
                report.count("failed", action)
                report.refusals[f"{action.type}:{target}"] = reason


def _object_type(action: Action) -> str:
    return "deals" if action.type == "create_deal" else "tasks"
