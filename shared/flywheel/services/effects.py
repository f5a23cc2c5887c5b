"""Carrying out a service's actions exactly once under at-least-once triggers.

Every effect that is not naturally idempotent (creating a deal or task, sending an email) runs as
reserve(key) -> act -> complete(key, result). A reservation whose lease ran out without completing may have
acted already: before retrying, the effect is looked up in HubSpot by its `flywheel_key` property. Emails have no
such lookup, so a reclaimed email is not resent: at most once beats twice for a customer's inbox.

Property updates (companies, contacts, deal stages) are idempotent and go out in batches of 100.
HubSpot calls are never made inside a state-store transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flywheel.domain.models import Action, CrmRecord
from flywheel.mail.consent import consent_refusal
from flywheel.mail.templates import render
from flywheel.ports import AssociationTarget, CrmError, EmailMessage, MailerError
from flywheel.services.context import Ports
from flywheel.services.mapping import contact_properties, to_contact

log = logging.getLogger(__name__)


@dataclass
class ExecutionReport:
    """What happened to the actions, by outcome and type (`created:create_task`, `skipped_done:send_email`...)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    results: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def count(self, outcome: str, action: Action) -> None:
        self.outcomes[f"{outcome}:{action.type}"] += 1

    def merge(self, other: ExecutionReport) -> None:
        self.outcomes.update(other.outcomes)
        self.results.update(other.results)

    @property
    def transient_failures(self) -> int:
        """Effects whose outcome is unknown: their keys stay reserved, and the next run reconciles them."""
        return self.total("failed_transient")

    def total(self, outcome: str) -> int:
        return sum(n for k, n in self.outcomes.items() if k.split(":", 1)[0] == outcome)

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.outcomes.items()))


class EffectExecutor:
    def __init__(self, ports: Ports) -> None:
        self.ports = ports
        self.contract = ports.settings.portal
        self.lease = timedelta(seconds=ports.settings.effect_lease_seconds)

    def execute(self, actions: Sequence[Action]) -> ExecutionReport:
        report = ExecutionReport()
        self._update_in_batches("companies", [a for a in actions if a.type == "update_company"], report)
        self._update_in_batches("contacts", [a for a in actions if a.type == "update_contact"], report)
        self._move_deals([a for a in actions if a.type == "move_deal"], report)
        emails = [a for a in actions if a.type == "send_email"]
        contacts = self._contacts_for(emails)
        for action in actions:
            if action.type == "create_deal":
                self._once(action, report, self._create_deal, self._find_by_key("deals"))
            elif action.type in ("create_task", "notify_owner"):
                self._once(action, report, self._create_task, self._find_by_key("tasks"))
            elif action.type == "send_email":
                self._once(action, report, lambda a: self._send_email(a, contacts), None)
        return report

    # --- exactly once ------------------------------------------------------------------------------------------

    def _once(
        self,
        action: Action,
        report: ExecutionReport,
        perform: Callable[[Action], Mapping[str, Any]],
        reconcile: Callable[[str], Mapping[str, Any] | None] | None,
    ) -> None:
        if action.key is None:
            raise ValueError(f"{action.type} for company {action.company_id} has no idempotency key")
        state, now = self.ports.state, self.ports.clock.now()
        reservation = state.reserve(action.key, now=now, lease=self.lease)
        if reservation.status == "done":
            report.count("skipped_done", action)
            report.results[action.key] = reservation.result or {}
            return
        if reservation.status == "held":
            report.count("skipped_held", action)
            return
        if reservation.status == "reclaimed":
            found = reconcile(action.key) if reconcile else {"uncertain": True}
            if found is not None:
                # the earlier attempt acted (or, for email, may have): record it rather than act twice
                state.complete(action.key, {**found, "reconciled": True}, now=now)
                report.count("reconciled", action)
                report.results[action.key] = found
                return
        try:
            result = perform(action)
        except (CrmError, MailerError) as error:
            if error.transient:
                # outcome unknown: keep the reservation so that the next run reconciles before retrying
                report.count("failed_transient", action)
                log.warning("transient failure on %s: %s", action.key, error)
            else:
                state.release(action.key)
                report.count("failed", action)
                log.error("refused %s: %s", action.key, error)
            return
        if result.get("refused"):
            # nothing was done (no consent): free the key so a later run may act once consent is given
            state.release(action.key)
            report.count(f"refused_{result['refused']}", action)
            return
        state.complete(action.key, result, now=self.ports.clock.now())
        report.count("created" if action.type != "send_email" else "sent", action)
        report.results[action.key] = result

    def _find_by_key(self, object_type: str) -> Callable[[str], Mapping[str, Any] | None]:
        def find(key: str) -> Mapping[str, Any] | None:
            record = self.ports.crm.find_one(object_type, self.contract.flywheel_key, key)
            return None if record is None else {"id": record.id}

        return find

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

    def _send_email(self, action: Action, contacts: Mapping[str, CrmRecord]) -> Mapping[str, Any]:
        record = contacts.get(action.contact_id or "")
        if record is None:
            return {"refused": "unknown_contact"}
        contact = to_contact(record, self.contract)
        refusal = consent_refusal(contact)
        if refusal is not None or contact.email is None:
            return {"refused": refusal or "no_email"}
        context = dict(action.context or {})
        subject, body = render(action.template or "", context)
        message = EmailMessage(
            key=action.key or "",
            template=action.template or "",
            company_id=action.company_id,
            contact_id=contact.id,
            to_email=contact.email,
            subject=subject,
            body_text=body,
            context=context,
        )
        receipt = self.ports.mailer.send(message)
        return {"message_id": receipt.message_id, "channel": receipt.channel}

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
        self.ports.crm.update_batch(object_type, updates)
        for action in actions:
            report.count("updated", action)

    def _move_deals(self, actions: Sequence[Action], report: ExecutionReport) -> None:
        if not actions:
            return
        updates: list[tuple[str, Mapping[str, str]]] = []
        for action in actions:
            if action.deal_id is None or action.stage is None:
                raise ValueError(f"move_deal for company {action.company_id} needs deal_id and stage")
            updates.append((action.deal_id, {"dealstage": action.stage, **(action.properties or {})}))
        self.ports.crm.update_batch("deals", updates)
        for action in actions:
            report.count("moved", action)
