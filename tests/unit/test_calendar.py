"""The Italian business calendar: weekends and national holidays, Easter Monday computed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.domain.calendar import (
    add_business_days,
    business_days_between,
    is_business_day,
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
    assert not is_business_day(date(2027, 10, 4))
    assert add_business_days(date(2027, 10, 1), 1) == date(2027, 10, 5)  # Friday -> Tuesday


def test_weekends_holidays_and_easter_monday_are_not_business_days() -> None:
    assert not is_business_day(date(2026, 11, 28))  # Saturday
    assert not is_business_day(date(2026, 11, 29))  # Sunday
    assert not is_business_day(date(2026, 4, 6))  # Easter Monday
    assert not is_business_day(date(2026, 6, 2))  # Tuesday, Festa della Repubblica
    assert is_business_day(date(2026, 4, 7))  # Easter Tuesday is a working day
    assert is_business_day(date(2026, 11, 30))  # Monday


def test_three_business_days_from_a_friday_land_on_wednesday() -> None:
    assert add_business_days(date(2026, 11, 27), 3) == date(2026, 12, 2)


def test_three_business_days_skip_christmas_santo_stefano_and_the_weekend() -> None:
    # Wednesday 23 Dec 2026: Thu 24 (1), Fri 25 and Sat 26 holidays, Sun 27, Mon 28 (2), Tue 29 (3)
    assert add_business_days(date(2026, 12, 23), 3) == date(2026, 12, 29)


def test_three_business_days_skip_easter_monday() -> None:
    # Thursday 2 April 2026: Fri 3 (1), weekend, Mon 6 Easter Monday, Tue 7 (2), Wed 8 (3)
    assert add_business_days(date(2026, 4, 2), 3) == date(2026, 4, 8)


def test_three_business_days_cross_new_year_and_epiphany() -> None:
    # Wed 31 Dec 2025: Thu 1 Jan holiday, Fri 2 (1), weekend, Mon 5 (2), Tue 6 Epiphany, Wed 7 (3)
    assert add_business_days(date(2025, 12, 31), 3) == date(2026, 1, 7)


def test_zero_business_days_from_a_holiday_is_the_next_working_day() -> None:
    assert add_business_days(date(2026, 8, 15), 0) == date(2026, 8, 17)
    assert add_business_days(date(2026, 8, 14), 0) == date(2026, 8, 14)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError):
        add_business_days(date(2026, 1, 2), -1)


@given(days, st.integers(min_value=1, max_value=30))
def test_adding_business_days_lands_on_a_business_day_exactly_that_many_steps_away(start: date, n: int) -> None:
    end = add_business_days(start, n)
    assert is_business_day(end)
    assert end > start
    assert business_days_between(start, end) == n
    # at most one business day per calendar day, and never more than two weeks of holidays in a row
    assert n <= (end - start).days <= n * 7


@given(days, st.integers(min_value=1, max_value=10), st.integers(min_value=1, max_value=10))
def test_business_days_compose(start: date, first: int, second: int) -> None:
    assert add_business_days(add_business_days(start, first), second) == add_business_days(start, first + second)


@given(days)
def test_the_day_before_the_result_of_one_step_is_never_a_later_business_day(start: date) -> None:
    end = add_business_days(start, 1)
    between = [start + timedelta(days=i) for i in range(1, (end - start).days)]
    assert not any(is_business_day(day) for day in between)
