"""sirank_recalc over the in-memory CRM and state store: what ends up in HubSpot, and what a run costs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.domain.models import CrmRecord, Page, RunResult
from flywheel.ports import RecordRefusal
from flywheel.services import sirank
from flywheel.services.context import Ports
from flywheel.services.sirank.checkpoint import Checkpoint

DAY = date(2026, 3, 31)  # a Tuesday
ROME = ZoneInfo("Europe/Rome")


class World:
    """A portal, a state store and a clock that HubSpot's timestamps and the run's watermark share."""

    def __init__(self) -> None:
        self.clock = FixedClock.on(DAY)
        self.crm = MemoryCrm.with_default_schema(now=self.clock.now)
        self.state = MemoryStateStore()

    def ports(self, crm: Any = None) -> Ports:
        return Ports(crm=crm or self.crm, state=self.state, mailer=object(), clock=self.clock, settings=Settings())  # type: ignore[arg-type]

    def run(
        self, as_of: date | None = None, mode: str | None = None, dry_run: bool = False, crm: Any = None
    ) -> RunResult:
        request = sirank.Request(as_of=as_of or self.clock.today(), mode=mode, dry_run=dry_run)  # type: ignore[arg-type]
        return sirank.run(request, self.ports(crm))

    def next_day(self, days: int = 1) -> date:
        self.clock.set(self.clock.now() + timedelta(days=days))
        return self.clock.today()

    def values(self, company_id: str) -> tuple[str | None, str | None, str | None]:
        record = self.crm.get("companies", company_id)
        return (record.prop("sirank"), record.prop("last_purchase_date"), record.prop("retention_segment"))


@pytest.fixture
def world() -> World:
    return World()


def test_a_full_run_writes_sirank_last_purchase_and_segment_of_every_company(world: World) -> None:
    buyer = world.crm.add_company("Rossi Informatica", dp_level="gold")
    world.crm.add_order(buyer, 1000, DAY - timedelta(days=10))
    world.crm.add_order(buyer, 500, DAY - timedelta(days=400))
    never = world.crm.add_company("Mai Comprato")

    result = world.run()

    # first order 400 days ago, one completed year: 1000 x (1 + 0.5/12) x (1 + 0.3 x 1/10) x 1.2 = 1287.5
    assert world.values(buyer) == ("1288", (DAY - timedelta(days=10)).isoformat(), "active")
    assert world.values(never) == ("0", None, "never")
    assert result.summary["mode"] == "full"
    assert result.summary["companies_scored"] == 2
    assert {a.company_id for a in result.actions} == {buyer, never}


def test_lost_deals_open_deals_and_other_pipelines_are_not_orders(world: World) -> None:
    company = world.crm.add_company()
    world.crm.add_order(company, 1000, DAY, won=False)
    world.crm.add_deal(company, pipeline="Pipeline delle vendite", stage="Offerta inviata", amount=900)
    world.crm.add_deal(company, pipeline="Wake Up Pipeline", stage="Riattivato", amount=800, closedate=DAY)
    world.crm.add_order(company, 100, DAY, pipeline="Sales management")

    world.run()

    assert world.values(company)[0] == "104"  # 100 x (1 + 0.5/12)


def test_a_second_run_writes_only_what_changed_in_one_batch(world: World) -> None:
    companies = [world.crm.add_company(f"Azienda {n}") for n in range(250)]
    for n, company in enumerate(companies):
        world.crm.add_order(company, 100 + n, DAY - timedelta(days=n))
    world.run(mode="full")

    for company in (companies[0], companies[140], companies[249]):  # on three different pages
        world.crm.add_order(company, 5000, DAY)
    second = world.run(mode="full")

    assert [a.company_id for a in second.actions] == [companies[0], companies[140], companies[249]]
    # the new order is dated today: the month's and the year's revenue move with SiRank, the previous month's not
    assert second.actions[0].properties == {
        "sirank": str(round((100 + 5000) * (1 + 1 / 12))),
        "revenue_mtd": "5100.00",
        "revenue_ytd": "5100.00",
    }
    # 3 company pages + 3 deal pages (253 deals) + 2 schema reads + ONE batch update for the three
    assert second.summary["api_calls"] == 9


def test_a_full_run_reads_companies_and_deals_in_pages_of_one_hundred(world: World) -> None:
    companies = [world.crm.add_company(f"Azienda {n}") for n in range(230)]
    for company in companies:
        world.crm.add_order(company, 100, DAY - timedelta(days=3))
        world.crm.add_order(company, 100, DAY - timedelta(days=300))

    result = world.run()

    lower_bound = 3 + 5 + 3  # ceil(230/100) company pages + ceil(460/100) deal pages + ceil(230/100) updates
    schema_calls = 2  # pipelines and owners
    assert result.summary["api_calls"] <= lower_bound + schema_calls


def test_a_dry_run_lists_the_updates_and_changes_nothing_anywhere(world: World) -> None:
    company = world.crm.add_company(sirank="7")
    world.crm.add_order(company, 1200, DAY - timedelta(days=61))

    result = world.run(dry_run=True)

    assert [a.as_json() for a in result.actions] == [
        {
            "type": "update_company",
            "company_id": company,
            "key": f"sirank_recalc:{company}:{DAY.isoformat()}",
            "properties": {
                "sirank": "1250",  # 1200 x (1 + 0.5/12), no year completed yet
                "last_purchase_date": (DAY - timedelta(days=61)).isoformat(),
                "retention_segment": "lukewarm",
                "revenue_mtd": "0.00",
                "revenue_prev_month": "0.00",  # the order was in January
                "revenue_ytd": "1200.00",
            },
        }
    ]
    assert world.values(company) == ("7", None, None)
    assert world.state.get_document(sirank.META_COLLECTION, sirank.META_DOC) is None
    assert world.state.load_checkpoint(sirank.CHECKPOINT) is None
    assert list(world.state.iter_documents("sirank_ledger_g1")) == []


def test_the_default_mode_is_full_without_a_ledger_then_incremental_then_full_on_the_weekly_day(world: World) -> None:
    world.crm.add_company()
    assert world.run().summary["mode"] == "full"
    assert world.run(world.next_day()).summary["mode"] == "incremental"
    sunday = world.next_day(4)
    assert sunday.weekday() == Settings().sirank.full_run_weekday
    assert world.run(sunday).summary["mode"] == "full"


def test_an_incremental_run_lets_orders_leave_the_window_without_rereading_hubspot(world: World) -> None:
    company = world.crm.add_company()
    world.crm.add_order(company, 1000, DAY - timedelta(days=360))
    world.run()
    assert world.values(company)[0] == "1042"  # 1000 x (1 + 0.5/12), no year completed yet

    later = world.next_day(5)
    result = world.run(later, mode="incremental")

    assert result.summary["mode"] == "incremental"
    assert world.values(company) == ("0", (DAY - timedelta(days=360)).isoformat(), "cold")
    # two searches (deals, companies), the archived list, one batch update and the two schema reads
    # (pipelines, owners); no read of the company or of its orders
    assert result.summary["api_calls"] == 6


def test_an_incremental_run_reads_only_what_changed(world: World) -> None:
    companies = [world.crm.add_company(f"Azienda {n}") for n in range(300)]
    for company in companies:
        world.crm.add_order(company, 250, DAY - timedelta(days=200))
    world.run()
    world.next_day()
    world.run()  # absorbs the companies the full run wrote

    day = world.next_day()
    world.crm.add_order(companies[7], 999, day)
    result = world.run(day)

    assert world.values(companies[7])[1] == day.isoformat()
    assert result.summary["companies_changed"] == 1
    # schema (2), one search page each of deals and companies, the new order's company (1), the archived
    # list (1), one batch update
    assert result.summary["api_calls"] <= 7


def test_an_incremental_run_moves_sirank_on_the_anniversary_of_the_first_order_and_not_the_days_before(
    world: World,
) -> None:
    company = world.crm.add_company()
    world.crm.add_order(company, 1000, DAY - timedelta(days=200))
    world.crm.add_order(company, 0, date(2024, 4, 30))
    world.clock.set(world.clock.now() + timedelta(hours=2))  # the orders are older than the runs' lookback
    world.run()
    assert world.values(company)[0] == "1073"  # 1000 x (1 + 0.5/12) x (1 + 0.3 x 1/10)

    eve = world.run(world.next_day(29), mode="incremental")
    anniversary = world.run(world.next_day(), mode="incremental")

    assert eve.as_of == date(2026, 4, 29)
    assert (eve.summary["due_by_review_day"], eve.summary["companies_scored"]) == (0, 0)
    assert anniversary.summary["due_by_review_day"] == 1
    assert world.values(company)[0] == "1104"  # two completed years: x (1 + 0.3 x 2/10)


# --- incremental == full ---------------------------------------------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.integers(0, 5), st.integers(0, 2000), st.integers(-5, 800)),
        st.tuples(st.just("amount"), st.integers(0, 40), st.integers(0, 9000), st.just(0)),
        st.tuples(st.just("lose"), st.integers(0, 40), st.just(0), st.just(0)),
        st.tuples(st.just("redate"), st.integers(0, 40), st.just(0), st.integers(0, 800)),
        st.tuples(st.just("archive"), st.integers(0, 40), st.just(0), st.just(0)),
        st.tuples(st.just("dp"), st.integers(0, 5), st.sampled_from(["none", "gold"]), st.just(0)),
        st.tuples(st.just("bulk"), st.just(0), st.integers(1, 2000), st.just(0)),
        st.tuples(st.just("company"), st.just(0), st.just(0), st.just(0)),
        st.tuples(st.just("days"), st.just(0), st.integers(1, 200), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


def apply(world: World, companies: list[str], operation: tuple[str, int, Any, int]) -> None:
    kind, target, value, offset = operation
    today = world.clock.today()
    deals = [r.id for r in world.crm.all("deals")]
    if kind == "order":
        world.crm.add_order(companies[target % len(companies)], value, today - timedelta(days=offset))
    elif kind == "company":
        companies.append(world.crm.add_company("Nuova"))
    elif kind == "dp":
        world.crm.update_batch("companies", [(companies[target % len(companies)], {"dp_level": value})])
    elif kind == "days":
        world.next_day(value)
    elif kind == "bulk":
        # one HubSpot bulk edit: every deal gets a new amount under one timestamp
        world.crm.update_batch("deals", [(deal, {"amount": str(value)}) for deal in deals])
    elif deals:
        deal = deals[target % len(deals)]
        if kind == "amount":
            world.crm.update_batch("deals", [(deal, {"amount": str(value)})])
        elif kind == "lose":
            world.crm.update_batch("deals", [(deal, {"dealstage": "closedlost"})])
        elif kind == "redate":
            closed = datetime.combine(today - timedelta(days=offset), time(23, 30), tzinfo=ROME)
            world.crm.update_batch("deals", [(deal, {"closedate": closed.isoformat()})])
        elif kind == "archive":
            world.crm.archive("deals", deal)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(operations, min_size=1, max_size=4))
def test_incremental_runs_end_where_a_full_run_would(steps: list[list[tuple[str, int, Any, int]]]) -> None:
    world = World()
    companies = [world.crm.add_company(f"Azienda {n}", dp_level="none") for n in range(4)]
    for n, company in enumerate(companies[:3]):
        world.crm.add_order(company, 100 * (n + 1), DAY - timedelta(days=100 * n))
    world.run(mode="full")
    for step in steps:
        for operation in step:
            apply(world, companies, operation)
        world.clock.set(world.clock.now() + timedelta(hours=1))
        incremental = world.run(world.clock.today(), mode="incremental")
        assert incremental.summary["mode"] == "incremental"
        check = world.run(world.clock.today(), mode="full", dry_run=True)
        assert [a.as_json() for a in check.actions] == [], f"after {step}"


# --- a run stopped half-way ------------------------------------------------------------------------------------


class Killed(BaseException):
    """The function instance dies (timeout, crash): nothing after this point runs."""


class DyingCrm:
    """The portal, but the instance dies at its Nth call; it records every company write that reached HubSpot."""

    def __init__(self, inner: MemoryCrm, die_at_call: int | None, writes: Counter[str]) -> None:
        self.inner = inner
        self.die_at_call = die_at_call
        self.writes = writes
        self.calls = 0

    def _tick(self) -> None:
        self.calls += 1
        if self.die_at_call is not None and self.calls >= self.die_at_call:
            raise Killed()

    @property
    def calls_made(self) -> int:
        return self.inner.calls_made

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self._tick()
            return attribute(*args, **kwargs)

        return call

    def list_pages(self, *args: Any, **kwargs: Any) -> Iterator[Page]:
        for page in self.inner.list_pages(*args, **kwargs):
            self._tick()
            yield page

    def search_pages(self, *args: Any, **kwargs: Any) -> Iterator[Page]:
        for page in self.inner.search_pages(*args, **kwargs):
            self._tick()
            yield page

    def update_batch(self, object_type: str, updates: Sequence[tuple[str, Mapping[str, str]]]) -> list[RecordRefusal]:
        refusals = self.inner.update_batch(object_type, updates)
        self.writes.update(company for company, _ in updates)
        self._tick()  # dies after HubSpot acted, before the run could note it: the worst moment
        return refusals

    def read_batch(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> list[CrmRecord]:
        self._tick()
        return self.inner.read_batch(object_type, ids, properties)


@pytest.mark.parametrize("mode", ["full", "incremental"])
# full: companies pages, deal pages, schema reads, then writes; incremental: searches, associations, writes
@pytest.mark.parametrize("die_at_call", [2, 5, 8, 10])
def test_a_run_killed_mid_way_then_triggered_again_scores_every_company_once(
    world: World, mode: str, die_at_call: int
) -> None:
    companies = [world.crm.add_company(f"Azienda {n}") for n in range(250)]
    for n, company in enumerate(companies):
        world.crm.add_order(company, 10 + n, DAY - timedelta(days=n))
    day = DAY
    if mode == "incremental":
        world.run(mode="full")
        day = world.next_day()
        world.run(day)
        day = world.next_day()
        for company in companies:
            world.crm.add_order(company, 77, day)
    writes: Counter[str] = Counter()

    with pytest.raises(Killed):
        world.run(day, mode=mode, crm=DyingCrm(world.crm, die_at_call, writes))
    again = world.run(day, crm=DyingCrm(world.crm, None, writes))

    assert again.summary["resumed_from_checkpoint"] is True
    assert again.summary["mode"] == mode
    assert again.summary["companies_scored"] == len(companies)
    assert set(writes) == set(companies)
    assert max(writes.values()) == 1, "a company was written twice"
    check = world.run(day, mode="full", dry_run=True)
    assert check.actions == []


def test_a_resumed_run_reports_the_calls_of_the_invocation_it_resumes(world: World) -> None:
    companies = [world.crm.add_company(f"Azienda {n}") for n in range(250)]
    for company in companies:
        world.crm.add_order(company, 100, DAY)
    calls_before = world.crm.calls_made

    with pytest.raises(Killed):  # as the third page of companies arrives
        world.run(DAY, mode="full", crm=DyingCrm(world.crm, 3, Counter()))
    again = world.run(DAY, crm=DyingCrm(world.crm, None, Counter()))

    made = world.crm.calls_made - calls_before
    assert again.summary["resumed_from_checkpoint"] is True
    assert again.summary["api_calls_this_invocation"] < again.summary["api_calls"]
    # every call of both invocations but the page that arrived as the instance died, before it could be noted
    assert again.summary["api_calls"] == made - 1


def test_a_checkpoint_saved_by_the_single_module_service_still_resumes() -> None:
    saved = {
        "mode": "full",
        "as_of": DAY.isoformat(),
        "started_at": "2026-03-31T04:00:00+00:00",
        "generation": 2,
        "phase": "deals_done",
        "cursor": None,
        "score_stages": 3,
        "calls_before": 0,
        "calls_now": 41,
        "values_changed": {"sirank": 5},
    }

    checkpoint = Checkpoint.from_document(saved)

    assert (checkpoint.phase, checkpoint.score_pages, checkpoint.api_calls) == ("score", 3, 41)
    assert checkpoint.values_changed == {"sirank": 5}


def test_a_checkpoint_of_another_day_is_dropped_and_the_new_run_starts_afresh(world: World) -> None:
    companies = [world.crm.add_company(f"Azienda {n}") for n in range(250)]
    for company in companies:
        world.crm.add_order(company, 100, DAY)
    with pytest.raises(Killed):
        world.run(DAY, crm=DyingCrm(world.crm, 4, Counter()))

    result = world.run(world.next_day())

    assert result.summary["resumed_from_checkpoint"] is False
    assert result.summary["companies_scored"] == 250
    assert world.run(world.clock.today(), mode="full", dry_run=True).actions == []


def test_a_full_run_replaces_the_ledger_and_leaves_no_staging_behind(world: World) -> None:
    companies = [world.crm.add_company(f"Azienda {n}") for n in range(3)]
    world.crm.add_order(companies[0], 100, DAY)
    world.run(mode="full")
    world.run(mode="full")

    assert list(world.state.iter_documents("sirank_ledger_g1")) == []
    assert sorted(doc_id for doc_id, _ in world.state.iter_documents("sirank_ledger_g2")) == sorted(companies)
    assert list(world.state.iter_documents(sirank.STAGE_COLLECTION)) == []
    assert world.state.load_checkpoint(sirank.CHECKPOINT) is None


# --- period revenue: revenue_mtd, revenue_prev_month, revenue_ytd ---------------------------------------------

REVENUE = ("revenue_mtd", "revenue_prev_month", "revenue_ytd")


def revenue(world: World, company_id: str) -> tuple[str | None, ...]:
    record = world.crm.get("companies", company_id)
    return tuple(record.prop(name) for name in REVENUE)


def test_the_first_of_the_month_rolls_the_revenue_over_though_no_order_changed(world: World) -> None:
    buyer = world.crm.add_company("Rossi")
    for amount, day in ((1000, date(2026, 2, 10)), (300, date(2026, 3, 5)), (200.5, DAY)):
        world.crm.add_order(buyer, amount, day)
    february_only = world.crm.add_company("Bianchi")
    world.crm.add_order(february_only, 80, date(2026, 2, 20))
    january_only = world.crm.add_company("Verdi")
    world.crm.add_order(january_only, 40, date(2026, 1, 15))
    last_year = world.crm.add_company("Neri")
    world.crm.add_order(last_year, 10, date(2025, 6, 1))
    world.run()
    assert revenue(world, buyer) == ("500.50", "1000.00", "1500.50")
    assert revenue(world, february_only) == ("0.00", "80.00", "80.00")

    first = world.run(world.next_day(), mode="incremental")

    assert first.as_of == date(2026, 4, 1)
    assert revenue(world, buyer) == ("0.00", "500.50", "1500.50")
    assert revenue(world, february_only) == ("0.00", "0.00", "80.00")
    # April leaves their figures as they were: not even re-scored
    assert revenue(world, january_only) == ("0.00", "0.00", "40.00")
    assert revenue(world, last_year) == ("0.00", "0.00", "0.00")
    assert first.summary["due_by_review_day"] == 2
    assert {a.company_id: a.properties for a in first.actions} == {
        buyer: {"revenue_mtd": "0.00", "revenue_prev_month": "500.50"},
        february_only: {"revenue_prev_month": "0.00"},
    }
    # two searches (deals; companies, with the full run's writes), the archived list, one batch update and the
    # two schema reads: no order and no company read again
    assert first.summary["api_calls"] == 6
    assert world.run(world.clock.today(), mode="full", dry_run=True).actions == []


def test_on_1_january_the_year_starts_afresh_and_a_night_order_belongs_to_romes_day() -> None:
    world = World()
    world.clock.set(datetime.combine(date(2026, 12, 31), time(6, 0), ROME))
    july = world.crm.add_company("Luglio")
    world.crm.add_order(july, 700, date(2026, 7, 1))
    december = world.crm.add_company("Dicembre")
    world.crm.add_order(december, 100, date(2026, 12, 10))
    world.crm.add_order(december, 9.99, date(2026, 11, 30))
    world.clock.set(world.clock.now() + timedelta(hours=2))  # the orders are older than the runs' lookback
    world.run()
    assert revenue(world, july) == ("0.00", "0.00", "700.00")
    assert revenue(world, december) == ("100.00", "9.99", "109.99")

    # an e-commerce order at 23:30 UTC on 31 December: 00:30 on 1 January in Rome, so the new year's
    world.clock.set(datetime.combine(date(2027, 1, 1), time(0, 30), ROME))
    world.crm.add_order(december, 50, datetime(2026, 12, 31, 23, 30, tzinfo=ZoneInfo("UTC")), "Sales management")
    world.clock.set(datetime.combine(date(2027, 1, 1), time(6, 0), ROME))
    new_year = world.run(world.clock.today(), mode="incremental")

    assert revenue(world, july) == ("0.00", "0.00", "0.00")
    assert revenue(world, december) == ("50.00", "100.00", "50.00")
    assert (new_year.summary["due_by_review_day"], new_year.summary["companies_changed"]) == (2, 2)
    assert world.run(world.clock.today(), mode="full", dry_run=True).actions == []


def test_a_run_that_misses_the_first_of_the_month_still_rolls_the_revenue_over(world: World) -> None:
    company = world.crm.add_company()
    world.crm.add_order(company, 300, date(2026, 3, 5))
    world.clock.set(world.clock.now() + timedelta(hours=2))
    world.run()

    late = world.run(world.next_day(3), mode="incremental")

    assert late.summary["due_by_review_day"] == 1

    assert revenue(world, company) == ("0.00", "300.00", "300.00")


def test_revenue_edited_by_hand_in_hubspot_is_put_back_and_another_spelling_of_it_is_left_alone(
    world: World,
) -> None:
    edited, respelt = world.crm.add_company("Modificata"), world.crm.add_company("Riscritta")
    for company in (edited, respelt):
        world.crm.add_order(company, 1234.5, date(2026, 3, 5))
    world.run()
    world.clock.set(world.clock.now() + timedelta(hours=2))
    world.crm.update_batch(
        "companies",
        [
            (edited, {"revenue_mtd": "", "revenue_ytd": "99"}),
            (respelt, {"revenue_mtd": "1234.5", "revenue_prev_month": "0", "revenue_ytd": "1234.500"}),
        ],
    )
    world.clock.set(world.clock.now() + timedelta(hours=1))

    again = world.run(DAY, mode="incremental")

    assert revenue(world, edited) == ("1234.50", "0.00", "1234.50")
    assert [(a.company_id, a.properties) for a in again.actions] == [
        (edited, {"revenue_mtd": "1234.50", "revenue_ytd": "1234.50"})
    ]
    assert revenue(world, respelt) == ("1234.5", "0", "1234.500")


def test_a_ledger_kept_before_the_revenue_values_has_its_companies_rescored_once(world: World) -> None:
    companies = [world.crm.add_company(f"Azienda {n}") for n in range(3)]
    for n, company in enumerate(companies):
        world.crm.add_order(company, 100 * (n + 1), date(2026, 1, 10 + n))
    world.clock.set(world.clock.now() + timedelta(hours=2))  # the orders are older than the runs' lookback
    world.run()
    # as the previous version left them: no revenue keys in the ledger, none of the properties in HubSpot
    ledger = "sirank_ledger_g1"
    old = {
        i: {k: v for k, v in doc.items() if k not in ("rm", "rp", "ry")}
        for i, doc in world.state.iter_documents(ledger)
    }
    world.state.put_documents(ledger, old)
    world.clock.set(world.clock.now() - timedelta(days=1))  # an edit HubSpot's search no longer shows
    world.crm.update_batch("companies", [(c, dict.fromkeys(REVENUE, "")) for c in companies])
    world.clock.set(world.clock.now() + timedelta(days=1, hours=1))

    caught_up = world.run(DAY, mode="incremental")
    next_day = world.run(world.next_day(), mode="incremental")

    assert caught_up.summary["due_by_review_day"] == 3
    assert [revenue(world, c) for c in companies] == [("0.00", "0.00", f"{100 * n}.00") for n in (1, 2, 3)]
    assert all("rm" in document for _, document in world.state.iter_documents(ledger))
    assert next_day.summary["due_by_review_day"] == 0
