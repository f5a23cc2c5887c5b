"""The business calendar: weekends, national holidays (Easter Monday computed) and the company's closing days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.domain.calendar import (
    ITALIAN,
    BusinessCalendar,
    InvalidClosingDay,
    italian_holidays,
)

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))


def test_the_national_holidays_of_2026_include_san_francesco_again() -> None:
    assert {
        date(2026, 1, 1),
        date(2026, 1, 6),
        date(2026, 4, 6),  # Easter Monday
        date(2026, 4, 25),
        date(2026, 5, 1),
        date(2026, 6, 2),
        date(2026, 8, 15),
        date(2026, 10, 4),  # San Francesco, a national holiday again from 2026
        date(2026, 11, 1),
        date(2026, 12, 8),
        date(2026, 12, 25),
        date(2026, 12, 26),
    } <= italian_holidays(2026)
    assert date(2025, 10, 4) not in italian_holidays(2025)


def test_4_october_2027_a_monday_is_not_a_business_day() -> None:
    assert date(2027, 10, 4).weekday() == 0
    assert not ITALIAN.is_business_day(date(2027, 10, 4))
    assert ITALIAN.add_business_days(date(2027, 10, 1), 1) == date(2027, 10, 5)  # Friday -> Tuesday


def test_weekends_holidays_and_easter_monday_are_not_business_days() -> None:
    assert not ITALIAN.is_business_day(date(2026, 11, 28))  # Saturday
    assert not ITALIAN.is_business_day(date(2026, 11, 29))  # Sunday
    assert not ITALIAN.is_business_day(date(2026, 4, 6))  # Easter Monday
    assert not ITALIAN.is_business_day(date(2026, 6, 2))  # Tuesday, Festa della Repubblica
    assert ITALIAN.is_business_day(date(2026, 4, 7))  # Easter Tuesday is a working day
    assert ITALIAN.is_business_day(date(2026, 11, 30))  # Monday


def test_three_business_days_from_a_friday_land_on_wednesday() -> None:
    assert ITALIAN.add_business_days(date(2026, 11, 27), 3) == date(2026, 12, 2)


def test_three_business_days_skip_christmas_santo_stefano_and_the_weekend() -> None:
    # Wednesday 23 Dec 2026: Thu 24 (1), Fri 25 and Sat 26 holidays, Sun 27, Mon 28 (2), Tue 29 (3)
    assert ITALIAN.add_business_days(date(2026, 12, 23), 3) == date(2026, 12, 29)


def test_three_business_days_skip_easter_monday() -> None:
    # Thursday 2 April 2026: Fri 3 (1), weekend, Mon 6 Easter Monday, Tue 7 (2), Wed 8 (3)
    assert ITALIAN.add_business_days(date(2026, 4, 2), 3) == date(2026, 4, 8)


def test_three_business_days_cross_new_year_and_epiphany() -> None:
    # Wed 31 Dec 2025: Thu 1 Jan holiday, Fri 2 (1), weekend, Mon 5 (2), Tue 6 Epiphany, Wed 7 (3)
    assert ITALIAN.add_business_days(date(2025, 12, 31), 3) == date(2026, 1, 7)


def test_zero_business_days_from_a_holiday_is_the_next_working_day() -> None:
    assert ITALIAN.add_business_days(date(2026, 8, 15), 0) == date(2026, 8, 17)
    assert ITALIAN.add_business_days(date(2026, 8, 14), 0) == date(2026, 8, 14)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError):
        ITALIAN.add_business_days(date(2026, 1, 2), -1)


@given(days, st.integers(min_value=1, max_value=30))
def test_adding_business_days_lands_on_a_business_day_exactly_that_many_steps_away(start: date, n: int) -> None:
    end = ITALIAN.add_business_days(start, n)
    assert ITALIAN.is_business_day(end)
    assert end > start
    assert ITALIAN.business_days_between(start, end) == n
    # at most one business day per calendar day, and never more than two weeks of holidays in a row
    assert n <= (end - start).days <= n * 7


@given(days, st.integers(min_value=1, max_value=10), st.integers(min_value=1, max_value=10))
def test_business_days_compose(start: date, first: int, second: int) -> None:
    assert ITALIAN.add_business_days(ITALIAN.add_business_days(start, first), second) == ITALIAN.add_business_days(
        start, first + second
    )


@given(days)
def test_the_day_before_the_result_of_one_step_is_never_a_later_business_day(start: date) -> None:
    end = ITALIAN.add_business_days(start, 1)
    between = [start + timedelta(days=i) for i in range(1, (end - start).days)]
    assert not any(ITALIAN.is_business_day(day) for day in between)


# --- the company's closing days --------------------------------------------------------------------------------

closing_entries = st.lists(
    st.one_of(
        days.map(date.isoformat),
        st.tuples(days, st.integers(min_value=0, max_value=40)).map(
            lambda pair: f"{pair[0].isoformat()}..{(pair[0] + timedelta(days=pair[1])).isoformat()}"
        ),
        days.filter(lambda d: (d.month, d.day) != (2, 29)).map(lambda d: f"{d.month:02d}-{d.day:02d}"),
    ),
    max_size=6,
)


def test_the_three_ways_of_writing_a_closing_day() -> None:
    company = BusinessCalendar.with_closing_days([" 2026-12-24 ", "2026-08-10..2026-08-21", "08-14"])

    assert company.is_closing_day(date(2026, 12, 24))
    assert not company.is_closing_day(date(2027, 12, 24))  # a date closes one day only
    assert company.is_closing_day(date(2026, 8, 10)) and company.is_closing_day(date(2026, 8, 21))  # ends included
    assert not company.is_closing_day(date(2026, 8, 9)) and not company.is_closing_day(date(2026, 8, 22))
    assert company.is_closing_day(date(2031, 8, 14))  # every year
    assert ITALIAN.is_business_day(date(2026, 12, 24)) and not company.is_business_day(date(2026, 12, 24))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("2026-02-30", "names no real day"),
        ("2027-02-29", "names no real day"),
        ("13-01", "names no real day"),
        ("2026-08-21..2026-08-10", "ends before it starts"),
        ("2026-08-10..2026-02-30", "names no real day"),
        ("02-29", "only in leap years"),
        ("2026-8-1", "is not a date"),
        ("24/12", "is not a date"),
        ("2026-08-10 .. 2026-08-21", "is not a date"),
        ("", "is not a date"),
        ("２０２６-12-24", "is not a date"),
    ],
)
def test_a_closing_day_that_is_not_one_is_refused_by_name(entry: str, message: str) -> None:
    with pytest.raises(InvalidClosingDay, match=message) as refused:
        BusinessCalendar.with_closing_days(["2026-12-24", entry])
    assert repr(entry) in str(refused.value)


def test_closing_days_that_cover_every_day_are_refused_rather_than_searched_for_ever() -> None:
    every_day = BusinessCalendar.with_closing_days(["2026-01-01..2030-12-31"])

    with pytest.raises(InvalidClosingDay, match="no business day"):
        every_day.add_business_days(date(2026, 3, 2), 1)


@given(
    # from the last days of a month (December among them), long enough to reach into the next month or year
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)).filter(lambda d: d.day >= 20),
    st.integers(min_value=12, max_value=40),
    days,
    st.integers(min_value=0, max_value=15),
)
def test_a_closing_range_across_a_month_or_year_end_closes_every_day_in_it(
    first: date, length: int, start: date, count: int
) -> None:
    last = first + timedelta(days=length)
    assert (last.year, last.month) > (first.year, first.month)
    company = BusinessCalendar.with_closing_days([f"{first}..{last}"])

    assert not any(company.is_business_day(first + timedelta(days=i)) for i in range(length + 1))
    # the first business day from inside the range is the first one after it, as the national calendar has it
    assert company.add_business_days(first, 0) == ITALIAN.add_business_days(last + timedelta(days=1), 0)
    end = company.add_business_days(start, count)
    assert company.is_business_day(end) and not first <= end <= last
    assert company.business_days_between(start, end) == count or count == 0
    assert end >= ITALIAN.add_business_days(start, count)  # closing days only ever push a due date later


def test_the_summer_closing_over_the_end_of_a_year() -> None:
    winter = BusinessCalendar.with_closing_days(["2026-12-28..2027-01-08"])

    # Wed 23 Dec 2026: Thu 24 (1), Fri 25 and Sat 26 holidays, Sun 27, closed to Fri 8 Jan, weekend, Mon 11 (2)
    assert winter.add_business_days(date(2026, 12, 23), 2) == date(2027, 1, 11)
    assert winter.business_days_between(date(2026, 12, 23), date(2027, 1, 11)) == 2


@given(st.integers(min_value=2000, max_value=2090), days, st.integers(min_value=0, max_value=20), st.data())
def test_a_closing_day_that_is_also_a_national_holiday_changes_nothing(
    year: int, start: date, count: int, data: st.DataObject
) -> None:
    holiday = data.draw(st.sampled_from(sorted(italian_holidays(year))))
    as_date = BusinessCalendar.with_closing_days([holiday.isoformat()])
    as_yearly = BusinessCalendar.with_closing_days([f"{holiday.month:02d}-{holiday.day:02d}"])

    assert as_date.add_business_days(start, count) == ITALIAN.add_business_days(start, count)
    if (holiday.month, holiday.day) in {(1, 1), (1, 6), (4, 25), (5, 1), (6, 2), (8, 15), (11, 1), (12, 8), (12, 25)}:
        # a fixed national holiday closed again every year: the same working days, every year
        assert as_yearly.add_business_days(start, count) == ITALIAN.add_business_days(start, count)


@given(days, st.integers(min_value=0, max_value=20))
def test_a_weekend_inside_a_closing_range_is_counted_once(start: date, count: int) -> None:
    # Mon 10 .. Fri 21 August 2026 encloses a weekend; with the weekends around it, 16 days without work
    summer = BusinessCalendar.with_closing_days(["2026-08-10..2026-08-21"])
    assert summer.add_business_days(date(2026, 8, 7), 1) == date(2026, 8, 24)
    assert summer.business_days_between(date(2026, 8, 7), date(2026, 8, 24)) == 1

    end = summer.add_business_days(start, count)
    national = ITALIAN.add_business_days(start, count)
    closed_business_days = sum(
        1 for i in range(12) if ITALIAN.is_business_day(date(2026, 8, 10) + timedelta(days=i))
    )  # 10 weekdays; the weekend inside (with 15 August, a Saturday in 2026) was never a working day
    assert closed_business_days == 10
    assert ITALIAN.business_days_between(start, end) - summer.business_days_between(start, end) <= closed_business_days
    assert end >= national


@given(closing_entries, days, st.integers(min_value=0, max_value=20))
def test_any_company_calendar_lands_on_its_own_business_day_that_many_steps_away(
    entries: list[str], start: date, count: int
) -> None:
    company = BusinessCalendar.with_closing_days(entries)

    end = company.add_business_days(start, count)
    assert company.is_business_day(end)
    assert company.business_days_between(start, end) == count or count == 0
    assert end >= ITALIAN.add_business_days(start, count)
