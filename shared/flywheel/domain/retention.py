"""Where a customer stands by the days since their last order: the segments every function agrees on."""

from __future__ import annotations

from datetime import date
from typing import Literal

from flywheel.config import SirankRules

RetentionSegment = Literal["active", "lukewarm", "cold", "lost", "never"]


def days_since(last_order: date | None, as_of: date) -> int | None:
    """Whole calendar days from the last order to as_of (0 on the day of the order), None without orders."""
    return None if last_order is None else (as_of - last_order).days


def retention_segment(last_order: date | None, as_of: date, rules: SirankRules) -> RetentionSegment:
    days = days_since(last_order, as_of)
    if days is None:
        return "never"
    if days < rules.lukewarm_from_days:
        return "active"
    if days < rules.cold_from_days:
        return "lukewarm"
    if days < rules.lost_from_days:
        return "cold"
    return "lost"
