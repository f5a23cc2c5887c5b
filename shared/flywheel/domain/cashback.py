"""Cashback: the month-end reminder and the nudge toward the cashback threshold, as pure rules.

Every day here is a Europe/Rome calendar date. The reminder goes out on the reminder day (the 21st) to companies
holding cashback, which is lost after the last day of the month; the nudge goes out to companies whose revenue of
the month so far (MTD) has reached `nudge_from_eur` but not `threshold_eur`. Each at most once per company and
month: the month is part of every key and of the state the service keeps.

Nothing here reads a clock or does I/O: every function takes the day it decides for (`as_of`).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Literal

from flywheel.config import CashbackRules

FUNCTION = "cashback_21st"
Kind = Literal["reminder", "threshold"]
KINDS: tuple[Kind, ...] = ("reminder", "threshold")
TEMPLATES: dict[Kind, str] = {"reminder": "cashback_promemoria", "threshold": "cashback_soglia"}


def month_of(day: date) -> str:
    """The month a day belongs to, as the keys and state name it: "2026-11"."""
    return f"{day.year:04d}-{day.month:02d}"


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def last_of_month(day: date) -> date:
    """The last day the cashback may be used: 28, 29, 30 or 31 of the month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def is_reminder_day(day: date, rules: CashbackRules) -> bool:
    return day.day == rules.reminder_day


def month_to_date(orders: Iterable[tuple[date, Decimal]], as_of: date) -> Decimal:
    """Revenue of the orders dated in as_of's month, up to and including as_of (later orders are ignored)."""
    start = first_of_month(as_of)
    return sum((amount for day, amount in orders if start <= day <= as_of), Decimal(0))


def missing_to_threshold(mtd: Decimal, rules: CashbackRules) -> Decimal | None:
    """What the company still has to order this month to earn cashback, when the nudge applies: from
    `nudge_from_eur` included to `threshold_eur` excluded. None outside that band."""
    low, high = Decimal(str(rules.nudge_from_eur)), Decimal(str(rules.threshold_eur))
    if low <= mtd < high:
        return high - mtd
    return None


def has_cashback(amount: float | None) -> bool:
    return amount is not None and amount > 0


def state_id(company_id: str, as_of: date) -> str:
    """The state-store document of one company and month."""
    return f"{company_id}:{month_of(as_of)}"


def effect_key(kind: Kind, company_id: str, as_of: date, contact_id: str) -> str:
    """One email per kind, company, month and contact, ever."""
    return f"{FUNCTION}:{company_id}:{month_of(as_of)}:{kind}:{contact_id}"
