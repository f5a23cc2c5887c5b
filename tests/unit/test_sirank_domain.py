"""SiRank: the formula on worked examples, its window edges, monotonicity, and when it next changes by itself."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.config import SirankRules
from flywheel.domain.sirank import OrderFact, is_dp_member, next_review, score, sirank_value

RULES = SirankRules()
AS_OF = date(2026, 3, 31)


def order(days_ago: int, amount: str) -> OrderFact:
    return OrderFact(AS_OF - timedelta(days=days_ago), Decimal(amount))


# --- worked examples -------------------------------------------------------------------------------------------


def test_a_single_order_today_is_its_amount_with_one_twelfth_of_the_frequency_bonus() -> None:
    # 1000 x (1 + 0.5 x 1/12) x (1 + 0) = 1041.67 -> 1042
    assert score([order(0, "1000")], False, AS_OF, RULES).sirank == 1042


def test_a_monthly_buyer_of_five_years_with_dp_membership() -> None:
    # twelve orders of 1000 in the last year, first order 1826 days ago:
    # R12 = 12000, x 1.5 (frequency capped), x (1 + 0.3 x 1826/3652.5) = 1.14997946..., x 1.2 (D&P)
    orders = [order(30 * month, "1000") for month in range(12)] + [order(1826, "500")]
    without_dp = score(orders, False, AS_OF, RULES)
    with_dp = score(orders, True, AS_OF, RULES)
    assert without_dp.revenue_12m == Decimal(12000)
    assert without_dp.orders_12m == 12
    assert without_dp.sirank == 20700  # 20699.63
    assert with_dp.sirank == 24840  # 24839.56


def test_tenure_caps_at_ten_years() -> None:
    ten_years = [order(0, "1000"), order(3653, "1")]
    twenty_years = [order(0, "1000"), order(7305, "1")]
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
    tenure=st.integers(0, 6000),
    more_orders=st.integers(0, 10),
    more_days=st.integers(0, 2000),
)
def test_the_formula_is_monotone_in_each_input(
    revenue: Decimal, orders: int, tenure: int, more_orders: int, more_days: int
) -> None:
    base = sirank_value(revenue, orders, tenure, False, RULES)
    assert sirank_value(revenue, orders + more_orders, tenure, False, RULES) >= base
    assert sirank_value(revenue, orders, tenure + more_days, False, RULES) >= base
    assert sirank_value(revenue + 1, orders, tenure, False, RULES) >= base


# --- next review -----------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(as_of=as_of_days, pairs=st.lists(st.tuples(st.integers(-60, 900), amounts), max_size=6), dp=st.booleans())
def test_nothing_changes_before_the_next_review_day(as_of: date, pairs: list[tuple[int, Decimal]], dp: bool) -> None:
    orders = facts(as_of, pairs)
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


def test_the_review_day_of_a_growing_tenure_is_the_day_the_rounded_value_moves() -> None:
    orders = [order(0, "100000"), order(1000, "1")]
    review = next_review(orders, False, AS_OF, RULES)
    assert review is not None
    before = score(orders, False, review - timedelta(days=1), RULES).sirank
    on_the_day = score(orders, False, review, RULES).sirank
    assert score(orders, False, AS_OF, RULES).sirank == before
    assert on_the_day > before


def test_a_company_without_orders_never_needs_a_review() -> None:
    assert next_review([], True, AS_OF, RULES) is None
