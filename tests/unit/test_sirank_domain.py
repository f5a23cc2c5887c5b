"""SiRank: the formula on worked examples, tenure in completed years, its window edges, monotonicity, and when it
next changes by itself."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.config import SirankRules
from flywheel.domain.sirank import OrderFact, anniversary, is_dp_member, next_review, score, sirank_value, tenure_years

RULES = SirankRules()
AS_OF = date(2026, 3, 31)


def order(days_ago: int, amount: str) -> OrderFact:
    return OrderFact(AS_OF - timedelta(days=days_ago), Decimal(amount))


def on(day: date, amount: str) -> OrderFact:
    return OrderFact(day, Decimal(amount))


# --- worked examples -------------------------------------------------------------------------------------------


def test_a_single_order_today_is_its_amount_with_one_twelfth_of_the_frequency_bonus() -> None:
    # 1000 x (1 + 0.5 x 1/12) x (1 + 0) = 1041.67 -> 1042
    assert score([order(0, "1000")], False, AS_OF, RULES).sirank == 1042


def test_a_monthly_buyer_of_five_years_with_dp_membership() -> None:
    # twelve orders of 1000 in the last year, the first order on 31 March 2021: five years completed today.
    # R12 = 12000, x 1.5 (frequency capped), x (1 + 0.3 x 5/10) = 1.15, x 1.2 (D&P)
    orders = [order(30 * month, "1000") for month in range(12)] + [on(date(2021, 3, 31), "500")]
    without_dp = score(orders, False, AS_OF, RULES)
    with_dp = score(orders, True, AS_OF, RULES)
    assert without_dp.revenue_12m == Decimal(12000)
    assert without_dp.orders_12m == 12
    assert without_dp.tenure_years == 5
    assert without_dp.sirank == 20700
    assert with_dp.sirank == 24840


def test_the_day_before_the_fifth_anniversary_still_counts_four_years() -> None:
    # the same buyer one day earlier: 12000 x 1.5 x (1 + 0.3 x 4/10) = 20160, a day later 20700
    orders = [order(30 * month + 1, "1000") for month in range(12)] + [on(date(2021, 3, 31), "500")]
    day_before = AS_OF - timedelta(days=1)
    assert score(orders, False, day_before, RULES).tenure_years == 4
    assert score(orders, False, day_before, RULES).sirank == 20160


def test_the_readme_example_a_silver_reseller_of_four_completed_years() -> None:
    as_of = date(2026, 11, 29)
    orders = [on(as_of - timedelta(days=60 * n), "2000") for n in range(6)] + [on(date(2022, 3, 15), "0")]
    result = score(orders, True, as_of, RULES)
    # 12,000 x (1 + 0.5 x 6/12) x (1 + 0.3 x 4/10) x 1.2
    assert (result.revenue_12m, result.orders_12m, result.tenure_years, result.sirank) == (12000, 6, 4, 20160)


def test_tenure_caps_at_ten_years() -> None:
    ten_years = [order(0, "1000"), on(date(2016, 3, 31), "1")]
    twenty_years = [order(0, "1000"), on(date(2006, 3, 31), "1")]
    # 1000 x (1 + 0.5/12) x 1.3 = 1354.17
    assert score(ten_years, False, AS_OF, RULES).sirank == 1354
    assert score(twenty_years, False, AS_OF, RULES).sirank == 1354


def test_exact_halves_round_up() -> None:
    assert sirank_value(Decimal("0.5"), 0, 0, False, RULES) == 1
    assert sirank_value(Decimal("2.5"), 0, 0, False, RULES) == 3
    # 2.4 x (1 + 0.5/12) = 2.5 exactly
    assert score([order(3, "2.4")], False, AS_OF, RULES).sirank == 3


def test_no_orders_is_zero_and_never_purchased() -> None:
    result = score([], True, AS_OF, RULES)
    assert (result.sirank, result.last_purchase_date, result.retention_segment) == (0, None, "never")


def test_an_old_customer_without_recent_orders_scores_zero_but_keeps_last_purchase_and_segment() -> None:
    result = score([order(400, "9000"), order(900, "100")], True, AS_OF, RULES)
    assert result.sirank == 0
    assert result.last_purchase_date == AS_OF - timedelta(days=400)
    assert result.retention_segment == "cold"


def test_weights_and_window_are_configuration() -> None:
    rules = SirankRules(window_days=30, frequency_weight=0, tenure_weight=0, dp_multiplier=2)
    orders = [order(29, "100"), order(30, "1000")]
    assert score(orders, True, AS_OF, rules).sirank == 200


def test_dp_membership_is_a_level_other_than_none() -> None:
    assert [is_dp_member(level) for level in ("gold", "bronze", "none", "", None)] == [True, True, False, False, False]


# --- tenure in completed years ---------------------------------------------------------------------------------


def test_tenure_is_counted_like_an_age() -> None:
    first = date(2020, 6, 15)
    assert tenure_years(first, date(2020, 6, 15)) == 0
    assert tenure_years(first, date(2021, 6, 14)) == 0
    assert tenure_years(first, date(2021, 6, 15)) == 1
    assert tenure_years(first, date(2026, 6, 14)) == 5
    assert tenure_years(first, date(2026, 12, 31)) == 6


def test_a_first_order_on_29_february_has_its_anniversary_on_1_march_in_common_years() -> None:
    first = date(2024, 2, 29)
    assert tenure_years(first, date(2025, 2, 28)) == 0
    assert tenure_years(first, date(2025, 3, 1)) == 1
    assert tenure_years(first, date(2028, 2, 28)) == 3
    assert tenure_years(first, date(2028, 2, 29)) == 4
    assert [anniversary(first, n) for n in (1, 4)] == [date(2025, 3, 1), date(2028, 2, 29)]


def test_a_first_order_on_28_february_has_its_anniversary_on_28_february_even_in_leap_years() -> None:
    first = date(2023, 2, 28)
    assert tenure_years(first, date(2024, 2, 28)) == 1
    assert tenure_years(first, date(2024, 2, 27)) == 0
    assert anniversary(first, 1) == date(2024, 2, 28)


def test_tenure_adds_nothing_between_anniversaries() -> None:
    orders = [order(200, "1000"), on(date(2024, 4, 30), "0")]
    values = {score(orders, False, AS_OF + timedelta(days=n), RULES).sirank for n in range(30)}
    on_the_anniversary = score(orders, False, date(2026, 4, 30), RULES).sirank
    # 1000 x (1 + 0.5/12) x 1.03 = 1072.9; from 30 April 2026, x 1.06 = 1104.2
    assert values == {1073}
    assert on_the_anniversary == 1104


def is_leap(year: int) -> bool:
    return (date(year, 3, 1) - date(year, 2, 28)).days == 2


def completed_years_by_walking_the_calendar(first: date, as_of: date) -> int:
    """An oracle with no arithmetic on years: walk day by day and count the anniversaries passed."""
    years = 0
    day = first
    leap_day_first = (first.month, first.day) == (2, 29)
    while day < as_of:
        day += timedelta(days=1)
        if (day.month, day.day) == (first.month, first.day) or (
            leap_day_first and (day.month, day.day) == (3, 1) and not is_leap(day.year)
        ):
            years += 1
    return years


month_ends = st.builds(
    lambda year, month: date(year, month, calendar.monthrange(year, month)[1]),
    st.integers(2000, 2030),
    st.integers(1, 12),
)
month_starts = st.builds(lambda year, month: date(year, month, 1), st.integers(2000, 2030), st.integers(1, 12))
leap_days = st.sampled_from([date(year, 2, 29) for year in range(2000, 2031, 4)])
edge_dates = st.one_of(month_ends, month_starts, leap_days, st.dates(date(2000, 1, 1), date(2030, 12, 31)))


@settings(max_examples=150)
@given(first=edge_dates, span=st.integers(0, 4000))
def test_completed_years_agree_with_walking_the_calendar(first: date, span: int) -> None:
    as_of = first + timedelta(days=span)
    assert tenure_years(first, as_of) == completed_years_by_walking_the_calendar(first, as_of)


@given(first=edge_dates, years=st.integers(1, 30))
def test_the_anniversary_is_the_first_day_a_year_is_completed(first: date, years: int) -> None:
    day = anniversary(first, years)
    assert tenure_years(first, day) == years
    assert tenure_years(first, day - timedelta(days=1)) == years - 1


# --- window edges ----------------------------------------------------------------------------------------------


def test_an_order_364_days_old_counts_and_one_365_days_old_does_not() -> None:
    assert score([order(364, "100")], False, AS_OF, RULES).orders_12m == 1
    assert score([order(365, "100")], False, AS_OF, RULES).orders_12m == 0


def test_an_order_dated_after_as_of_is_ignored_everywhere() -> None:
    result = score([order(-1, "5000"), order(10, "100")], False, AS_OF, RULES)
    assert result.revenue_12m == Decimal(100)
    assert result.last_purchase_date == AS_OF - timedelta(days=10)
    only_future = score([order(-1, "5000")], False, AS_OF, RULES)
    assert (only_future.sirank, only_future.retention_segment, only_future.tenure_years) == (0, "never", 0)


amounts = st.decimals(min_value=0, max_value=100_000, places=2)
ages = st.integers(min_value=-30, max_value=3000)
order_lists = st.lists(st.tuples(ages, amounts), max_size=15)
as_of_days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


def facts(as_of: date, pairs: list[tuple[int, Decimal]]) -> list[OrderFact]:
    return [OrderFact(as_of - timedelta(days=age), amount) for age, amount in pairs]


@given(as_of=as_of_days, pairs=order_lists, amount=amounts)
def test_the_window_holds_exactly_its_last_365_days_whatever_the_date(
    as_of: date, pairs: list[tuple[int, Decimal]], amount: Decimal
) -> None:
    base = score(facts(as_of, pairs), False, as_of, RULES)
    inside = score([*facts(as_of, pairs), OrderFact(as_of - timedelta(days=364), amount)], False, as_of, RULES)
    outside = score([*facts(as_of, pairs), OrderFact(as_of - timedelta(days=365), amount)], False, as_of, RULES)
    future = score([*facts(as_of, pairs), OrderFact(as_of + timedelta(days=1), amount)], False, as_of, RULES)
    assert inside.revenue_12m == base.revenue_12m + amount
    assert inside.orders_12m == base.orders_12m + 1
    assert (outside.revenue_12m, outside.orders_12m) == (base.revenue_12m, base.orders_12m)
    assert future == base


# --- monotonicity ----------------------------------------------------------------------------------------------


@given(as_of=as_of_days, pairs=order_lists, age=st.integers(0, 364), amount=amounts, dp=st.booleans())
def test_another_order_in_the_window_never_lowers_sirank(
    as_of: date, pairs: list[tuple[int, Decimal]], age: int, amount: Decimal, dp: bool
) -> None:
    before = score(facts(as_of, pairs), dp, as_of, RULES).sirank
    after = score([*facts(as_of, pairs), OrderFact(as_of - timedelta(days=age), amount)], dp, as_of, RULES).sirank
    assert after >= before


@given(as_of=as_of_days, pairs=order_lists, index=st.integers(0, 14), extra=amounts, dp=st.booleans())
def test_more_revenue_on_an_order_never_lowers_sirank(
    as_of: date, pairs: list[tuple[int, Decimal]], index: int, extra: Decimal, dp: bool
) -> None:
    if not pairs:
        return
    index %= len(pairs)
    richer = list(pairs)
    richer[index] = (pairs[index][0], pairs[index][1] + extra)
    assert score(facts(as_of, richer), dp, as_of, RULES).sirank >= score(facts(as_of, pairs), dp, as_of, RULES).sirank


@given(as_of=as_of_days, pairs=order_lists, older=st.integers(0, 5000), dp=st.booleans())
def test_longer_tenure_never_lowers_sirank(as_of: date, pairs: list[tuple[int, Decimal]], older: int, dp: bool) -> None:
    # an old order of zero value adds tenure and nothing else (it is outside the window)
    before = score(facts(as_of, pairs), dp, as_of, RULES).sirank
    after = score([*facts(as_of, pairs), OrderFact(as_of - timedelta(days=365 + older), Decimal(0))], dp, as_of, RULES)
    assert after.sirank >= before


@given(as_of=as_of_days, pairs=order_lists)
def test_dp_membership_never_lowers_sirank(as_of: date, pairs: list[tuple[int, Decimal]]) -> None:
    assert (
        score(facts(as_of, pairs), True, as_of, RULES).sirank >= score(facts(as_of, pairs), False, as_of, RULES).sirank
    )


@given(
    revenue=amounts,
    orders=st.integers(0, 40),
    years=st.integers(0, 20),
    more_orders=st.integers(0, 10),
    more_years=st.integers(0, 10),
)
def test_the_formula_is_monotone_in_each_input(
    revenue: Decimal, orders: int, years: int, more_orders: int, more_years: int
) -> None:
    base = sirank_value(revenue, orders, years, False, RULES)
    assert sirank_value(revenue, orders + more_orders, years, False, RULES) >= base
    assert sirank_value(revenue, orders, years + more_years, False, RULES) >= base
    assert sirank_value(revenue + 1, orders, years, False, RULES) >= base


# --- next review -----------------------------------------------------------------------------------------------


def assert_nothing_changes_before_the_review_day(orders: list[OrderFact], dp: bool, as_of: date) -> None:
    today = score(orders, dp, as_of, RULES)
    review = next_review(orders, dp, as_of, RULES)
    horizon = as_of + timedelta(days=800)
    end = horizon if review is None else min(review, horizon)
    assert review is None or review > as_of
    day = as_of + timedelta(days=1)
    while day < end:
        later = score(orders, dp, day, RULES)
        assert (later.sirank, later.last_purchase_date, later.retention_segment) == (
            today.sirank,
            today.last_purchase_date,
            today.retention_segment,
        ), f"changed on {day}, before the review day {review}"
        day += timedelta(days=1)


@settings(max_examples=60, deadline=None)
@given(as_of=as_of_days, pairs=st.lists(st.tuples(st.integers(-60, 900), amounts), max_size=6), dp=st.booleans())
def test_nothing_changes_before_the_next_review_day(as_of: date, pairs: list[tuple[int, Decimal]], dp: bool) -> None:
    assert_nothing_changes_before_the_review_day(facts(as_of, pairs), dp, as_of)


@settings(max_examples=60, deadline=None)
@given(
    first=edge_dates,
    since=st.integers(0, 1500),
    pairs=st.lists(st.tuples(st.integers(-30, 400), amounts), max_size=4),
    dp=st.booleans(),
)
def test_nothing_changes_before_the_next_review_day_when_tenure_starts_on_an_edge(
    first: date, since: int, pairs: list[tuple[int, Decimal]], dp: bool
) -> None:
    as_of = first + timedelta(days=since)
    orders = [OrderFact(first, Decimal(0)), *(o for o in facts(as_of, pairs) if o.order_date >= first)]
    assert_nothing_changes_before_the_review_day(orders, dp, as_of)


def test_the_review_day_of_a_growing_tenure_is_the_anniversary_that_moves_the_rounded_value() -> None:
    orders = [order(200, "1000"), on(date(2024, 4, 30), "0")]
    assert next_review(orders, False, AS_OF, RULES) == date(2026, 4, 30)


def test_an_anniversary_that_leaves_the_rounded_value_alone_is_no_review_day() -> None:
    # 10 x (1 + 0.5/12) = 10.42: x 1.03 rounds to 11 and so does x 1.06; the order leaving the window comes first
    orders = [order(200, "10"), on(date(2024, 4, 30), "0")]
    assert next_review(orders, False, AS_OF, RULES) == AS_OF + timedelta(days=165)


def test_a_tenure_at_its_cap_never_needs_a_review_for_tenure() -> None:
    orders = [order(200, "100000"), on(date(2010, 1, 1), "0")]
    assert next_review(orders, False, AS_OF, RULES) == AS_OF + timedelta(days=165)


def test_a_company_without_orders_never_needs_a_review() -> None:
    assert next_review([], True, AS_OF, RULES) is None
