"""The company's business calendar: weekends, Italian national holidays and the company's own closing days are
not working days.

The national holidays come from the maintained `holidays` package (country IT), not a hand-kept list: Italy adds
and moves them (4 October, San Francesco, is a national holiday again from 2026), and the package follows the law.
Local patron saints' days are not national and are left out; a company that closes on its patron's day lists it
among its closing days.

Closing days (`FLYWHEEL_CALENDAR__CLOSING_DAYS`) are written three ways:

- a date, `2026-12-24`;
- a range of dates, both ends included, `2026-08-10..2026-08-21` (it may cross a month or a year end);
- a day that recurs every year, `MM-DD`: `12-24`, `08-14`. `02-29` is refused: it would close the company one
  year in four, which is never what a company means.

`BusinessCalendar` is a value: the rules take it as a required argument, never a default, so that no caller can
forget the company's closing days (`config.CalendarRules.business_calendar()`); `ITALIAN` is the national calendar
alone (no closing days).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import holidays

_DATE = r"(\d{4})-(\d{2})-(\d{2})"
_SINGLE = re.compile(_DATE, re.ASCII)
_RANGE = re.compile(rf"{_DATE}\.\.{_DATE}", re.ASCII)
_YEARLY = re.compile(r"(\d{2})-(\d{2})", re.ASCII)
# a recurring day is checked against a leap year, so that only 29 February needs its own refusal
_LEAP_YEAR = 2024
_MAX_CLOSED_IN_A_ROW = 400


@cache
def italian_holidays(year: int) -> frozenset[date]:
    """The national holidays of one year."""
    return frozenset(holidays.country_holidays("IT", years=year))


class InvalidClosingDay(ValueError):
    """A closing day that is not a date, a range `FROM..TO` or a yearly `MM-DD`, or names no real day."""


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Working days: Monday to Friday, except national holidays and the company's closing days."""

    closed_on: frozenset[date] = frozenset()
    # (first, last) day of each closing range, both included
    closed_ranges: tuple[tuple[date, date], ...] = ()
    # (month, day) closed every year
    closed_yearly: frozenset[tuple[int, int]] = frozenset()

    @classmethod
    def with_closing_days(cls, entries: Iterable[str]) -> BusinessCalendar:
        """The calendar of the company closed on `entries` (see the module's docstring); InvalidClosingDay names
        the first entry that is not one."""
        dates: set[date] = set()
        ranges: list[tuple[date, date]] = []
        yearly: set[tuple[int, int]] = set()
        for raw in entries:
            entry = raw.strip()
            if matched := _RANGE.fullmatch(entry):
                first = _real_date(entry, *matched.groups()[:3])
                last = _real_date(entry, *matched.groups()[3:])
                if last < first:
                    raise InvalidClosingDay(f"closing range {entry!r} ends before it starts")
                ranges.append((first, last))
            elif matched := _SINGLE.fullmatch(entry):
                dates.add(_real_date(entry, *matched.groups()))
            elif matched := _YEARLY.fullmatch(entry):
                month, day = int(matched.group(1)), int(matched.group(2))
                _real_date(entry, str(_LEAP_YEAR), matched.group(1), matched.group(2))
                if (month, day) == (2, 29):
                    raise InvalidClosingDay(
                        f"yearly closing day {entry!r} exists only in leap years: list the dates instead"
                    )
                yearly.add((month, day))
            else:
                raise InvalidClosingDay(
                    f"closing day {entry!r} is not a date (2026-12-24), a range (2026-08-10..2026-08-21) "
                    "or a day of every year (12-24)"
                )
        return cls(frozenset(dates), tuple(sorted(ranges)), frozenset(yearly))

    def is_closing_day(self, day: date) -> bool:
        return (
            day in self.closed_on
            or (day.month, day.day) in self.closed_yearly
            or any(first <= day <= last for first, last in self.closed_ranges)
        )

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in italian_holidays(day.year) and not self.is_closing_day(day)

    def add_business_days(self, start: date, count: int) -> date:
        """The `count`-th business day after `start` (start itself never counts, whatever day it is).

        With count 0, `start` if it is a business day, else the next business day.
        """
        if count < 0:
            raise ValueError("count must not be negative")
        day, closed_in_a_row = start, 0
        remaining = count
        if count == 0 and self.is_business_day(day):
            return day
        while True:
            day += timedelta(days=1)
            if not self.is_business_day(day):
                closed_in_a_row += 1
                # closing days that cover a whole year would loop for ever: a configuration mistake
                if closed_in_a_row > _MAX_CLOSED_IN_A_ROW:
                    raise InvalidClosingDay(f"the closing days leave no business day after {start.isoformat()}")
                continue
            closed_in_a_row = 0
            if remaining <= 1:
                return day
            remaining -= 1

    def business_days_between(self, start: date, end: date) -> int:
        """Business days in (start, end]: how many `add_business_days` steps lead from start to end."""
        if end <= start:
            return 0
        return sum(
            1 for offset in range(1, (end - start).days + 1) if self.is_business_day(start + timedelta(days=offset))
        )


def _real_date(entry: str, year: str, month: str, day: str) -> date:
    try:
        return date(int(year), int(month), int(day))
    except ValueError as error:
        raise InvalidClosingDay(f"closing day {entry!r} names no real day ({error})") from None


# the national calendar alone, without the company's closing days
ITALIAN = BusinessCalendar()
