"""sirank_recalc over the sandbox portal, through the real HubSpot adapter over HTTP, with search lagging writes."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import FixedClock
from flywheel.config import PortalContract, Settings
from flywheel.domain.models import RunResult
from flywheel.domain.sirank import OrderFact, is_dp_member, score
from flywheel.services import sirank
from flywheel.services.context import Ports
from flywheel.services.mapping import parse_date
from infra.portal import PortalApi, provision

pytestmark = pytest.mark.sandbox

SEARCH_LAG_SECONDS = 1.0


@dataclass
class Portal:
    server: Any
    crm: HubSpotCrm
    won: str
    lost: str
    pipeline: str
    clock: FixedClock  # the functions' clock; the portal's pinned clock moves with it (watermarks compare both)

    @property
    def today(self) -> date:
        return self.clock.today()

    def tick(self, seconds: float) -> None:
        """Time passes for Flywheel and the portal alike."""
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))
        self.store.clock.advance(seconds)

    @property
    def store(self) -> Any:
        return self.server.store

    def run(self, state: Any, as_of: date, mode: str | None = None, dry_run: bool = False) -> RunResult:
        ports = Ports(crm=self.crm, state=state, mailer=object(), clock=self.clock, settings=Settings())  # type: ignore[arg-type]
        return sirank.run(sirank.Request(as_of=as_of, mode=mode, dry_run=dry_run), ports)  # type: ignore[arg-type]

    def ids(self, object_type: str) -> list[str]:
        return [r.id for page in self.crm.list_pages(object_type, []) for r in page.records]


def open_portal(sandbox_factory: Callable[..., Any], now: datetime, companies: int, lag: float = 0.0) -> Portal:
    server = sandbox_factory(companies=companies, seed=5, now=now, search_lag_seconds=lag)
    crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=0)
    pipeline = next(p for p in crm.pipelines("deals") if p.label == "Pipeline delle vendite")
    won = next(s.id for s in pipeline.stages if s.is_won)
    lost = next(s.id for s in pipeline.stages if s.is_closed and not s.is_won)
    return Portal(server, crm, won, lost, pipeline.id, FixedClock(now))


def expected_values(portal: Portal, as_of: date) -> dict[str, tuple[str, str | None, str]]:
    """SiRank worked out from full listings of the portal, independently of the service's paging and ledger."""
    orders: dict[str, list[OrderFact]] = {}
    order_pipelines = {p.id for p in portal.crm.pipelines("deals") if p.label in Settings().portal.order_pipelines}
    won = {s.id for p in portal.crm.pipelines("deals") if p.id in order_pipelines for s in p.stages if s.is_won}
    for page in portal.crm.list_pages(
        "deals", ["amount", "closedate", "pipeline", "dealstage"], associations=["companies"]
    ):
        for deal in page.records:
            closed = parse_date(deal.prop("closedate"))
            companies = deal.associations.get("companies", ())
            if deal.prop("pipeline") in order_pipelines and deal.prop("dealstage") in won and closed and companies:
                company = min(companies, key=int)
                orders.setdefault(company, []).append(OrderFact(closed, Decimal(deal.prop("amount") or "0")))
    expected = {}
    for page in portal.crm.list_pages("companies", ["dp_level"]):
        for company in page.records:
            result = score(orders.get(company.id, []), is_dp_member(company.prop("dp_level")), as_of, Settings().sirank)
            last = None if result.last_purchase_date is None else result.last_purchase_date.isoformat()
            expected[company.id] = (str(result.sirank), last, result.retention_segment)
    return expected


def held_values(portal: Portal) -> dict[str, tuple[str | None, str | None, str | None]]:
    names = ["sirank", "last_purchase_date", "retention_segment"]
    return {
        r.id: (r.prop("sirank"), r.prop("last_purchase_date"), r.prop("retention_segment"))
        for page in portal.crm.list_pages("companies", names)
        for r in page.records
    }


def test_a_full_run_writes_what_the_orders_say_and_a_dry_run_changes_nothing(
    sandbox_factory: Callable[..., Any], now: datetime, tmp_path: Path
) -> None:
    portal = open_portal(sandbox_factory, now, companies=60)
    state = SqliteStateStore(str(tmp_path / "state.db"))
    before = held_values(portal)

    dry = portal.run(state, portal.today, dry_run=True)

    assert held_values(portal) == before
    assert state.load_checkpoint(sirank.CHECKPOINT) is None
    assert {a.type for a in dry.actions} == {"update_company"}
    assert len(dry.actions) == 60

    full = portal.run(state, portal.today)

    assert held_values(portal) == expected_values(portal, portal.today)
    assert [a.as_json() for a in full.actions] == [a.as_json() for a in dry.actions]
    assert full.summary["companies_scored"] == 60


changes = st.lists(
    st.tuples(
        st.sampled_from(["order", "amount", "lose", "archive", "dp", "bulk", "days"]),
        st.integers(0, 10_000),
        st.integers(0, 400),
    ),
    min_size=1,
    max_size=6,
)


def change(portal: Portal, operation: tuple[str, int, int], as_of: date) -> date:
    kind, pick, value = operation
    store = portal.store
    companies = portal.ids("companies")
    deals = portal.ids("deals")
    if kind == "days":
        return as_of + timedelta(days=1 + value % 60)
    if kind == "order":
        closed = as_of - timedelta(days=value % 400)
        store.create_object(
            "deals",
            {
                "dealname": "Ordine",
                "pipeline": portal.pipeline,
                "dealstage": portal.won,
                "amount": str(pick % 3000),
                "closedate": f"{closed.isoformat()}T10:00:00.000Z",
            },
            [("companies", companies[pick % len(companies)])],
        )
    elif kind == "dp":
        store.update_object("companies", companies[pick % len(companies)], {"dp_level": ["none", "gold"][value % 2]})
    elif kind == "bulk":
        # one bulk edit: a batch of deals updated in one call, sharing (nearly) one timestamp
        targets = deals[pick % len(deals) :][:100]
        store.update_many("deals", [{"id": d, "properties": {"amount": str(value)}} for d in targets])
    elif kind == "amount":
        store.update_object("deals", deals[pick % len(deals)], {"amount": str(value * 7)})
    elif kind == "lose":
        store.update_object("deals", deals[pick % len(deals)], {"dealstage": portal.lost})
    elif kind == "archive":
        store.archive_object("deals", deals[pick % len(deals)])
    return as_of


@pytest.fixture
def lagging_portal(sandbox_factory: Callable[..., Any], now: datetime) -> Portal:
    return open_portal(sandbox_factory, now, companies=25, lag=SEARCH_LAG_SECONDS)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(changes, min_size=1, max_size=3))
def test_incremental_runs_end_where_a_full_run_would_with_search_lagging(
    lagging_portal: Portal, steps: list[list[tuple[str, int, int]]]
) -> None:
    portal = lagging_portal
    portal.store.reset()
    with tempfile.TemporaryDirectory() as folder:
        state = SqliteStateStore(str(Path(folder) / "state.db"))
        as_of = portal.today
        portal.run(state, as_of, mode="full")
        for step in steps:
            portal.tick(1)
            for operation in step:
                as_of = change(portal, operation, as_of)
            # straight after the changes: search may not show them yet; the next run's lookback catches them
            portal.run(state, as_of, mode="incremental")
        portal.tick(SEARCH_LAG_SECONDS + 0.3)
        last = portal.run(state, as_of, mode="incremental")

        assert last.summary["mode"] == "incremental"
        assert portal.run(MemoryStateStore(), as_of, mode="full", dry_run=True).actions == []
        assert held_values(portal) == expected_values(portal, as_of)


class Killed(BaseException):
    """The function instance dies (timeout, crash): nothing after this point runs."""


class DiesAfterWrites:
    """The HubSpot adapter, but the instance dies right after its Nth batch update reached HubSpot."""

    def __init__(self, inner: HubSpotCrm, writes: list[str], die_after: int | None) -> None:
        self.inner = inner
        self.writes = writes
        self.die_after = die_after
        self.batches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def calls_made(self) -> int:
        return self.inner.calls_made

    def update_batch(self, object_type: str, updates: Any) -> Any:
        refusals = self.inner.update_batch(object_type, updates)
        self.writes.extend(company for company, _ in updates)
        self.batches += 1
        if self.die_after is not None and self.batches >= self.die_after:
            raise Killed()
        return refusals


def test_a_run_killed_after_a_write_resumes_and_writes_nothing_twice(
    sandbox_factory: Callable[..., Any], now: datetime, tmp_path: Path
) -> None:
    portal = open_portal(sandbox_factory, now, companies=250)
    state = SqliteStateStore(str(tmp_path / "state.db"))
    writes: list[str] = []

    with pytest.raises(Killed):
        crm = DiesAfterWrites(portal.crm, writes, die_after=2)
        sirank.run(sirank.Request(as_of=portal.today), Ports(crm, state, object(), portal.clock, Settings()))  # type: ignore[arg-type]
    crm = DiesAfterWrites(portal.crm, writes, die_after=None)
    again = sirank.run(sirank.Request(as_of=portal.today), Ports(crm, state, object(), portal.clock, Settings()))  # type: ignore[arg-type]

    assert again.summary["resumed_from_checkpoint"] is True
    assert again.summary["companies_scored"] == 250
    assert sorted(writes) == sorted(set(writes)), "a company was written twice"
    assert len(writes) == 250
    assert held_values(portal) == expected_values(portal, portal.today)


# --- period revenue -------------------------------------------------------------------------------------------

ROME = ZoneInfo("Europe/Rome")
REVENUE = ("revenue_mtd", "revenue_prev_month", "revenue_ytd")


def rome_day(closedate: str) -> date:
    """A HubSpot datetime (ISO or epoch milliseconds) as a calendar date in Rome."""
    if closedate.isdigit():
        instant = datetime.fromtimestamp(int(closedate) / 1000, UTC)
    else:
        instant = datetime.fromisoformat(closedate.replace("Z", "+00:00"))
    return instant.astimezone(ROME).date()


def portal_orders(portal: Portal) -> dict[str, list[tuple[date, Decimal]]]:
    """Every company's orders, from full listings of the portal's deals and pipelines."""
    pipelines = [p for p in portal.crm.pipelines("deals") if p.label in Settings().portal.order_pipelines]
    won = {(p.id, s.id) for p in pipelines for s in p.stages if s.is_won}
    orders: dict[str, list[tuple[date, Decimal]]] = {}
    for page in portal.crm.list_pages(
        "deals", ["amount", "closedate", "pipeline", "dealstage"], associations=["companies"]
    ):
        for deal in page.records:
            closed, companies = deal.prop("closedate"), deal.associations.get("companies", ())
            if (deal.prop("pipeline"), deal.prop("dealstage")) in won and closed and companies:
                company = min(companies, key=int)
                orders.setdefault(company, []).append((rome_day(closed), Decimal(deal.prop("amount") or "0")))
    return orders


def revenue_by_calendar(orders: list[tuple[date, Decimal]], as_of: date) -> tuple[Decimal, Decimal, Decimal]:
    """This month to as_of, the previous calendar month, this year to as_of: months counted as year x 12 + month."""
    month = as_of.year * 12 + as_of.month
    past = [(day, amount) for day, amount in orders if day <= as_of]
    return (
        sum((a for d, a in past if d.year * 12 + d.month == month), Decimal(0)),
        sum((a for d, a in past if d.year * 12 + d.month == month - 1), Decimal(0)),
        sum((a for d, a in past if d.year == as_of.year), Decimal(0)),
    )


def held_revenue(portal: Portal) -> dict[str, tuple[Decimal | None, ...]]:
    return {
        r.id: tuple(None if r.prop(n) is None else Decimal(r.prop(n) or "") for n in REVENUE)
        for page in portal.crm.list_pages("companies", list(REVENUE))
        for r in page.records
    }


def expected_revenue(portal: Portal, as_of: date) -> dict[str, tuple[Decimal | None, ...]]:
    orders = portal_orders(portal)
    return {
        company_id: revenue_by_calendar(orders.get(company_id, []), as_of) for company_id in portal.ids("companies")
    }


def test_revenue_agrees_with_the_portals_orders_rolls_over_on_the_first_and_a_second_run_writes_nothing(
    sandbox_factory: Callable[..., Any], now: datetime, tmp_path: Path
) -> None:
    portal = open_portal(sandbox_factory, now, companies=60)
    state = SqliteStateStore(str(tmp_path / "state.db"))
    first = date(portal.today.year + portal.today.month // 12, portal.today.month % 12 + 1, 1)
    night = portal.store.create_object("companies", {"name": "Ordine notturno"})
    # 23:30 UTC on the month's last day is 00:30 (or 01:30) on the first in Rome: the next month's order
    portal.store.create_object(
        "deals",
        {
            "dealname": "Ordine web notturno",
            "pipeline": portal.pipeline,
            "dealstage": portal.won,
            "amount": "123.45",
            "closedate": f"{(first - timedelta(days=1)).isoformat()}T23:30:00.000Z",
        },
        [("companies", night)],
    )
    portal.tick(3 * 3600)  # the portal's edits are older than the runs' lookback

    full = portal.run(state, portal.today, mode="full")

    assert held_revenue(portal) == expected_revenue(portal, portal.today)
    assert held_revenue(portal)[night] == (0, 0, 0)
    assert any(figures[2] for figures in held_revenue(portal).values()), "a portal with revenue this year"
    assert full.summary["values_changed_by_property"]["revenue_ytd"] == 61

    portal.tick((datetime.combine(first, time(6, 0), ROME) - portal.clock.now()).total_seconds())
    rollover = portal.run(state, first, mode="incremental")

    assert held_revenue(portal) == expected_revenue(portal, first)
    assert held_revenue(portal)[night] == (Decimal("123.45"), 0, Decimal("123.45"))
    assert any(figures[1] for figures in held_revenue(portal).values()), "last month's revenue moved to its place"
    assert rollover.summary["deals_modified"] == 0, "no order changed: the calendar alone moved the figures"

    portal.tick(3600)
    again = portal.run(state, first, mode="incremental")

    assert (again.actions, again.summary["companies_changed"]) == ([], 0)


def test_provisioning_creates_the_revenue_properties_as_numbers_in_the_flywheel_group(
    sandbox_factory: Callable[..., Any],
) -> None:
    bare = sandbox_factory(provisioned=False)
    assert not {d["name"] for d in bare.store.property_definitions("companies")} & set(REVENUE)

    report = provision(PortalApi(api_base=bare.url, access_token=bare.token, rate_limit_per_10s=0), PortalContract())

    assert report.ready
    created = {name: bare.store.property_definition("companies", name) for name in REVENUE}
    assert {name: (d["type"], d["groupName"], d["label"]) for name, d in created.items()} == {
        "revenue_mtd": ("number", "flywheel", "Fatturato mese corrente"),
        "revenue_prev_month": ("number", "flywheel", "Fatturato mese precedente"),
        "revenue_ytd": ("number", "flywheel", "Fatturato anno corrente"),
    }
