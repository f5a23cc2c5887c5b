"""`nurture_step`: the five-email sequence for lukewarm customers, one step per company per run at most.

A daily run:
1. reads the active sequences from the state store (a query by due date, never a scan of all companies) and
   searches HubSpot for companies whose `last_purchase_date` entered the enrolment window;
2. re-reads those companies (and, for the ones about to receive an email or showing a newer last order, their
   order deals) to end any sequence an order has ended, as `converted`;
3. sends each due step to the consenting contacts through the effect executor, exactly once per
   company/spell/step/contact, and advances a record only for a step that actually went out;
4. shows the state on the company (`nurture_step`, `nurture_status`) and, after the fifth step, suspends the
   e-commerce account once.
The order webhook ends a running sequence at once, so that no further step goes out after an order.

Every state write re-reads the record first and never turns an ended sequence back into an active one, so a
run racing the webhook (or another run) cannot resurrect what the other ended.

The modules: names (what the function and its records are called), records (the stored sequence and its
safe write), plan (a run's day and per-enrolment plan), enrolment (whom a run looks at), conversions (orders
that end a sequence), emails and coupon (what a step sends), company (what HubSpot shows, the suspension),
summary (the run's result), daily (the run in order), webhook (the order webhook).
"""

from __future__ import annotations

from flywheel.config import require_coupon_secret
from flywheel.domain.models import RunRequest, RunResult
from flywheel.services.context import Ports
from flywheel.services.nurture.daily import run_daily
from flywheel.services.nurture.names import FUNCTION, KIND
from flywheel.services.nurture.plan import DailyRun
from flywheel.services.nurture.records import from_record, to_record
from flywheel.services.nurture.summary import SUMMARY_TOTALS
from flywheel.services.nurture.webhook import webhook

__all__ = ["FUNCTION", "KIND", "SUMMARY_TOTALS", "Request", "from_record", "run", "to_record", "webhook"]


class Request(RunRequest):
    backfill: bool = False  # enrol beyond the 15-day window, deliberately


def run(request: Request, ports: Ports) -> RunResult:
    as_of = request.as_of or ports.clock.today()
    if not request.dry_run:
        # codes that go out must be unguessable; a dry run sends nothing, so it may run without the secret
        require_coupon_secret(ports.settings)
    return run_daily(DailyRun(ports, as_of, dry_run=request.dry_run, backfill=request.backfill))
