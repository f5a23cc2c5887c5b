"""What one cold_segment run decides: its actions and the records it will keep."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from datetime import date

from flywheel.domain import segments
from flywheel.domain.models import Action, Company, CreateTask
from flywheel.domain.segments import WakeupDeal
from flywheel.services.context import Ports
from flywheel.services.portal import PortalSchema


@dataclasses.dataclass
class Plan:
    actions: list[Action] = dataclasses.field(default_factory=list)
    segment_size: int = 0
    excluded: Counter[str] = dataclasses.field(default_factory=Counter)
    recontact_candidates: int = 0
    eligible: int = 0
    queue: segments.WakeupQueue | None = None
    # company id -> (spell, task key) of the recontact tasks decided this run
    recontacts: dict[str, tuple[date, str]] = dataclasses.field(default_factory=dict)
    # company id -> task 2 key, for the series whose 5-business-day check found the owner silent
    second_reminders: dict[str, str] = dataclasses.field(default_factory=dict)
    # company id -> outcome of an activity check, and the email keys it produced
    checks: dict[str, str] = dataclasses.field(default_factory=dict)
    check_keys: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def owner_name(schema: PortalSchema, owner_id: str | None) -> str:
    owner = schema.owner(owner_id)
    return owner.full_name if owner else "non assegnato"


def not_done(ports: Ports, actions: Iterable[Action]) -> list[Action]:
    """Drop daily safety-net actions whose key already completed, so a dry run shows only what a run would do."""
    kept = []
    for action in actions:
        found = ports.state.lookup(action.key) if action.key else None
        if found is None or found.status != "done":
            kept.append(action)
    return kept


def appointment_task(ports: Ports, deal: WakeupDeal, company: Company, as_of: date) -> CreateTask:
    """The owner's task for a fixed Wake Up appointment (the sales assistant's when the company has no owner), due
    by the company calendar: the webhook creates it as the stage moves, the daily run is its safety net."""
    return segments.appointment_task_action(
        deal,
        company.name,
        as_of,
        owner_id=company.owner_id or ports.schema.sales_assistant.id,
        timezone=ports.settings.timezone,
        calendar=ports.settings.calendar.business_calendar(),
    )
