"""The summary of a sirank_recalc run: what it scored and changed, the distribution of SiRank, what it cost."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from flywheel.services.sirank.job import Job

SIRANK_THRESHOLD = 5000  # the recontact threshold of cold_segment: the share above it is worth watching
QUANTILES = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p90": 0.90, "p99": 0.99}


def summarize(job: Job) -> dict[str, Any]:
    checkpoint = job.checkpoint
    ordered = sorted(job.scores)
    above = sum(1 for v in ordered if v > SIRANK_THRESHOLD)
    return {
        "mode": job.mode,
        "resumed_from_checkpoint": job.resumed,
        "companies_scored": checkpoint.scored,
        "companies_changed": checkpoint.companies_changed,
        "values_changed": sum(checkpoint.values_changed.values()),
        "values_changed_by_property": dict(sorted(checkpoint.values_changed.items())),
        "sirank_quantiles": quantiles(ordered),
        "share_above_5000": round(above / len(ordered), 4) if ordered else 0.0,
        "api_calls": job.api_calls,
        "api_calls_this_invocation": job.calls_this_invocation,
        **dict(sorted(checkpoint.counters.items())),
        **job.extra_summary,
    }


def quantiles(ordered: Sequence[int]) -> dict[str, int]:
    """Nearest-rank quantiles of sorted values, with min and max."""
    if not ordered:
        return {}
    last = len(ordered) - 1
    result = {name: ordered[min(last, max(0, math.ceil(q * len(ordered)) - 1))] for name, q in QUANTILES.items()}
    result["min"], result["max"] = ordered[0], ordered[-1]
    return result
