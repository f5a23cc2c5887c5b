"""The demo's daily order flow: customers come back at their own rhythm, deterministically for a seed and a day."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox import schema
from sandbox.activity import MAX_DAILY_CHANCE, NewOrder, daily_order_chance, derive_profiles, orders_for_day
from sandbox.generator import GeneratedPortal, generate_portal

ROME = ZoneInfo("Europe/Rome")
TODAY = date(2026, 3, 16)
SEED = 5
COMPANIES = 600


@pytest.fixture(scope="module")
def portal() -> GeneratedPortal:
    return generate_portal(COMPANIES, seed=SEED, today=TODAY)


@dataclasses.dataclass
class Simulation:
    orders: list[tuple[date, NewOrder]]
    crossed_sixty_days: set[str]  # companies whose days since the last order reached 60 during the run
    lukewarm_returns: set[str]  # companies that ordered again after 60 to 179 quiet days


@pytest.fixture(scope="module")
def ninety_days(portal: GeneratedPortal) -> Simulation:
    placed: dict[str, date] = {}
    simulation = Simulation([], set(), set())
    for offset in range(90):
        day = TODAY + timedelta(days=offset)
        for company_id, profile in portal.profiles.items():
            last = max(filter(None, (profile.last_order, placed.get(company_id))), default=None)
            if last is not None and (day - last).days == 60:
                simulation.crossed_sixty_days.add(company_id)
        for order in orders_for_day(portal, day, SEED, placed):
            profile = portal.profiles[order.company_id]
            last = max(filter(None, (profile.last_order, placed.get(order.company_id))), default=None)
            if last is not None and 60 <= (day - last).days < 180:
                simulation.lukewarm_returns.add(order.company_id)
            placed[order.company_id] = day
            simulation.orders.append((day, order))
    return simulation


def test_a_day_gives_the_same_orders_for_the_same_seed_and_history(portal: GeneratedPortal) -> None:
    day = TODAY + timedelta(days=3)
    first = orders_for_day(portal, day, SEED, {})
    again = orders_for_day(portal, day, SEED, {})

    assert first and first == again
    assert orders_for_day(portal, day, SEED + 1, {}) != first
    assert orders_for_day(portal, day + timedelta(days=1), SEED, {}) != first


def test_new_orders_are_closed_won_deals_of_existing_companies_on_that_day(ninety_days: Simulation) -> None:
    won = {(p, schema.WON_STAGE_BY_PIPELINE[p]) for p in schema.ORDER_PIPELINE_IDS}
    for day, order in ninety_days.orders:
        closed = datetime.fromisoformat(order.closedate.replace("Z", "+00:00")).astimezone(ROME)
        assert (order.pipeline, order.dealstage) in won
        assert closed.date() == day
        assert 8 <= closed.hour < 19
        assert float(order.amount) > 0
        assert order.dealname
        assert order.company_id.isdigit()


def test_a_company_orders_at_most_once_a_day(portal: GeneratedPortal, ninety_days: Simulation) -> None:
    per_day = Counter((day, order.company_id) for day, order in ninety_days.orders)
    day = TODAY + timedelta(days=10)
    everyone_ordered_today = {company_id: day for company_id in portal.profiles}

    assert max(per_day.values()) == 1
    assert orders_for_day(portal, day, SEED, everyone_ordered_today) == []


def test_ninety_days_bring_lukewarm_enrolments_and_conversions(ninety_days: Simulation) -> None:
    companies_ordering = {order.company_id for _, order in ninety_days.orders}

    assert len(ninety_days.crossed_sixty_days) >= 0.05 * COMPANIES
    assert len(ninety_days.lukewarm_returns) >= 10
    assert len(companies_ordering) >= 0.1 * COMPANIES
    # a B2B base of this size places a handful of orders a day, not hundreds
    assert 0.5 <= len(ninety_days.orders) / 90 <= 0.05 * COMPANIES


def test_weekends_are_quieter_than_working_days(ninety_days: Simulation) -> None:
    weekend = sum(1 for day, _ in ninety_days.orders if day.weekday() >= 5)
    working = len(ninety_days.orders) - weekend

    assert weekend / 2 < working / 5


def test_orders_flow_from_a_portal_whose_profiles_are_derived_from_its_deals(portal: GeneratedPortal) -> None:
    bare = GeneratedPortal(portal.objects, portal.associations)
    day = TODAY + timedelta(days=1)
    derived = derive_profiles(portal)

    assert {c: p.last_order for c, p in derived.items()} == {c: p.last_order for c, p in portal.profiles.items()}
    assert orders_for_day(bare, day, SEED, {}) == orders_for_day(bare, day, SEED, {})
    assert all(order.company_id in derived for order in orders_for_day(bare, day, SEED, {}))


def test_the_daily_chance_fades_as_a_customer_goes_quiet() -> None:
    interval = 90.0

    assert daily_order_chance(interval, 0) == 0.0
    assert daily_order_chance(interval, 59) > daily_order_chance(interval, 60) > 0
    assert daily_order_chance(interval, 179) > daily_order_chance(interval, 180) > 0
    assert daily_order_chance(interval, 1460) > daily_order_chance(interval, 1461) > 0
    assert daily_order_chance(interval, None) > 0


@given(
    interval=st.floats(min_value=0.0, max_value=2000, allow_nan=False),
    days=st.one_of(st.none(), st.integers(min_value=-30, max_value=4000)),
)
def test_the_daily_chance_is_a_probability(interval: float, days: int | None) -> None:
    assert 0.0 <= daily_order_chance(interval, days) <= MAX_DAILY_CHANCE
