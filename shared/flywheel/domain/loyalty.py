"""The Dealer & Partner (D&P) loyalty programme: level changes and the nudge toward the next level, as pure rules.

The level (`dp_level`: none, bronze, silver, gold) belongs to the ERP; Flywheel remembers the last level it saw
per company. A first sighting and a fall are recorded silently; a rise earns congratulations (once, however many
steps it climbed: the message names the level reached). A company whose rolling 12-month revenue (SiRank's R12)
lies within `near_pct` below the next level's threshold gets a progress nudge, at most once per level per
`nudge_cooldown_days`; gold has no next level.

Nothing here reads a clock or does I/O: every function takes the day it decides for (`as_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from flywheel.config import DpRules

FUNCTION = "dp_progress"
LEVELS: tuple[str, ...] = ("none", "bronze", "silver", "gold")
RANK: dict[str, int] = {level: rank for rank, level in enumerate(LEVELS)}
# how the emails name each level
LEVEL_NAMES: dict[str, str] = {"none": "nessun livello", "bronze": "Bronze", "silver": "Silver", "gold": "Gold"}
CONGRATULATIONS_TEMPLATE = "dp_congratulazioni"
PROGRESS_TEMPLATE = "dp_progresso"

Change = Literal["first_sighting", "rise", "fall", "same"]


def level_of(value: str | None) -> str | None:
    """The level a `dp_level` value names, or None: empty (not in the programme) or a value we do not know."""
    if value is None:
        return None
    level = value.strip().lower()
    return level if level in RANK else None


def change(last_seen: str | None, current: str) -> Change:
    if last_seen is None or last_seen not in RANK:
        return "first_sighting"
    if RANK[current] > RANK[last_seen]:
        return "rise"
    if RANK[current] < RANK[last_seen]:
        return "fall"
    return "same"


def next_level(level: str) -> str | None:
    rank = RANK[level]
    return LEVELS[rank + 1] if rank + 1 < len(LEVELS) else None


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a company is from its next level."""

    level: str  # the level to reach
    threshold: Decimal
    missing: Decimal


def progress(level: str, revenue_12m: Decimal, rules: DpRules) -> Progress | None:
    """The next level when R12 is within `near_pct` below its threshold (threshold excluded), else None."""
    if level == "none" and not rules.nudge_non_members:
        return None
    target = next_level(level)
    if target is None or target not in rules.thresholds_eur:
        return None
    threshold = Decimal(str(rules.thresholds_eur[target]))
    floor = threshold * (1 - Decimal(str(rules.near_pct)) / 100)
    if floor <= revenue_12m < threshold:
        return Progress(target, threshold, threshold - revenue_12m)
    return None


def nudge_allowed(last_nudged: date | None, as_of: date, rules: DpRules) -> bool:
    """At most one nudge per level in any `nudge_cooldown_days` days."""
    return last_nudged is None or as_of - last_nudged >= timedelta(days=rules.nudge_cooldown_days)


def congratulations_key(company_id: str, level: str, as_of: date, contact_id: str) -> str:
    """One congratulation per company, level reached and month: a level lost and regained within a month is
    not celebrated twice."""
    return f"{FUNCTION}:{company_id}:{as_of.year:04d}-{as_of.month:02d}:congrats:{level}:{contact_id}"


def progress_key(company_id: str, level: str, as_of: date, contact_id: str) -> str:
    return f"{FUNCTION}:{company_id}:{as_of.isoformat()}:progress:{level}:{contact_id}"
