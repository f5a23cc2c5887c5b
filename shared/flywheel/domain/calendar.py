"""The Italian business calendar: weekends and national holidays are not working days.

The national holidays come from the maintained `holidays` package (country IT), not a hand-kept list: Italy adds
and moves them (4 October, San Francesco, is a national holiday again from 2026), and the package follows the law.
Local patron saints' days are not national and are left out.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays


@cache
def italian_holidays(year: int) -> frozenset[date]:
    """The national holidays of one year."""
    return frozenset(holidays.country_holidays("IT", years=year))


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in italian_holidays(day.year)


def add_business_days(start: date, count: int) -> date:
    """The `count`-th business day after `start` (start itself never counts, whatever day it is).

    With count 0, `start` if it is a business day, else the next business day.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    day = start
    if count == 0:
        while not is_business_day(day):
            day += timedelta(days=1)
        return day
    remaining = count
    while remaining:
        day += timedelta(days=1)
        if is_business_day(day):
            remaining -= 1
    return day


def business_days_between(start: date, end: date) -> int:
    """Business days in (start, end]: how many `add_business_days` steps lead from start to end."""
    if end <= start:
        return 0
    return sum(1 for offset in range(1, (end - start).days + 1) if is_business_day(start + timedelta(days=offset)))
