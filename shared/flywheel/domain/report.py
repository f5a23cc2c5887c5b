"""The report's definitions: retention month by month, the revenue split, customer equity, each company's
overview, silent customers, revenue by province, products sold, and what Flywheel's flows contributed.

Pure: companies come in with their orders already read (Europe/Rome dates as ordinals, amounts in euro cents,
sorted by date), touches with their day. Everything is computed at `as_of`; orders dated after it are ignored.
Defaults are in `config.ReportRules` (SiRank's and the retention segments' in `SirankRules`).

- Active customer at day d: a company with an order dated in (d - 365, d], i.e. 0 to 364 days before d: an order
  on the 365th day counting d itself counts, one on the 366th does not.
- Month M: S = active at the last day of M - 1, E = active at the last day of M (at as_of for as_of's month);
  retained = in both, churned = in S not E, new = in E not S; retention_rate = retained / S and churn_rate =
  churned / S, rounded half up to 4 decimals, null when S = 0.
- Revenue of month M (up to as_of), by company: "new" when the company's first order ever is in M;
  "reactivated" when one of its orders in M came more than 180 days after the order before it (180 days exactly
  is not a reactivation); "existing" otherwise. A company's whole revenue of the month goes to one of the three,
  new before reactivated.
- Segments at the end of each month (at as_of for the current one): the retention segments of
  `domain.retention` (attivo, tiepido, freddo, perso) by the last order on or before that day; companies that
  never ordered are in none.
- Customer equity: the sum of SiRank (`domain.sirank`'s formula at as_of) over the companies, beside the sum of
  their R12 (SiRank's revenue window).
- Overview: revenue_mtd (1st of as_of's month to as_of), revenue_prev_month (the whole previous calendar month),
  revenue_ytd (1 January to as_of), last_purchase_date, available_credit, sirank, r12.
- silent: the last order is more than 30 days before as_of (a company that never ordered is not a silent
  customer); credit_available: `available_credit` > 0; revenue_by_province: mtd and ytd by `province`, "??"
  when it is empty.
- Products sold: the line items of the orders dated in the last 90 days, as_of included (as_of - 89 to as_of).
- Attribution: an order is attributed to the touches of its company dated on the order's day or in the 30 days
  before it (order day - 30 to order day, both included: a touch of the same day counts, since a day is all a
  touch records). "linear" gives each of those touches an equal share of the order (its count and its revenue);
  "last_interaction" gives the whole order to the latest day's touch, shared equally when several touches fall on
  that day. Orders are therefore counted as fractions (summed, then rounded to 2 decimals); an order without a
  touch is "unattributed". Orders attributed are those of the report's months (first day of the oldest to as_of).
"""

from __future__ import annotations

import calendar
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from flywheel.config import ReportRules, SirankRules
from flywheel.domain.models import Action, CreateDeal, CreateTask, SendEmail
from flywheel.domain.retention import retention_segment
from flywheel.domain.sirank import in_window, round_half_up, sirank_value, tenure_years

FLOWS: tuple[str, ...] = ("nurture", "riattivazione", "cashback", "dp", "cart", "wakeup", "recontact")
# the report's Italian names of domain.retention's segments; "never" (no order yet) is in none
SEGMENT_NAMES: dict[str, str] = {"active": "attivo", "lukewarm": "tiepido", "cold": "freddo", "lost": "perso"}
UNKNOWN_PROVINCE = "??"
# emails, by the function whose key they carry (`function:company:...`)
EMAIL_FLOWS: dict[str, str] = {
    "nurture_step": "nurture",
    "cold_segment": "riattivazione",
    "cashback_21st": "cashback",
    "dp_progress": "dp",
    "cart_watch": "cart",
}
NURTURE_STEPS = 5


# --- inputs ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompanyFacts:
    """A company and its orders: `days` (date ordinals, ascending) and `cents` side by side."""

    id: str
    name: str
    owner_id: str | None = None
    province: str | None = None
    available_credit: float | None = None
    dp_member: bool = False
    days: Sequence[int] = field(default_factory=lambda: array("i"))
    cents: Sequence[int] = field(default_factory=lambda: array("q"))

    @classmethod
    def of(cls, id: str, name: str, orders: Iterable[tuple[date, int]] = (), **details: Any) -> CompanyFacts:
        """Orders given as (day, cents) in any order."""
        ordered = sorted((day.toordinal(), cents) for day, cents in orders)
        return cls(
            id, name, days=array("i", (d for d, _ in ordered)), cents=array("q", (c for _, c in ordered)), **details
        )

    def last_order(self, on_or_before: date) -> date | None:
        index = bisect_right(self.days, on_or_before.toordinal())
        return date.fromordinal(self.days[index - 1]) if index else None

    def cents_between(self, first: date, last: date) -> int:
        """Revenue of the orders dated first..last, both included."""
        lo = bisect_left(self.days, first.toordinal())
        hi = bisect_right(self.days, last.toordinal())
        return sum(self.cents[lo:hi])


@dataclass(frozen=True, slots=True)
class Touch:
    """An effect Flywheel carried out for a company: an email of a flow, a Wake Up deal, a recontact task."""

    company_id: str
    flow: str
    day: date


@dataclass(frozen=True, slots=True)
class OrderRef:
    """An order as attribution sees it."""

    company_id: str
    day: date
    cents: int


# --- touches ---------------------------------------------------------------------------------------------------


def touch_flow(action: Action) -> str | None:
    """The flow an action is a touch of, or None when it is not a touch (property writes, stage moves, owner
    alerts, the assistant's appointment and reminder tasks, the fido digest). Read from the function its key
    names (`function:company:step...`), since every flow keys its effects that way."""
    key = getattr(action, "key", None) or ""
    parts = key.split(":")
    if isinstance(action, SendEmail):
        return EMAIL_FLOWS.get(parts[0])
    if parts[0] != "cold_segment" or len(parts) < 3:
        return None
    if isinstance(action, CreateDeal) and parts[2] == "wakeup":
        return "wakeup"
    if isinstance(action, CreateTask) and parts[2] in ("recontact", "recontact2"):
        return "recontact"
    return None


# --- dates -----------------------------------------------------------------------------------------------------


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_last_day(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def previous_month(first: date) -> date:
    return month_start(first - timedelta(days=1))


def report_months(as_of: date, count: int) -> list[date]:
    """The first days of the last `count` months, as_of's month last."""
    months = [month_start(as_of)]
    while len(months) < count:
        months.append(previous_month(months[-1]))
    return months[::-1]


# --- definitions -----------------------------------------------------------------------------------------------


def is_active(company: CompanyFacts, day: date, window_days: int) -> bool:
    """An order dated in (day - window_days, day]."""
    index = bisect_right(company.days, day.toordinal())
    return index > 0 and company.days[index - 1] > day.toordinal() - window_days


def rate(part: int, whole: int) -> float | None:
    """part / whole rounded half up to 4 decimals; None when whole is 0."""
    if whole == 0:
        return None
    return float((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def money(cents: int | Fraction) -> float:
    """Euro with 2 decimals from (possibly fractional) cents, halves up (also any count to 2 decimals, given in
    hundredths)."""
    whole = cents if isinstance(cents, int) else round_half_up(cents)
    return whole / 100


def revenue_kind(company: CompanyFacts, first: date, last: date, gap_days: int) -> tuple[str, int] | None:
    """("new" | "reactivated" | "existing", cents) of the company's orders dated first..last; None without any."""
    lo = bisect_left(company.days, first.toordinal())
    hi = bisect_right(company.days, last.toordinal())
    if lo == hi:
        return None
    cents = sum(company.cents[lo:hi])
    if lo == 0:
        return "new", cents
    days = company.days
    if any(days[k] - days[k - 1] > gap_days for k in range(lo, hi)):
        return "reactivated", cents
    return "existing", cents


def segment_at(company: CompanyFacts, day: date, rules: SirankRules) -> str | None:
    """The company's retention segment (Italian name) at `day`; None when it had no order by then."""
    return SEGMENT_NAMES.get(retention_segment(company.last_order(day), day, rules))


def month_rows(
    companies: Sequence[CompanyFacts], as_of: date, rules: ReportRules, sirank_rules: SirankRules
) -> list[dict[str, Any]]:
    rows = []
    for first in report_months(as_of, rules.months):
        start_day = first - timedelta(days=1)
        end_day = min(month_last_day(first), as_of)
        start = end = retained = 0
        revenue = {"new": 0, "reactivated": 0, "existing": 0}
        segments = dict.fromkeys(SEGMENT_NAMES.values(), 0)
        for company in companies:
            s = is_active(company, start_day, rules.active_window_days)
            e = is_active(company, end_day, rules.active_window_days)
            start += s
            end += e
            retained += s and e
            kind = revenue_kind(company, first, end_day, rules.reactivated_after_days)
            if kind is not None:
                revenue[kind[0]] += kind[1]
            segment = segment_at(company, end_day, sirank_rules)
            if segment is not None:
                segments[segment] += 1
        churned, new = start - retained, end - retained
        rows.append(
            {
                "month": f"{first.year:04d}-{first.month:02d}",
                "start_active": start,
                "end_active": end,
                "retained": retained,
                "churned": churned,
                "new": new,
                "retention_rate": rate(retained, start),
                "churn_rate": rate(churned, start),
                "revenue": money(sum(revenue.values())),
                "revenue_new": money(revenue["new"]),
                "revenue_reactivated": money(revenue["reactivated"]),
                "revenue_existing": money(revenue["existing"]),
                "segments": segments,
            }
        )
    return rows


@dataclass(frozen=True, slots=True)
class Equity:
    sirank: int
    r12_cents: int


def equity(company: CompanyFacts, as_of: date, rules: SirankRules) -> Equity:
    """SiRank and R12 at as_of, by domain.sirank's formula (same window, tenure and D&P multiplier)."""
    until = bisect_right(company.days, as_of.toordinal())
    if until == 0:
        return Equity(0, 0)
    cents = count = 0
    for k in range(until - 1, -1, -1):
        day = date.fromordinal(company.days[k])
        if not in_window(day, as_of, rules):
            break
        cents += company.cents[k]
        count += 1
    years = tenure_years(date.fromordinal(company.days[0]), as_of)
    value = sirank_value(Decimal(cents) / 100, count, years, company.dp_member, rules)
    return Equity(value, cents)


def overview(company: CompanyFacts, as_of: date, sirank_rules: SirankRules) -> dict[str, Any]:
    """The company's row of the report (owner email added by the caller, who knows the owners)."""
    first = month_start(as_of)
    before = previous_month(first)
    last = company.last_order(as_of)
    value = equity(company, as_of, sirank_rules)
    return {
        "id": company.id,
        "name": company.name,
        "owner_id": company.owner_id,
        "province": company.province,
        "revenue_mtd": money(company.cents_between(first, as_of)),
        "revenue_prev_month": money(company.cents_between(before, month_last_day(before))),
        "revenue_ytd": money(company.cents_between(as_of.replace(month=1, day=1), as_of)),
        "last_purchase_date": None if last is None else last.isoformat(),
        "available_credit": None if company.available_credit is None else round(company.available_credit, 2),
        "sirank": value.sirank,
        "r12": money(value.r12_cents),
    }


def is_silent(company: CompanyFacts, as_of: date, rules: ReportRules) -> bool:
    last = company.last_order(as_of)
    return last is not None and (as_of - last).days > rules.silent_days


def has_credit(company: CompanyFacts) -> bool:
    return company.available_credit is not None and company.available_credit > 0


def revenue_by_province(companies: Iterable[CompanyFacts], as_of: date) -> dict[str, dict[str, float]]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    first, new_year = month_start(as_of), as_of.replace(month=1, day=1)
    for company in companies:
        province = (company.province or "").strip() or UNKNOWN_PROVINCE
        entry = totals[province]
        entry[0] += company.cents_between(first, as_of)
        entry[1] += company.cents_between(new_year, as_of)
    return {name: {"mtd": money(mtd), "ytd": money(ytd)} for name, (mtd, ytd) in sorted(totals.items())}


def products_period(as_of: date, rules: ReportRules) -> tuple[date, date]:
    """The days whose orders' line items are listed: the last `products_days` days, as_of included."""
    return as_of - timedelta(days=rules.products_days - 1), as_of


def attribution(orders: Iterable[OrderRef], touches: Mapping[str, Sequence[Touch]], window_days: int) -> dict[str, Any]:
    """Per flow, orders and revenue under both models (every flow present, zero when untouched)."""
    shares: dict[str, dict[str, list[Fraction]]] = {
        flow: {"last_interaction": [Fraction(0), Fraction(0)], "linear": [Fraction(0), Fraction(0)]} for flow in FLOWS
    }
    unattributed = [0, 0]
    for order in orders:
        oldest = order.day - timedelta(days=window_days)
        near = [t for t in touches.get(order.company_id, ()) if oldest <= t.day <= order.day and t.flow in shares]
        if not near:
            unattributed[0] += 1
            unattributed[1] += order.cents
            continue
        latest = max(t.day for t in near)
        last = [t for t in near if t.day == latest]
        for model, credited in (("linear", near), ("last_interaction", last)):
            share = Fraction(1, len(credited))
            for touch in credited:
                entry = shares[touch.flow][model]
                entry[0] += share
                entry[1] += share * order.cents
    return {
        "window_days": window_days,
        "flows": {
            flow: {
                model: {"orders": money(count * 100), "revenue": money(cents)}
                for model, (count, cents) in models.items()
            }
            for flow, models in shares.items()
        },
        "unattributed": {"orders": unattributed[0], "revenue": money(unattributed[1])},
    }


def nurture_funnel(sequences: Iterable[tuple[int, str]]) -> dict[str, int]:
    """From (last step sent, status) of each nurture enrolment: how many reached each step, how many converted."""
    funnel = {f"step_{n}": 0 for n in range(1, NURTURE_STEPS + 1)}
    funnel["converted"] = 0
    for step, status in sequences:
        for n in range(1, min(step, NURTURE_STEPS) + 1):
            funnel[f"step_{n}"] += 1
        funnel["converted"] += status == "converted"
    return funnel
