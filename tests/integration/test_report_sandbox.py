"""The report over a sandbox portal, read through the real HubSpot adapter over HTTP, checked against the issue's
definitions worked out here from the portal's raw records (the sandbox store, not the API), with plain loops over
calendar days instead of the report's own code."""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.memory import MemoryStateStore
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.domain.sirank import OrderFact, is_dp_member, score
from flywheel.ports import AssociationTarget
from flywheel.services.context import Ports
from flywheel.services.report import build_report, touches

pytestmark = pytest.mark.sandbox

ROME = ZoneInfo("Europe/Rome")
FLOWS = ("nurture", "riattivazione", "cashback", "dp", "cart", "wakeup", "recontact")


@dataclass(frozen=True)
class RawOrder:
    deal_id: str
    company_id: str
    day: date
    amount: Decimal


def raw_orders(store: Any) -> list[RawOrder]:
    """Closed-won deals of the two order pipelines, dated by their close date in Rome."""
    order_pipelines = [
        p for p in store.pipelines("deals") if p["label"] in ("Pipeline delle vendite", "Sales management")
    ]
    won = {
        (p["id"], s["id"])
        for p in order_pipelines
        for s in p["stages"]
        if s["metadata"]["isClosed"] == "true" and float(s["metadata"]["probability"]) == 1.0
    }
    orders = []
    for deal in store.all_records("deals"):
        props = deal.properties
        companies = store.associated_ids("deals", deal.id, "companies")
        if (props.get("pipeline"), props.get("dealstage")) not in won or not props.get("closedate") or not companies:
            continue
        instant = datetime.fromisoformat(props["closedate"].replace("Z", "+00:00"))
        amount = Decimal(props.get("amount") or "0")
        orders.append(RawOrder(deal.id, min(companies, key=int), instant.astimezone(ROME).date(), amount))
    return orders


def euros(amount: Decimal | Fraction) -> float:
    return float(Decimal(amount.numerator) / Decimal(amount.denominator) if isinstance(amount, Fraction) else amount)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def active(days: list[date], on: date) -> bool:
    return any(on - timedelta(days=364) <= d <= on for d in days)


def month_ends(as_of: date) -> list[tuple[date, date, date]]:
    """(first day, the day S is measured, the day E is measured) of the last 12 months, oldest first."""
    months = []
    year, month = as_of.year, as_of.month
    for _ in range(12):
        first = date(year, month, 1)
        last = min(date(year, month, calendar.monthrange(year, month)[1]), as_of)
        months.append((first, first - timedelta(days=1), last))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


@pytest.fixture
def portal(sandbox_factory: Any) -> Any:
    return sandbox_factory(companies=90, seed=13)


def test_the_report_agrees_with_the_definitions_worked_out_from_the_portal(portal: Any, now: datetime) -> None:
    today = now.astimezone(ROME).date()
    crm = HubSpotCrm(api_base=portal.url, access_token=portal.token, rate_limit_per_10s=0)
    store = portal.store
    orders = raw_orders(store)
    recent = sorted((o for o in orders if (today - o.day).days < 90), key=lambda o: o.deal_id)[:6]
    assert recent, "the generated portal has orders in the last 90 days"
    for number, order in enumerate(recent):
        crm.create(
            "line_items",
            {"name": f"Prodotto {number}", "quantity": str(number + 1), "price": f"{10 + number}.50"},
            [AssociationTarget("deals", order.deal_id)],
        )
    wakeup = next(p for p in crm.pipelines("deals") if p.label == "Wake Up Pipeline")
    for stage in (wakeup.stages[1], wakeup.stages[1], wakeup.stages[3], wakeup.stages[-1]):
        properties = {"dealname": "Wake Up", "pipeline": wakeup.id, "dealstage": stage.id}
        crm.create("deals", properties, [AssociationTarget("companies", orders[0].company_id)])
    state = MemoryStateStore()
    # touches around some orders: the order's day, 30 and 31 days before, two on one day
    touched = sorted({o.company_id for o in orders if (today - o.day).days < 200})[:5]
    touch_days: dict[str, list[tuple[str, date]]] = defaultdict(list)
    for n, company_id in enumerate(touched):
        last = max(o.day for o in orders if o.company_id == company_id and o.day <= today)
        for k, (flow, back) in enumerate([(FLOWS[n % 7], 0), (FLOWS[(n + 1) % 7], 30), ("cart", 31), ("dp", 30)]):
            day = last - timedelta(days=back)
            state.put_documents(
                touches.COLLECTION,
                {f"t:{company_id}:{k}": {"company_id": company_id, "flow": flow, "day": day.isoformat()}},
            )
            touch_days[company_id].append((flow, day))

    ports = Ports(crm=crm, state=state, mailer=object(), clock=FixedClock(now), settings=Settings())  # type: ignore[arg-type]
    report = build_report(ports, today)

    companies = {c.id: c.properties for c in store.all_records("companies")}
    days_of: dict[str, list[date]] = defaultdict(list)
    amounts_of: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for order in orders:
        if order.day <= today:
            days_of[order.company_id].append(order.day)
            amounts_of[order.company_id].append((order.day, order.amount))

    # kpis and customer equity (SiRank by domain.sirank, the formula sirank_recalc writes)
    assert report["kpis"]["active_customers"] == sum(active(days_of[c], today) for c in companies)
    settings_sirank = Settings().sirank
    scores = {
        c: score([OrderFact(d, a) for d, a in amounts_of[c]], is_dp_member(p.get("dp_level")), today, settings_sirank)
        for c, p in companies.items()
    }
    assert report["kpis"]["customer_equity_sirank"] == sum(s.sirank for s in scores.values())
    assert report["kpis"]["customer_equity_r12"] == euros(sum((s.revenue_12m for s in scores.values()), Decimal(0)))

    # months
    assert [row["month"] for row in report["months"]] == [
        f"{f.year:04d}-{f.month:02d}" for f, _, _ in month_ends(today)
    ]
    for row, (first, s_day, e_day) in zip(report["months"], month_ends(today), strict=True):
        start = {c for c in companies if active(days_of[c], s_day)}
        end = {c for c in companies if active(days_of[c], e_day)}
        assert (row["start_active"], row["end_active"]) == (len(start), len(end))
        assert (row["retained"], row["churned"], row["new"]) == (len(start & end), len(start - end), len(end - start))
        expected_rate = None if not start else float(cents(Decimal(len(start & end)) / len(start) * 100) / 100)
        assert row["retention_rate"] == expected_rate
        split = {"new": Decimal(0), "reactivated": Decimal(0), "existing": Decimal(0)}
        for c in companies:
            in_month = [(d, a) for d, a in amounts_of[c] if first <= d <= e_day]
            if not in_month:
                continue
            everything = sorted(days_of[c])
            if min(everything) >= first:
                kind = "new"
            elif any(
                (d - max(x for x in everything if x < d)).days > 180
                for d, _ in in_month
                if any(x < d for x in everything)
            ):
                kind = "reactivated"
            else:
                kind = "existing"
            split[kind] += sum(a for _, a in in_month)
        assert row["revenue_new"] == euros(split["new"])
        assert row["revenue_reactivated"] == euros(split["reactivated"])
        assert row["revenue_existing"] == euros(split["existing"])

    # the overview of every company
    rows = {row["id"]: row for row in report["companies"]}
    assert set(rows) == set(companies)
    month_first = today.replace(day=1)
    prev_last = month_first - timedelta(days=1)
    for c, props in companies.items():
        row = rows[c]
        assert row["revenue_mtd"] == euros(sum((a for d, a in amounts_of[c] if d >= month_first), Decimal(0)))
        assert row["revenue_prev_month"] == euros(
            sum((a for d, a in amounts_of[c] if prev_last.replace(day=1) <= d <= prev_last), Decimal(0))
        )
        assert row["revenue_ytd"] == euros(sum((a for d, a in amounts_of[c] if d.year == today.year), Decimal(0)))
        last = max(days_of[c], default=None)
        assert row["last_purchase_date"] == (last.isoformat() if last else None)
        assert row["sirank"] == scores[c].sirank
        assert row["province"] == (props.get("province") or None)

    assert report["silent_30"] == sorted(
        (c for c in companies if days_of[c] and (today - max(days_of[c])).days > 30), key=int
    )
    assert report["credit_available"] == sorted(
        (c for c, p in companies.items() if float(p.get("available_credit") or 0) > 0), key=int
    )
    provinces: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for c, props in companies.items():
        entry = provinces[(props.get("province") or "").strip() or "??"]
        entry[0] += sum((a for d, a in amounts_of[c] if d >= month_first), Decimal(0))
        entry[1] += sum((a for d, a in amounts_of[c] if d.year == today.year), Decimal(0))
    assert report["revenue_by_province"] == {p: {"mtd": euros(m), "ytd": euros(y)} for p, (m, y) in provinces.items()}

    # products sold: exactly the line items created on the period's orders
    sold = {
        (s["product"], s["quantity"], s["unit_price"], s["company_id"], s["order_date"])
        for s in report["products_sold"]
    }
    assert sold == {
        (f"Prodotto {n}", float(n + 1), 10 + n + 0.5, o.company_id, o.day.isoformat()) for n, o in enumerate(recent)
    }

    # attribution: every order of the 12 months against the touches of the 30 days before it, day included
    linear: dict[str, Fraction] = defaultdict(Fraction)
    last_interaction: dict[str, Fraction] = defaultdict(Fraction)
    linear_revenue: dict[str, Fraction] = defaultdict(Fraction)
    unattributed = 0
    for order in orders:
        if not month_ends(today)[0][0] <= order.day <= today:
            continue
        near = [(f, d) for f, d in touch_days.get(order.company_id, []) if 0 <= (order.day - d).days <= 30]
        if not near:
            unattributed += 1
            continue
        for flow, _ in near:
            linear[flow] += Fraction(1, len(near))
            linear_revenue[flow] += Fraction(order.amount) / len(near)
        latest = [f for f, d in near if d == max(d for _, d in near)]
        for flow in latest:
            last_interaction[flow] += Fraction(1, len(latest))
    flows = report["attribution"]["flows"]
    assert set(flows) == set(FLOWS)
    assert sum(linear.values()) > 0, "some touches fall in the window of an order"
    assert report["attribution"]["unattributed"]["orders"] == unattributed
    for flow in FLOWS:
        assert flows[flow]["linear"]["orders"] == float(
            cents(Decimal(linear[flow].numerator) / linear[flow].denominator)
        )
        assert flows[flow]["linear"]["revenue"] == float(
            cents(Decimal(linear_revenue[flow].numerator) / linear_revenue[flow].denominator)
        )
        assert flows[flow]["last_interaction"]["orders"] == float(
            cents(Decimal(last_interaction[flow].numerator) / last_interaction[flow].denominator)
        )

    # the Wake Up pipeline: open deals by stage, in the pipeline's order
    raw_wakeup = next(p for p in store.pipelines("deals") if p["label"] == "Wake Up Pipeline")
    open_stages = [s for s in raw_wakeup["stages"] if s["metadata"]["isClosed"] != "true"]
    count: dict[str, int] = defaultdict(int)
    for deal in store.all_records("deals"):
        if deal.properties.get("pipeline") == raw_wakeup["id"]:
            count[deal.properties.get("dealstage")] += 1
    assert report["wakeup_pipeline"] == [
        {"stage_id": s["id"], "label": s["label"], "deals": count[s["id"]]} for s in open_stages
    ]


def test_the_report_reads_by_pages_and_batches_never_per_company(portal: Any, now: datetime) -> None:
    today = now.astimezone(ROME).date()
    crm = HubSpotCrm(api_base=portal.url, access_token=portal.token, rate_limit_per_10s=0)
    ports = Ports(crm=crm, state=MemoryStateStore(), mailer=object(), clock=FixedClock(now), settings=Settings())  # type: ignore[arg-type]
    store = portal.store
    counts = store.counts()
    period_orders = sum(1 for o in raw_orders(store) if 0 <= (today - o.day).days < 90)
    before = crm.calls_made

    build_report(ports, today)

    pages = -(-counts["companies"] // 100) + -(-counts["deals"] // 100)
    # schema (pipelines, owners) + list pages + the associations of the period's orders (no line items on them)
    assert crm.calls_made - before == 2 + pages + -(-period_orders // 100)
