"""SiRank: a company's customer value from its orders, and the day that value may next change by itself.

SiRank = R12 x (1 + fw x min(F12 / fc, 1)) x (1 + tw x min(Y / cap, 1)) x (dp if D&P member else 1),
rounded to a whole number, halves up, where

- R12 is the revenue of the orders dated after as_of - window and not after as_of,
- F12 the number of those orders,
- Y the tenure in completed years since the first order, counted like an age on Europe/Rome dates, 0 without
  orders: Y = as_of.year - first.year, less one while (as_of.month, as_of.day) < (first.month, first.day).
  A first order on 29 February has its anniversary on 1 March in other years. Tenure therefore moves SiRank
  only on an anniversary, never from one ordinary day to the next.

Orders dated after as_of (a backfill run) are ignored everywhere. Arithmetic is exact (fractions), so a value
that lies exactly on a half rounds up whatever the weights, and full and incremental runs agree to the unit.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from flywheel.config import SirankRules
from flywheel.domain.retention import RetentionSegment, retention_segment

NOT_MEMBER_LEVELS = frozenset({"", "none"})


@dataclass(frozen=True, slots=True)
class OrderFact:
    """What SiRank needs of one order: its Europe/Rome date and its amount in EUR."""

    order_date: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class SirankScore:
    sirank: int
    last_purchase_date: date | None
    retention_segment: RetentionSegment
    revenue_12m: Decimal
    orders_12m: int
    tenure_years: int


def is_dp_member(dp_level: str | None) -> bool:
    """D&P member: `dp_level` set and not `none`."""
    return dp_level is not None and dp_level.strip().lower() not in NOT_MEMBER_LEVELS


def round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def in_window(order_date: date, as_of: date, rules: SirankRules) -> bool:
    """After as_of - window and not after as_of: 364 days old counts, 365 days old does not (window 365)."""
    age = (as_of - order_date).days
    return 0 <= age < rules.window_days


def tenure_years(first: date, as_of: date) -> int:
    """Completed years from the first order to as_of, like an age; 0 before the first anniversary.

    The tuple comparison already puts a 29 February first order's anniversary on 1 March of a common year:
    (2, 28) comes before (2, 29), (3, 1) does not.
    """
    years = as_of.year - first.year
    return years - 1 if (as_of.month, as_of.day) < (first.month, first.day) else years


def anniversary(first: date, years: int) -> date:
    """The day the given number of years is completed: the first order's month and day, or 1 March for a
    29 February first order in a common year."""
    year = first.year + years
    if (first.month, first.day) == (2, 29) and not calendar.isleap(year):
        return date(year, 3, 1)
    return first.replace(year=year)


def _weight(value: float) -> Fraction:
    # through str so that 0.3 is three tenths, not the binary float nearest to it
    return Fraction(str(value))


def _multiplier_without_tenure(revenue: Fraction, orders: int, dp_member: bool, rules: SirankRules) -> Fraction:
    frequency = min(Fraction(orders, rules.frequency_cap), Fraction(1)) if rules.frequency_cap > 0 else Fraction(1)
    value = revenue * (1 + _weight(rules.frequency_weight) * frequency)
    return value * _weight(rules.dp_multiplier) if dp_member else value


def _tenure_factor(years: int, rules: SirankRules) -> Fraction:
    cap = _weight(rules.tenure_cap_years)
    share = min(Fraction(years) / cap, Fraction(1)) if cap > 0 else Fraction(1)
    return 1 + _weight(rules.tenure_weight) * share


def sirank_value(revenue_12m: Decimal, orders_12m: int, tenure_years: int, dp_member: bool, rules: SirankRules) -> int:
    """The formula alone, from its inputs (tenure in completed years)."""
    base = _multiplier_without_tenure(Fraction(revenue_12m), orders_12m, dp_member, rules)
    return round_half_up(base * _tenure_factor(tenure_years, rules))


def score(orders: Iterable[OrderFact], dp_member: bool, as_of: date, rules: SirankRules) -> SirankScore:
    revenue = Decimal(0)
    count = 0
    first: date | None = None
    last: date | None = None
    for order in orders:
        if order.order_date > as_of:
            continue
        if first is None or order.order_date < first:
            first = order.order_date
        if last is None or order.order_date > last:
            last = order.order_date
        if in_window(order.order_date, as_of, rules):
            revenue += order.amount
            count += 1
    years = 0 if first is None else tenure_years(first, as_of)
    return SirankScore(
        sirank=sirank_value(revenue, count, years, dp_member, rules),
        last_purchase_date=last,
        retention_segment=retention_segment(last, as_of, rules),
        revenue_12m=revenue,
        orders_12m=count,
        tenure_years=years,
    )


def next_review(orders: Iterable[OrderFact], dp_member: bool, as_of: date, rules: SirankRules) -> date | None:
    """The first day after as_of on which this company's SiRank or retention segment can change with no new
    data: an order leaves the window, a future-dated order comes in, the segment crosses a threshold, or an
    anniversary of the first order moves the rounded value. None when nothing will ever change by itself.

    Incremental runs re-score a company on that day (or on the first run after it) without reading HubSpot.
    """
    facts = list(orders)
    candidates: list[date] = []
    window = timedelta(days=rules.window_days)
    for order in facts:
        if order.order_date > as_of:
            candidates.append(order.order_date)  # a backfilled future order counts from its own date
        elif in_window(order.order_date, as_of, rules):
            candidates.append(order.order_date + window)  # the first day it no longer counts
    current = score(facts, dp_member, as_of, rules)
    last = current.last_purchase_date
    if last is not None:
        for threshold in (rules.lukewarm_from_days, rules.cold_from_days, rules.lost_from_days):
            boundary = last + timedelta(days=threshold)
            if boundary > as_of:
                candidates.append(boundary)
    past = [o.order_date for o in facts if o.order_date <= as_of]
    if past:
        tenure_change = _next_tenure_change(min(past), dp_member, current, rules)
        if tenure_change is not None:
            candidates.append(tenure_change)
    return min(candidates) if candidates else None


def _next_tenure_change(first: date, dp_member: bool, current: SirankScore, rules: SirankRules) -> date | None:
    """While the window's orders stay put, SiRank grows only through tenure: base x (1 + tw x min(Y/cap, 1)),
    one step per anniversary, and a small base may need several steps before the rounded value moves.

    The value moves when that reaches current + 1/2: solve for the number of years exactly (fractions); None
    when it would take more than the cap, where tenure stops counting.
    """
    cap = _weight(rules.tenure_cap_years)
    weight = _weight(rules.tenure_weight)
    if current.revenue_12m <= 0 or weight <= 0 or cap <= 0:
        return None
    base = _multiplier_without_tenure(Fraction(current.revenue_12m), current.orders_12m, dp_member, rules)
    target = Fraction(current.sirank) + Fraction(1, 2)
    # base x (1 + tw x Y / cap) >= target  <=>  Y >= (target / base - 1) x cap / tw
    needed = (target / base - 1) * cap / weight
    if needed > cap:
        return None
    return anniversary(first, max(math.ceil(needed), current.tenure_years + 1))
