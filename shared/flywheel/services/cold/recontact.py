"""Recontact as a series: task 1, the second reminder, the reactivation email, each after the owner stayed
silent, recorded as one sequence per company and quiet spell."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime

from flywheel.domain import segments
from flywheel.domain.models import ExecutionReport
from flywheel.mail.consent import ConsentPolicy, may_email
from flywheel.ports import SequenceRecord
from flywheel.services.cold.names import ACTIVITY_TYPES, RECONTACT_KIND
from flywheel.services.cold.plan import Plan, owner_name
from flywheel.services.cold.portal import (
    Portal,
)
from flywheel.services.context import Ports
from flywheel.services.mapping import (
    parse_instant,
)
from flywheel.services.reads import associated_records, contacts_of


def plan_recontacts(ports: Ports, portal: Portal, as_of: date, plan: Plan) -> None:
    rules, zone = ports.settings.cold, ports.settings.timezone
    calendar = ports.settings.calendar.business_calendar()
    for company in portal.companies.values():
        if company.last_purchase_date is None:
            continue
        # cheap pre-check without history, so the state store is read only for the few candidates
        if not segments.recontact_due(company, as_of, rules, last_task_on=None):
            continue
        plan.recontact_candidates += 1
        record = ports.state.get_sequence(RECONTACT_KIND, company.id)
        data = record.data if record else {}
        if data.get("spell") == company.last_purchase_date.isoformat():
            continue  # this quiet spell already had its task
        last_task_on = date.fromisoformat(data["task_on"]) if data.get("task_on") else None
        if not segments.recontact_due(company, as_of, rules, last_task_on=last_task_on):
            continue
        action = segments.recontact_task_action(
            company, as_of, rules, owner_id=company.owner_id, timezone=zone, calendar=calendar
        )
        plan.actions.append(action)
        plan.recontacts[company.id] = (company.last_purchase_date, action.key or "")


def activity_times(ports: Ports, company_ids: Sequence[str]) -> dict[str, list[datetime]]:
    """When each company's calls, emails, meetings and notes happened and its tasks were completed."""
    times: dict[str, list[datetime]] = defaultdict(list)
    properties = ["hs_timestamp", "hs_task_status", "hs_task_completion_date", "hs_lastmodifieddate"]
    for object_type in ACTIVITY_TYPES:
        engagements = associated_records(ports, "companies", object_type, company_ids, properties)
        for company_id, records in engagements.items():
            for record in records:
                if object_type == "tasks":
                    if (record.prop("hs_task_status") or "").upper() != "COMPLETED":
                        continue
                    moment = parse_instant(record.prop("hs_task_completion_date") or record.prop("hs_lastmodifieddate"))
                else:
                    moment = parse_instant(record.prop("hs_timestamp"))
                if moment is not None:
                    times[company_id].append(moment)
    return times


def plan_recontact_followups(ports: Ports, portal: Portal, as_of: date, plan: Plan) -> None:
    """The series after task 1: the owner's silence 5 business days on earns task 2, still silence 10 days after
    task 1 the reactivation email. Any activity since task 1, or an order, ends the series."""
    due = [r for r in ports.state.due_sequences(RECONTACT_KIND, as_of) if r.status == "waiting"]
    if not due:
        return
    ports.progress(f"cold_segment: checking owner activity on {len(due)} recontacted companies")
    quiet = _still_quiet(portal, due, plan)
    silent = _plan_second_reminders(ports, portal, as_of, quiet, plan)
    _plan_reactivation_emails(ports, portal, silent, plan)


def _still_quiet(portal: Portal, due: Sequence[SequenceRecord], plan: Plan) -> list[SequenceRecord]:
    """The series whose quiet spell goes on; the others are checked off on the plan."""
    # a company that ordered since the task (its quiet spell ended) or left the portal gets nothing more
    reordered: set[str] = set()
    for record in due:
        company = portal.companies.get(record.company_id)
        if company is None or company.last_purchase_date is None:
            plan.checks[record.company_id] = "company_gone"
            reordered.add(record.company_id)
        elif company.last_purchase_date.isoformat() != record.data.get("spell"):
            plan.checks[record.company_id] = "reordered"
            reordered.add(record.company_id)
    return [r for r in due if r.company_id not in reordered]


def _plan_second_reminders(
    ports: Ports, portal: Portal, as_of: date, quiet: Sequence[SequenceRecord], plan: Plan
) -> list[SequenceRecord]:
    """Task 2 for the series at step 1 whose owner stayed silent; returns the silent ones already past task 2,
    due for the reactivation email."""
    activity = activity_times(ports, [r.company_id for r in quiet])
    calendar = ports.settings.calendar.business_calendar()
    silent = []
    for record in quiet:
        created = parse_instant(record.data.get("task_created_at"))
        if created is not None and segments.owner_was_active(created, activity.get(record.company_id, [])):
            plan.checks[record.company_id] = "owner_active"
        elif record.step < 2:
            company = portal.companies[record.company_id]
            action = segments.second_reminder_task_action(
                company,
                date.fromisoformat(record.data["spell"]),
                as_of,
                date.fromisoformat(record.data["task_on"]),
                ports.settings.cold,
                owner_id=company.owner_id,
                timezone=ports.settings.timezone,
                calendar=calendar,
            )
            plan.actions.append(action)
            plan.second_reminders[company.id] = action.key
        else:
            silent.append(record)
    return silent


def _plan_reactivation_emails(ports: Ports, portal: Portal, silent: Sequence[SequenceRecord], plan: Plan) -> None:
    """The reactivation email to each silent company's contacts who may be emailed; with none of them the
    check still closes, so the series does not come due again."""
    rules, schema = ports.settings.cold, ports.schema
    contacts = contacts_of(ports, [r.company_id for r in silent])
    consent = ConsentPolicy.from_settings(ports.settings)
    for record in silent:
        company = portal.companies[record.company_id]
        consenting = [c for c in contacts.get(company.id, []) if may_email(c, consent)]
        emails = segments.reactivation_email_actions(
            company,
            date.fromisoformat(record.data["spell"]),
            consenting,
            template=rules.reactivation_template,
            owner_name=owner_name(schema, company.owner_id),
            ecommerce_url=ports.settings.nurture.ecommerce_url,
        )
        plan.actions.extend(emails)
        plan.checks[company.id] = "emailed" if emails else "no_consenting_contact"
        plan.check_keys[company.id] = [a.key or "" for a in emails]


def record_recontacts(ports: Ports, plan: Plan, report: ExecutionReport, as_of: date) -> None:
    """A sequence record per recontact task created (or found done), due for its 5-business-day check."""
    rules, calendar = ports.settings.cold, ports.settings.calendar.business_calendar()
    for company_id, (spell, key) in plan.recontacts.items():
        result = report.results.get(key)
        if not result or "id" not in result:
            continue  # not created (transient failure): the next run decides again
        created_at = ports.clock.now().astimezone(UTC)
        ports.state.put_sequence(
            recontact_record(
                company_id,
                spell,
                key,
                str(result["id"]),
                created_at,
                as_of,
                segments.second_reminder_on(as_of, rules, calendar=calendar),
            )
        )


def record_second_reminders(ports: Ports, plan: Plan, report: ExecutionReport, as_of: date) -> None:
    """Step 2 of the series once task 2 exists, due for the email check; a task 2 not created (a transient
    failure) leaves the record due, so the next run tries again under the same key."""
    rules = ports.settings.cold
    for company_id, key in plan.second_reminders.items():
        result = report.results.get(key)
        record = ports.state.get_sequence(RECONTACT_KIND, company_id)
        if not result or "id" not in result or record is None or record.step >= 2:
            continue
        task_on = date.fromisoformat(record.data["task_on"])
        record.step = 2
        record.next_due = segments.after_second_reminder(task_on, as_of, rules)
        record.data = {**record.data, "second_key": key, "second_id": str(result["id"]), "second_on": as_of.isoformat()}
        ports.state.put_sequence(record)


def recontact_record(
    company_id: str, spell: date, key: str, task_id: str, created_at: datetime, as_of: date, next_due: date
) -> SequenceRecord:
    return SequenceRecord(
        kind=RECONTACT_KIND,
        id=company_id,
        company_id=company_id,
        status="waiting",
        step=1,
        next_due=next_due,
        data={
            "spell": spell.isoformat(),
            "task_key": key,
            "task_id": task_id,
            "task_on": as_of.isoformat(),
            "task_created_at": created_at.isoformat(),
        },
    )


def close_checks(ports: Ports, plan: Plan) -> None:
    """Close each activity check, unless one of its emails is still pending (a transient failure): then the
    next run sees the record due again and the executor reconciles the pending key."""
    for company_id, outcome in plan.checks.items():
        keys = plan.check_keys.get(company_id, [])
        pending = [k for k in keys if (found := ports.state.lookup(k)) is not None and found.status != "done"]
        if pending:
            continue
        record = ports.state.get_sequence(RECONTACT_KIND, company_id)
        if record is None:
            continue
        record.status, record.next_due = outcome, None
        record.data = {**record.data, "checked_on": ports.clock.today().isoformat()}
        ports.state.put_sequence(record)
