"""The report's definitions at their edges: active customers, months, the revenue split, the overview, silent
customers, provinces and the attribution of orders to Flywheel's flows."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.config import ReportRules, SirankRules
from flywheel.domain import report as r
from flywheel.domain.models import CreateDeal, CreateTask, NotifyOwner, SendEmail
from flywheel.domain.sirank import OrderFact, score

RULES = ReportRules()
SIRANK = SirankRules()
AS_OF = date(2026, 6, 15)


def company(*orders: tuple[date, float], id: str = "1", **details: object) -> r.CompanyFacts:
    return r.CompanyFacts.of(id, f"Azienda {id}", [(day, round(amount * 100)) for day, amount in orders], **details)


def days_ago(as_of: date, days: int) -> date:
    return as_of - timedelta(days=days)


# --- active customers ------------------------------------------------------------------------------------------


def test_an_order_364_days_old_keeps_a_customer_active_one_365_days_old_does_not(today: date) -> None:
    # (d - 365, d]: the 365th day counting d itself is in, the 366th is out
    assert r.is_active(company((days_ago(today, 364), 10)), today, 365)
    assert not r.is_active(company((days_ago(today, 365), 10)), today, 365)


def test_an_order_after_the_day_does_not_make_a_customer_active_on_it(today: date) -> None:
    assert not r.is_active(company((today + timedelta(days=1), 10)), today, 365)
    assert r.is_active(company((today, 10)), today, 365)


@given(
    offsets=st.lists(st.integers(min_value=-40, max_value=800), max_size=8),
    window=st.integers(min_value=1, max_value=400),
)
def test_active_is_an_order_in_the_window_ending_on_the_day(offsets: list[int], window: int) -> None:
    facts = company(*((days_ago(AS_OF, o), 1) for o in offsets))
    assert r.is_active(facts, AS_OF, window) == any(0 <= o < window for o in offsets)


# --- months ----------------------------------------------------------------------------------------------------


def test_the_months_are_the_last_twelve_oldest_first_with_as_ofs_month_last(today: date) -> None:
    months = r.report_months(today, 12)
    assert len(months) == 12 and months[-1] == today.replace(day=1)
    assert months == sorted(set(months))
    assert all(m.day == 1 for m in months)


def test_a_month_without_active_customers_at_its_start_has_no_rates() -> None:
    # the only customer's first order is in June: S = 0 for June
    rows = r.month_rows([company((date(2026, 6, 3), 100))], AS_OF, RULES, SIRANK)
    june = rows[-1]
    assert (june["month"], june["start_active"], june["end_active"], june["new"]) == ("2026-06", 0, 1, 1)
    assert june["retention_rate"] is None and june["churn_rate"] is None


def test_retained_churned_and_new_compare_the_end_of_the_month_before_with_this_one() -> None:
    rows = r.month_rows(
        [
            company((date(2025, 6, 10), 10), (date(2026, 5, 1), 10), id="kept"),  # active at 31 May and 15 June
            company((date(2025, 6, 5), 10), id="lost"),  # last active 3 June 2026 (364 days later)
            company((date(2026, 6, 2), 10), id="won"),
        ],
        AS_OF,
        RULES,
        SIRANK,
    )
    june = rows[-1]
    assert (june["start_active"], june["end_active"]) == (2, 2)
    assert (june["retained"], june["churned"], june["new"]) == (1, 1, 1)
    assert (june["retention_rate"], june["churn_rate"]) == (0.5, 0.5)


def test_rates_round_half_up_to_four_decimals() -> None:
    assert r.rate(1, 3) == 0.3333
    assert r.rate(2, 3) == 0.6667
    assert r.rate(1, 32) == 0.0313  # 0.03125: half up, where round() would go to the even 0.0312
    assert r.rate(1, 20000) == 0.0001  # 0.00005
    assert r.rate(0, 7) == 0.0
    assert r.rate(1, 0) is None


def test_the_current_month_is_measured_at_as_of_not_at_its_last_day() -> None:
    # 364 days before as_of: active on 15 June, no longer on 30 June
    rows = r.month_rows([company((days_ago(AS_OF, 364), 10))], AS_OF, RULES, SIRANK)
    assert rows[-1]["end_active"] == 1


@given(
    orders=st.lists(
        st.tuples(st.integers(min_value=0, max_value=900), st.integers(min_value=1, max_value=10**6)), max_size=6
    ),
    count=st.integers(min_value=1, max_value=4),
)
def test_every_month_adds_up(orders: list[tuple[int, int]], count: int) -> None:
    companies = [
        r.CompanyFacts.of(str(n), "x", [(days_ago(AS_OF, o), cents)]) for n, (o, cents) in enumerate(orders[:count])
    ] + [r.CompanyFacts.of("all", "x", [(days_ago(AS_OF, o), cents) for o, cents in orders])]
    for row in r.month_rows(companies, AS_OF, RULES, SIRANK):
        assert row["retained"] + row["churned"] == row["start_active"]
        assert row["retained"] + row["new"] == row["end_active"]
        split = row["revenue_new"] + row["revenue_reactivated"] + row["revenue_existing"]
        assert round(split * 100) == round(row["revenue"] * 100)
        assert sum(row["segments"].values()) <= len(companies)


# --- revenue split ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("gap", "kind"), [(180, "existing"), (181, "reactivated")])
def test_a_customer_reactivated_after_more_than_180_days(gap: int, kind: str) -> None:
    june_order = date(2026, 6, 10)
    facts = company((june_order - timedelta(days=gap), 50), (june_order, 300))
    assert r.revenue_kind(facts, date(2026, 6, 1), AS_OF, RULES.reactivated_after_days) == (kind, 30000)


def test_the_first_order_ever_in_the_month_is_new_revenue_for_the_whole_month() -> None:
    facts = company((date(2026, 6, 2), 100), (date(2026, 6, 9), 20))
    assert r.revenue_kind(facts, date(2026, 6, 1), AS_OF, 180) == ("new", 12000)


def test_a_month_with_a_long_gap_then_a_second_order_is_reactivated_revenue() -> None:
    facts = company((date(2025, 1, 2), 10), (date(2026, 6, 2), 100), (date(2026, 6, 9), 20))
    assert r.revenue_kind(facts, date(2026, 6, 1), AS_OF, 180) == ("reactivated", 12000)


def test_orders_after_as_of_are_not_revenue_of_its_month() -> None:
    facts = company((date(2026, 6, 2), 100), (date(2026, 6, 20), 20))
    rows = r.month_rows([facts], AS_OF, RULES, SIRANK)
    assert rows[-1]["revenue"] == 100.0


# --- overview, equity, silent, provinces -----------------------------------------------------------------------


def test_the_overview_splits_month_to_date_previous_month_and_year_to_date() -> None:
    facts = company(
        (date(2025, 12, 31), 1),
        (date(2026, 1, 1), 2),
        (date(2026, 5, 1), 4),
        (date(2026, 5, 31), 8),
        (date(2026, 6, 1), 16),
        (AS_OF, 32),
        (AS_OF + timedelta(days=1), 64),
        available_credit=1234.5,
    )
    row = r.overview(facts, AS_OF, SIRANK)
    assert (row["revenue_mtd"], row["revenue_prev_month"], row["revenue_ytd"]) == (48.0, 12.0, 62.0)
    assert row["last_purchase_date"] == AS_OF.isoformat()
    assert row["available_credit"] == 1234.5


@given(
    orders=st.lists(
        st.tuples(st.integers(min_value=0, max_value=3000), st.integers(min_value=0, max_value=10**7)), max_size=8
    ),
    dp=st.booleans(),
)
def test_sirank_and_r12_are_domain_sirank_at_as_of(orders: list[tuple[int, int]], dp: bool) -> None:
    from decimal import Decimal

    facts = r.CompanyFacts.of("1", "x", [(days_ago(AS_OF, o), cents) for o, cents in orders], dp_member=dp)
    expected = score([OrderFact(days_ago(AS_OF, o), Decimal(c) / 100) for o, c in orders], dp, AS_OF, SIRANK)
    value = r.equity(facts, AS_OF, SIRANK)
    assert value.sirank == expected.sirank
    assert Decimal(value.r12_cents) / 100 == expected.revenue_12m


@pytest.mark.parametrize(("days", "silent"), [(30, False), (31, True)])
def test_silent_means_more_than_30_days_since_the_last_order(today: date, days: int, silent: bool) -> None:
    assert r.is_silent(company((days_ago(today, days), 10)), today, RULES) is silent


def test_a_company_that_never_ordered_is_not_silent(today: date) -> None:
    assert not r.is_silent(company(), today, RULES)


def test_credit_available_means_more_than_zero() -> None:
    assert r.has_credit(company(available_credit=0.01))
    assert not r.has_credit(company(available_credit=0.0))
    assert not r.has_credit(company())


def test_revenue_by_province_puts_an_empty_province_under_question_marks() -> None:
    totals = r.revenue_by_province(
        [
            company((AS_OF, 10), (date(2026, 2, 1), 5), id="1", province="MI"),
            company((AS_OF, 1), id="2", province=" "),
            company((date(2025, 12, 1), 99), id="3"),
        ],
        AS_OF,
    )
    assert totals == {"??": {"mtd": 1.0, "ytd": 1.0}, "MI": {"mtd": 10.0, "ytd": 15.0}}


def test_the_products_period_is_the_last_90_days_as_of_included() -> None:
    first, last = r.products_period(AS_OF, RULES)
    assert (last - first).days + 1 == 90 and last == AS_OF


# --- attribution -----------------------------------------------------------------------------------------------


def attributed(orders: list[r.OrderRef], touches: list[r.Touch]) -> dict[str, object]:
    by_company: dict[str, list[r.Touch]] = {}
    for touch in touches:
        by_company.setdefault(touch.company_id, []).append(touch)
    return r.attribution(orders, by_company, RULES.attribution_window_days)


def test_every_flow_is_present_even_without_touches() -> None:
    result = attributed([], [])
    assert list(result["flows"]) == list(r.FLOWS)  # type: ignore[call-overload]
    zero = {"orders": 0.0, "revenue": 0.0}
    assert all(models == {"last_interaction": zero, "linear": zero} for models in result["flows"].values())  # type: ignore[attr-defined]


def test_an_order_with_no_touch_is_unattributed() -> None:
    result = attributed([r.OrderRef("1", AS_OF, 12345)], [r.Touch("2", "nurture", AS_OF)])
    assert result["unattributed"] == {"orders": 1, "revenue": 123.45}
    assert result["flows"]["nurture"]["linear"]["orders"] == 0.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("days_before", "counts"), [(-1, False), (0, True), (30, True), (31, False)], ids=["after", "same", "30", "31"]
)
def test_a_touch_counts_on_the_order_day_and_up_to_30_days_before(days_before: int, counts: bool) -> None:
    touch = r.Touch("1", "cashback", AS_OF - timedelta(days=days_before))
    result = attributed([r.OrderRef("1", AS_OF, 10000)], [touch])
    expected = {"orders": 1.0, "revenue": 100.0} if counts else {"orders": 0.0, "revenue": 0.0}
    assert result["flows"]["cashback"]["last_interaction"] == expected  # type: ignore[index]
    assert result["flows"]["cashback"]["linear"] == expected  # type: ignore[index]


def test_last_interaction_credits_the_latest_touch_linear_splits_across_all() -> None:
    touches = [
        r.Touch("1", "nurture", AS_OF - timedelta(days=20)),
        r.Touch("1", "nurture", AS_OF - timedelta(days=10)),
        r.Touch("1", "cart", AS_OF - timedelta(days=1)),
    ]
    flows = attributed([r.OrderRef("1", AS_OF, 30000)], touches)["flows"]
    assert flows["cart"]["last_interaction"] == {"orders": 1.0, "revenue": 300.0}  # type: ignore[index]
    assert flows["nurture"]["last_interaction"] == {"orders": 0.0, "revenue": 0.0}  # type: ignore[index]
    assert flows["cart"]["linear"] == {"orders": 0.33, "revenue": 100.0}  # type: ignore[index]
    assert flows["nurture"]["linear"] == {"orders": 0.67, "revenue": 200.0}  # type: ignore[index]


def test_two_touches_on_the_same_day_share_the_order_under_both_models() -> None:
    touches = [r.Touch("1", "dp", AS_OF - timedelta(days=2)), r.Touch("1", "wakeup", AS_OF - timedelta(days=2))]
    flows = attributed([r.OrderRef("1", AS_OF, 10001)], touches)["flows"]
    for flow in ("dp", "wakeup"):
        for model in ("last_interaction", "linear"):
            assert flows[flow][model] == {"orders": 0.5, "revenue": 50.01}  # type: ignore[index]


@given(
    orders=st.lists(
        st.tuples(st.sampled_from("abc"), st.integers(0, 60), st.integers(0, 10**7)), min_size=0, max_size=8
    ),
    touches=st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from(r.FLOWS), st.integers(0, 100)), max_size=10),
)
def test_each_model_gives_out_every_order_once(
    orders: list[tuple[str, int, int]], touches: list[tuple[str, str, int]]
) -> None:
    refs = [r.OrderRef(c, AS_OF - timedelta(days=d), cents) for c, d, cents in orders]
    result = attributed(refs, [r.Touch(c, f, AS_OF - timedelta(days=d)) for c, f, d in touches])
    unattributed = result["unattributed"]
    for model in ("last_interaction", "linear"):
        given_orders = sum(Fraction(str(f[model]["orders"])) for f in result["flows"].values())  # type: ignore[attr-defined]
        given_cents = sum(round(f[model]["revenue"] * 100) for f in result["flows"].values())  # type: ignore[attr-defined]
        # each flow's figure is rounded on its own: at most half a unit of the last decimal each
        assert abs(given_orders + unattributed["orders"] - len(refs)) <= Fraction(len(r.FLOWS), 200)  # type: ignore[index]
        total = sum(cents for _, _, cents in orders)
        assert abs(given_cents + round(unattributed["revenue"] * 100) - total) <= len(r.FLOWS)  # type: ignore[index]


# --- touches and the funnel ------------------------------------------------------------------------------------


def mail(key: str) -> SendEmail:
    return SendEmail(company_id="1", contact_id="2", key=key, template="t")


@pytest.mark.parametrize(
    ("action", "flow"),
    [
        (mail("nurture_step:1:2026-01-01:3:2"), "nurture"),
        (mail("cold_segment:1:reactivation:x:2"), "riattivazione"),
        (mail("cashback_21st:1:2026-06:reminder:2"), "cashback"),
        (mail("dp_progress:1:2026-06:congrats:gold:2"), "dp"),
        (mail("cart_watch:cart-9:reminder:1"), "cart"),
        (CreateDeal(company_id="1", key="cold_segment:1:wakeup:2026-01-01", properties={}), "wakeup"),
        (CreateTask(company_id="1", key="cold_segment:1:recontact:2026-01-01", subject="s"), "recontact"),
        (CreateTask(company_id="1", key="cold_segment:1:recontact2:2026-01-01", subject="s"), "recontact"),
        (CreateTask(company_id="1", key="cold_segment:1:appointment:5:x", subject="s"), None),
        (CreateTask(company_id="1", key="fido_push:owner-1:2026-W01", subject="s"), None),
        (NotifyOwner(company_id="1", key="cart_watch:cart-9:alert:1", subject="s"), None),
    ],
)
def test_the_flow_of_a_touch_is_read_from_its_key(action: object, flow: str | None) -> None:
    assert r.touch_flow(action) == flow  # type: ignore[arg-type]


def test_the_nurture_funnel_counts_each_step_reached_and_the_conversions() -> None:
    funnel = r.nurture_funnel([(0, "active"), (1, "converted"), (3, "active"), (5, "completed"), (7, "completed")])
    assert funnel == {"step_1": 4, "step_2": 3, "step_3": 3, "step_4": 2, "step_5": 2, "converted": 1}
