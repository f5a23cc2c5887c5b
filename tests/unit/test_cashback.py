"""cashback_21st: the rules over calendar edges, and the service over the in-memory CRM and state store."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.config import CashbackRules
from flywheel.domain import cashback as rules_of
from flywheel.domain.models import RunResult
from flywheel.services import cashback
from flywheel.services.context import Ports
from tests.fakes import Inbox, mail_settings

ROME = ZoneInfo("Europe/Rome")
RULES = CashbackRules()
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


# --- the rules -------------------------------------------------------------------------------------------------


@given(days)
def test_the_cashback_is_lost_after_the_last_day_of_the_month_whatever_its_length(day: date) -> None:
    last = rules_of.last_of_month(day)
    assert last.month == day.month and last.day in (28, 29, 30, 31)
    assert (last + timedelta(days=1)).day == 1
    assert last.day == calendar.monthrange(day.year, day.month)[1]


@given(st.integers(2000, 2099), st.integers(1, 12))
def test_the_reminder_day_is_the_21st_even_on_a_weekend(year: int, month: int) -> None:
    twenty_first = date(year, month, 21)
    assert rules_of.is_reminder_day(twenty_first, RULES)
    assert not rules_of.is_reminder_day(twenty_first - timedelta(days=1), RULES)
    assert not rules_of.is_reminder_day(twenty_first + timedelta(days=1), RULES)


@given(days, st.lists(st.tuples(st.integers(-40, 40), st.integers(0, 10_000)), max_size=20))
def test_month_to_date_counts_exactly_the_orders_from_the_1st_to_as_of(
    as_of: date, offsets: list[tuple[int, int]]
) -> None:
    orders = [(as_of + timedelta(days=offset), Decimal(amount)) for offset, amount in offsets]
    expected = sum(
        (amount for day, amount in orders if (day.year, day.month) == (as_of.year, as_of.month) and day <= as_of),
        Decimal(0),
    )
    assert rules_of.month_to_date(orders, as_of) == expected


@pytest.mark.parametrize(
    ("mtd", "missing"),
    [
        ("3499.99", None),
        ("3500", "1500"),
        ("4200.50", "799.50"),
        ("4999.99", "0.01"),
        ("5000", None),
        ("7000", None),
    ],
)
def test_the_nudge_band_runs_from_3500_included_to_5000_excluded(mtd: str, missing: str | None) -> None:
    found = rules_of.missing_to_threshold(Decimal(mtd), RULES)
    assert found == (None if missing is None else Decimal(missing))


def test_keys_name_the_kind_the_company_the_month_and_the_contact() -> None:
    key = rules_of.effect_key("threshold", "42", date(2026, 11, 5), "7")
    assert key == "cashback_21st:42:2026-11:threshold:7"
    assert rules_of.effect_key("threshold", "42", date(2026, 11, 30), "7") == key


# --- the service -----------------------------------------------------------------------------------------------


class World:
    def __init__(self, start: date) -> None:
        self.clock = FixedClock.on(start, at=time(9, 30))
        self.crm = MemoryCrm.with_default_schema(now=self.clock.now)
        self.inbox = Inbox()
        self.state = MemoryStateStore()
        self.settings = mail_settings()
        self.ports = Ports(crm=self.crm, state=self.state, mailer=self.inbox, clock=self.clock, settings=self.settings)

    @property
    def today(self) -> date:
        return self.clock.today()

    def customer(self, name: str = "Rossi Informatica S.r.l.", *, cashback: str = "0", consent: bool = True) -> str:
        company_id = self.crm.add_company(name, cashback_available=cashback)
        self.crm.add_contact(
            company_id,
            f"amministrazione.{company_id}@example.it",
            first_name="Paola",
            last_name="Neri",
            legal_basis="Legitimate interest – existing customer" if consent else None,
        )
        return company_id

    def order(self, company_id: str, amount: float, at: datetime | date | None = None) -> str:
        return self.crm.add_order(company_id, amount, at or datetime.combine(self.today, time(8, 0), ROME))

    def on(self, day: date) -> None:
        self.clock.set(datetime.combine(day, time(9, 30), ROME))

    def run(self, **body: object) -> RunResult:
        request = cashback.Request.model_validate({"as_of": self.today, **body})
        return cashback.run(request, self.ports)

    def sent(self) -> list[tuple[str, str]]:
        return [(m.template, m.company_id) for m in self.inbox.sent]


@pytest.fixture
def world() -> Iterator[World]:
    yield World(date(2026, 11, 21))


def test_on_the_21st_a_company_with_cashback_is_reminded_of_the_amount_and_the_last_day(world: World) -> None:
    company_id = world.customer("Verdi Networking S.p.A.", cashback="1234.5")
    world.customer("Bianchi Sistemi S.r.l.", cashback="0")

    result = world.run()

    [message] = world.inbox.sent
    assert (message.template, message.company_id) == ("cashback_promemoria", company_id)
    assert message.context is not None
    assert {k: v for k, v in message.context.items() if k != "unsubscribe_url"} == {
        "company_name": "Verdi Networking S.p.A.",
        "contact_name": "Paola Neri",
        "cashback_amount": "1.234,50 €",
        "expiry_date": "30/11/2026",
        "owner_name": "Marco Rossi",
        "ecommerce_url": "https://shop.sicomputer.it",
    }
    assert "30/11/2026" in message.subject and "Marco Rossi" in message.body_text
    assert result.summary["reminders_sent"] == 1
    assert result.summary["cashback_at_stake"] == 1234.5


def test_the_reminder_goes_out_once_a_month_however_often_the_month_runs(world: World) -> None:
    world.customer(cashback="80")
    world.run()
    again = world.run()
    world.on(date(2026, 11, 22))
    world.run(force=True)
    assert len(world.inbox.sent) == 1
    assert again.summary["reminders_sent"] == 0 and again.summary["already_sent"] == 1

    world.on(date(2026, 12, 21))
    world.run()
    assert [m.context["expiry_date"] for m in world.inbox.sent if m.context] == ["30/11/2026", "31/12/2026"]


def test_on_any_other_day_the_reminder_does_nothing_and_says_why_unless_forced(world: World) -> None:
    world.customer(cashback="80")
    world.on(date(2026, 11, 20))

    quiet = world.run(mode="reminder")
    assert world.inbox.sent == []
    assert quiet.summary["reminder_skipped"] == "the reminder goes out on day 21 only"

    world.run(mode="reminder", force=True)
    assert world.sent() == [("cashback_promemoria", world.crm.all("companies")[0].id)]


def test_a_month_to_date_of_exactly_3500_gets_the_nudge_with_1500_missing(world: World) -> None:
    world.on(date(2026, 11, 10))
    company_id = world.customer()
    world.order(company_id, 2000.0)
    world.order(company_id, 1500.0)

    result = world.run()

    [message] = world.inbox.sent
    assert (message.template, message.company_id) == ("cashback_soglia", company_id)
    assert message.context is not None
    assert message.context["missing_amount"] == "1.500,00 €"
    assert message.context["month_revenue"] == "3.500,00 €"
    assert message.context["threshold_amount"] == "5.000,00 €"
    assert message.context["month_end"] == "30/11/2026"
    assert result.summary["nudges_sent"] == 1 and result.summary["revenue_missing"] == 1500.0
    assert result.summary["reminders_sent"] == 0  # not the 21st


@pytest.mark.parametrize("amounts", [[3499.99], [5000.0], [2500.0, 2500.0], [6000.0]])
def test_below_3500_or_from_5000_there_is_no_nudge(world: World, amounts: list[float]) -> None:
    world.on(date(2026, 11, 10))
    company_id = world.customer()
    for amount in amounts:
        world.order(company_id, amount)
    assert world.run().summary["nudges_sent"] == 0
    assert world.inbox.sent == []


def test_an_order_at_2359_in_rome_on_the_last_day_belongs_to_the_month_that_ends(world: World) -> None:
    """23:59 in Rome on 31 October is 22:59 UTC of the same day; 00:01 on 1 November is 23:01 UTC of 31 October."""
    company_id = world.customer()
    world.order(company_id, 3000.0, datetime(2026, 10, 31, 23, 59, tzinfo=ROME))
    world.order(company_id, 600.0, datetime(2026, 11, 1, 0, 1, tzinfo=ROME))
    world.order(company_id, 400.0, datetime(2026, 11, 2, 0, 1, tzinfo=ROME))

    world.on(date(2026, 10, 31))
    assert world.run(mode="threshold").summary["nudges_sent"] == 0  # October: 3,000
    world.on(date(2026, 11, 1))
    assert world.run(mode="threshold").summary["nudges_sent"] == 0  # November so far: 600
    world.on(date(2026, 11, 2))
    world.order(company_id, 2600.0)
    world.run(mode="threshold")
    [message] = world.inbox.sent
    assert message.context is not None
    assert message.context["month_revenue"] == "3.600,00 €"  # 600 + 400 + 2,600


def test_the_nudge_goes_out_once_a_month_and_again_next_month(world: World) -> None:
    company_id = world.customer()
    world.on(date(2026, 11, 5))
    world.order(company_id, 3800.0)
    world.run()
    world.on(date(2026, 11, 6))
    world.order(company_id, 100.0)
    world.run()
    world.on(date(2026, 12, 3))
    world.order(company_id, 4000.0)
    world.run()
    world.run()
    assert world.sent() == [("cashback_soglia", company_id)] * 2


def test_without_mode_the_21st_sends_both_and_mode_threshold_sends_only_the_nudge(world: World) -> None:
    company_id = world.customer(cashback="50")
    world.order(company_id, 4000.0)
    world.run(mode="threshold")
    assert world.sent() == [("cashback_soglia", company_id)]
    world.run()
    assert world.sent() == [("cashback_soglia", company_id), ("cashback_promemoria", company_id)]


def test_a_company_without_a_consenting_contact_is_counted_once_not_an_error(world: World) -> None:
    world.customer(cashback="300", consent=False)
    first = world.run()
    second = world.run()
    assert world.inbox.sent == []
    assert (first.summary["no_consent"], second.summary["no_consent"]) == (1, 0)


def test_a_dry_run_lists_exactly_what_the_real_run_then_sends_and_changes_nothing(world: World) -> None:
    for index in range(4):
        company_id = world.customer(f"Cliente {index} S.r.l.", cashback=str(10 * index))
        world.order(company_id, 3400.0 + 100 * index)

    dry = world.run(dry_run=True)
    assert world.inbox.sent == [] and list(world.state.iter_documents(cashback.STATE_COLLECTION)) == []
    real = world.run()

    assert [(a.type, a.key) for a in dry.actions] == [(a.type, a.key) for a in real.actions]
    assert sorted(a.key for a in dry.actions) == sorted(m.key for m in world.inbox.sent)
    assert {k: dry.summary[k] for k in cashback.SUMMARY_TOTALS} == {k: real.summary[k] for k in cashback.SUMMARY_TOTALS}


def test_the_month_to_date_takes_one_search_and_one_associations_read_for_a_few_orders(world: World) -> None:
    world.on(date(2026, 11, 10))
    for index in range(3):
        company_id = world.customer(f"Cliente {index} S.r.l.")
        world.order(company_id, 1000.0, date(2026, 10, 10))
        world.order(company_id, 1000.0 * (index + 3))
    assert world.ports.schema is not None  # pipelines and owners read beforehand
    before = world.crm.calls_made

    totals = cashback.month_to_date(world.ports, world.today)

    assert sorted(totals.values()) == [Decimal(3000), Decimal(4000), Decimal(5000)]
    assert world.crm.calls_made - before == 2


def test_orders_sirank_has_indexed_need_no_associations_read_and_new_ones_one(world: World) -> None:
    from flywheel.services import sirank

    world.on(date(2026, 11, 10))
    known = world.customer("Indicizzata S.r.l.")
    world.order(known, 3600.0)
    sirank.run(sirank.Request(as_of=world.today, mode="full"), world.ports)
    before = world.crm.calls_made
    assert cashback.month_to_date(world.ports, world.today) == {known: Decimal(3600)}
    assert world.crm.calls_made - before == 1  # the search only

    new = world.customer("Nuova S.r.l.")
    world.order(new, 4100.0)
    before = world.crm.calls_made
    assert cashback.month_to_date(world.ports, world.today) == {known: Decimal(3600), new: Decimal(4100)}
    assert world.crm.calls_made - before == 2  # the search, and the new order's company
