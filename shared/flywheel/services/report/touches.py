"""Touches: the effects Flywheel carried out for a company, kept for the report's attribution.

One state-store document per effect key in the collection `touches` (`{company_id, flow, day}`, day on the
Europe/Rome calendar of the clock when the effect completed): effects are written by many runs at once, and a
document of its own per effect is never a hot spot. Written by the effect executor when an email went out (sent,
or known to have gone out), a Wake Up deal or a recontact task exists; never for a dry run (no effect), an email
refused or whose outcome is unknown.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date

from flywheel.domain.models import Action
from flywheel.domain.report import Touch, touch_flow
from flywheel.ports import StateStore

log = logging.getLogger(__name__)

COLLECTION = "touches"
# outcomes after which the effect is known to have happened
DONE_OUTCOMES = frozenset({"created", "sent", "reconciled", "found_existing"})
# a touch already recorded keeps its day: these outcomes redo the bookkeeping of an earlier attempt
LATE_OUTCOMES = frozenset({"reconciled", "found_existing"})


def record(state: StateStore, action: Action, key: str, outcome: str, day: date) -> bool:
    """Record the touch an action's completed effect is; False when it is none (or could not be written)."""
    flow = touch_flow(action)
    if flow is None or outcome not in DONE_OUTCOMES:
        return False
    try:
        if outcome in LATE_OUTCOMES and state.get_document(COLLECTION, key) is not None:
            return True
        state.put_documents(COLLECTION, {key: {"company_id": action.company_id, "flow": flow, "day": day.isoformat()}})
    except Exception:
        # the effect itself happened and is recorded as done: a missing touch only thins the attribution, while
        # failing the run would answer 5xx for an effect that must not be retried
        log.warning("could not record the touch of %s", key, exc_info=True)
        return False
    return True


def read(state: StateStore, companies: set[str], since: date) -> dict[str, list[Touch]]:
    """The touches of `companies` dated `since` or later, by company, oldest first."""
    found: dict[str, list[Touch]] = defaultdict(list)
    for _key, document in state.iter_documents(COLLECTION):
        company_id = str(document.get("company_id") or "")
        if company_id not in companies:
            continue
        try:
            day = date.fromisoformat(str(document.get("day")))
        except ValueError:
            continue
        if day >= since:
            found[company_id].append(Touch(company_id, str(document.get("flow")), day))
    for touches in found.values():
        touches.sort(key=lambda t: t.day)
    return dict(found)
