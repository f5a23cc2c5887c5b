"""A company's revenue by calendar period, as sirank_recalc writes it on the company for HubSpot's own views.

- month to date: the orders dated in as_of's month, up to and including as_of;
- previous month: the orders dated in the calendar month before as_of's (December for a January as_of);
- year to date: the orders dated from 1 January of as_of's year up to and including as_of.

Dates are Europe/Rome calendar dates (an order closed at 23:30 UTC on 31 January is a 1 February order), as the
orders' OrderFact already carries them. Orders dated after as_of (a backfill run) are ignored, as SiRank does.

The three figures change by themselves only on the first day of a month (the month rolls over; on 1 January the
year too) and on the day of an order dated in the future; `next_change` names the first such day on which they
actually differ, so that an incremental run re-reads nothing and rewrites a company only when its figures move.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from flywheel.domain.sirank import OrderFact

CENT = Decimal("0.01")
ZERO = "0.00"


@dataclass(frozen=True, slots=True)
class PeriodRevenue:
    month_to_date: Decimal
    previous_month: Decimal
    year_to_date: Decimal


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month_start(day: date) -> date:
    return date(day.year - 1, 12, 1) if day.month == 1 else date(day.year, day.month - 1, 1)


def next_month_start(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def period_revenue(orders: Iterable[OrderFact], as_of: date) -> PeriodRevenue:
    this_month = month_start(as_of)
    last_month = previous_month_start(as_of)
    new_year = date(as_of.year, 1, 1)
    mtd = prev = ytd = Decimal(0)
    for order in orders:
        day = order.order_date
        if day > as_of:
            continue
        if day >= this_month:
            mtd += order.amount
        elif day >= last_month:
            prev += order.amount
        if day >= new_year:
            ytd += order.amount
    return PeriodRevenue(mtd, prev, ytd)


def next_change(orders: Iterable[OrderFact], as_of: date) -> date | None:
    """The first day after as_of on which the figures differ from as_of's with no new data; None when they
    never will.

    They are constant between events: a month start, or the date of an order dated after as_of. After the last
    of those orders (or as_of) the figures settle by three month starts at most: the next one (its month ends),
    the one after (it leaves the previous month) and the next 1 January (the year ends); from the later of the
    last two on they are zero for good, so the events looked at stop there.
    """
    # an order older than the previous month and the year's start counts in no figure from as_of on
    horizon = min(previous_month_start(as_of), date(as_of.year, 1, 1))
    relevant = [o for o in orders if o.order_date >= horizon]
    now = period_revenue(relevant, as_of)
    future = sorted({o.order_date for o in relevant if o.order_date > as_of})
    last = max([as_of, *future])
    settled = max(next_month_start(next_month_start(last)), date(last.year + 1, 1, 1))
    events = set(future)
    start = next_month_start(as_of)
    while start <= settled:
        events.add(start)
        start = next_month_start(start)
    for day in sorted(events):
        if period_revenue(relevant, day) != now:
            return day
    return None


def money(amount: Decimal) -> str:
    """EUR as HubSpot number text with two decimals: 1234.5 -> "1234.50"."""
    if amount == 0:
        # most companies' figures are zero, and a full run holds every company's action: one shared string
        return ZERO
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))
