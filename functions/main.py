"""The Cloud Functions entry module: deploy this folder (plus the flywheel package) with --entry-point NAME."""

from cold_segment import cold_segment, cold_segment_webhook
from nurture_step import nurture_step, nurture_step_webhook
from sirank_recalc import sirank_recalc

__all__ = [
    "cold_segment",
    "cold_segment_webhook",
    "nurture_step",
    "nurture_step_webhook",
    "sirank_recalc",
]
