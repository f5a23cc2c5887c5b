"""sirank_recalc: SiRank, last purchase date, retention segment and the revenue of the month, the previous month
and the year (revenue_mtd, revenue_prev_month, revenue_ytd) of every company, written back to HubSpot.

Two modes, one scoring step.

full         lists every company (properties only) and every deal (with its company association), 100 a page,
             keeps compact per-company aggregates in memory, scores every company, and rebuilds the ledger and
             the deal index (full.py).
incremental  reads only what changed since the last run's watermark: deals modified, deals archived, companies
             modified; applies them to the ledger; re-scores the companies touched plus those whose review day
             has come, without reading HubSpot for them (incremental.py). The first of a month is such a day for
             every company whose period revenue rolls over (mtd to 0, the previous month, on 1 January the year).

Only values that differ from what HubSpot holds are written, in full batch updates of 100 changed companies
(scoring.py). Every page read and every batch written ends with a checkpoint; a run stopped half-way resumes
from it on the next trigger with the same as_of (checkpoint.py, job.py). The ledger (ledger.py) and the deal
index (deal_index.py) live in the state store between runs.

The clock drives watermarks (HubSpot's hs_lastmodifieddate is its own time); as_of drives the scoring.
"""

from __future__ import annotations

from flywheel.domain.models import RunResult
from flywheel.services.context import Ports
from flywheel.services.sirank.checkpoint import CHECKPOINT, STAGE_COLLECTION
from flywheel.services.sirank.full import FullRun
from flywheel.services.sirank.incremental import IncrementalRun
from flywheel.services.sirank.job import FUNCTION, Job, Request
from flywheel.services.sirank.ledger import META_COLLECTION, META_DOC
from flywheel.services.sirank.summary import summarize

CADENCE = "daily"
# summary counts that add up over runs (the demo and reports total them); the others describe one run
SUMMARY_TOTALS = ("companies_changed", "values_changed", "api_calls_this_invocation")

__all__ = [
    "CADENCE",
    "CHECKPOINT",
    "FUNCTION",
    "META_COLLECTION",
    "META_DOC",
    "STAGE_COLLECTION",
    "SUMMARY_TOTALS",
    "Request",
    "run",
]


def run(request: Request, ports: Ports) -> RunResult:
    job = Job(request, ports)
    if job.mode == "full":
        FullRun(job).execute()
    else:
        IncrementalRun(job).execute()
    return RunResult(
        function=FUNCTION, as_of=job.as_of, dry_run=job.dry_run, actions=job.actions, summary=summarize(job)
    )
