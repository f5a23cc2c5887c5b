"""Period revenue (revenue_mtd, revenue_prev_month, revenue_ytd): worked examples, month ends, the year end, the
leap day, and the day the figures next change by themselves."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.domain.period_revenue import PeriodRevenue, money, next_change, period_revenue
from flywheel.domain.sirank import OrderFact


def on(day: date, amount: str) -> OrderFact:
    return OrderFact(day, Decimal(amount))


def figures(mtd: str, prev: str, ytd: str) -> PeriodRevenue:
    return PeriodRevenue(Decimal(mtd), Decimal(prev), Decimal(ytd))


def by_calendar(orders: list[OrderFact], as_of: date) -> PeriodRevenue:
    """The definitions in (year, month) arithmetic, independent of the module's date ranges."""

    def month_number(day: date) -> int:
        return day.year * 12 + day.month - 1

    past = [o for o in orders if o.order_date <= as_of]
    return PeriodRevenue(
        sum((o.amount for o in past if month_number(o.order_date) == month_number(as_of)), Decimal(0)),
        sum((o.amount for o in past if month_number(o.order_date) == month_number(as_of) - 1), Decimal(0)),
        sum((o.amount for o in past if o.order_date.year == as_of.year), Decimal(0)),
    )


# --- worked examples -------------------------------------------------------------------------------------------


def test_mid_month_the_month_so_far_the_previous_month_and_the_year() -> None:
    orders = [
        on(date(2025, 12, 31), "7"),  # last year: in no figure
        on(date(2026, 1, 15), "100"),
        on(date(2026, 2, 1), "20"),
        on(date(2026, 2, 28), "30.50"),
        on(date(2026, 3, 1), "400"),
        on(date(2026, 3, 10), "5"),  # as_of itself counts
        on(date(2026, 3, 11), "9000"),  # dated after as_of: ignored
    ]
    assert period_revenue(orders, date(2026, 3, 10)) == figures("405", "50.50", "555.50")


def test_in_january_the_previous_month_is_last_years_december_and_the_year_starts_afresh() -> None:
    orders = [on(date(2025, 12, 1), "10"), on(date(2025, 12, 31), "20"), on(date(2026, 1, 1), "3")]
    assert period_revenue(orders, date(2026, 1, 1)) == figures("3", "30", "3")
    assert period_revenue(orders, date(2025, 12, 31)) == figures("30", "0", "30")


def test_an_order_on_the_leap_day_is_februarys_and_counts_until_february_is_two_months_back() -> None:
    orders = [on(date(2028, 2, 29), "250")]
    assert period_revenue(orders, date(2028, 2, 28)) == figures("0", "0", "0")
    assert period_revenue(orders, date(2028, 2, 29)) == figures("250", "0", "250")
    assert period_revenue(orders, date(2028, 3, 31)) == figures("0", "250", "250")
    assert period_revenue(orders, date(2028, 4, 1)) == figures("0", "0", "250")


def test_no_orders_no_revenue() -> None:
    assert period_revenue([], date(2026, 6, 15)) == figures("0", "0", "0")


def test_money_is_written_with_two_decimals() -> None:
    assert money(Decimal("1234.5")) == "1234.50"
    assert money(Decimal(0)) == money(Decimal("-0")) == "0.00"
    assert money(Decimal("0.005")) == "0.01"  # half up, as the orders' amounts are rounded to the cent
    assert money(Decimal("-12")) == "-12.00"


# --- against the calendar definitions, on the edges ----------------------------------------------------------


def _edge_days() -> list[date]:
    """Month ends and starts, the year's ends, the leap day and the days around it, over a leap cycle."""
    days: list[date] = []
    for year in range(2026, 2030):
        for month in range(1, 13):
            last = calendar.monthrange(year, month)[1]
            days += [date(year, month, 1), date(year, month, 2), date(year, month, last), date(year, month, last - 1)]
    return days


EDGES = _edge_days()
edge_or_any_day = st.one_of(st.sampled_from(EDGES), st.dates(date(2026, 1, 1), date(2029, 12, 31)))
amounts = st.decimals(min_value=Decimal("-500"), max_value=Decimal("9000"), places=2)
order_lists = st.lists(st.builds(OrderFact, edge_or_any_day, amounts), max_size=12)


@settings(max_examples=300)
@given(orders=order_lists, as_of=edge_or_any_day)
def test_the_figures_follow_the_calendar_definitions(orders: list[OrderFact], as_of: date) -> None:
    assert period_revenue(orders, as_of) == by_calendar(orders, as_of)


@settings(max_examples=150, deadline=None)
@given(orders=order_lists, as_of=edge_or_any_day)
def test_the_figures_hold_until_the_next_change_and_move_on_it(orders: list[OrderFact], as_of: date) -> None:
    now = by_calendar(orders, as_of)
    change = next_change(orders, as_of)
    # past the last order, three month starts at most settle the figures: 500 days see every change
    end = change if change is not None else as_of + timedelta(days=500)
    day = as_of + timedelta(days=1)
    while day < end:
        assert by_calendar(orders, day) == now, f"moved on {day}, before {change}"
        day += timedelta(days=1)
    if change is not None:
        assert by_calendar(orders, change) != now


def test_the_month_rolls_over_on_the_first() -> None:
    orders = [on(date(2026, 1, 31), "100")]
    assert next_change(orders, date(2026, 1, 31)) == date(2026, 2, 1)
    assert period_revenue(orders, date(2026, 2, 1)) == figures("0", "100", "100")
    # the previous month empties on 1 March; the year's revenue stays until 1 January
    assert next_change(orders, date(2026, 2, 1)) == date(2026, 3, 1)
    assert next_change(orders, date(2026, 3, 1)) == date(2027, 1, 1)
    assert next_change(orders, date(2027, 1, 1)) is None


def test_a_company_whose_figures_the_first_of_the_month_leaves_as_they_are_is_not_due_then() -> None:
    # an order in February only: from April the month figures are zero, and nothing moves until 1 January
    assert next_change([on(date(2026, 2, 10), "80")], date(2026, 4, 20)) == date(2027, 1, 1)


def test_a_december_order_keeps_the_previous_month_until_february() -> None:
    orders = [on(date(2026, 12, 31), "60")]
    assert next_change(orders, date(2026, 12, 31)) == date(2027, 1, 1)
    assert period_revenue(orders, date(2027, 1, 1)) == figures("0", "60", "0")
    assert next_change(orders, date(2027, 1, 1)) == date(2027, 2, 1)


def test_an_order_dated_in_the_future_moves_the_figures_on_its_day() -> None:
    orders = [on(date(2026, 5, 20), "10")]
    assert next_change(orders, date(2026, 5, 12)) == date(2026, 5, 20)


def test_figures_that_are_zero_for_good_never_change() -> None:
    assert next_change([], date(2026, 5, 12)) is None
    assert next_change([on(date(2024, 5, 1), "10")], date(2026, 5, 12)) is None
