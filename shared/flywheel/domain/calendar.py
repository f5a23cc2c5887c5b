"""The Italian business calendar: weekends and national holidays are not working days.

National holidays (Italian law 260/1949 and later amendments): New Year's Day, Epiphany, Easter Monday,
Liberation Day (25 April), Labour Day (1 May), Republic Day (2 June), Ferragosto (15 August), All Saints
(1 November), Immaculate Conception (8 December), Christmas and Santo Stefano (25 and 26 December).
Local patron saints' days are not national and are left out.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

_FIXED_HOLIDAYS = ((1, 1), (1, 6), (4, 25), (5, 1), (6, 2), (8, 15), (11, 1), (12, 8), (12, 25), (12, 26))


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm, also known as Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


@cache
def italian_holidays(year: int) -> frozenset[date]:
    """The national holidays of one year (the computed cache is a pure function of the year)."""
    fixed = {date(year, month, day) for month, day in _FIXED_HOLIDAYS}
    return frozenset(fixed | {easter_sunday(year) + timedelta(days=1)})


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
