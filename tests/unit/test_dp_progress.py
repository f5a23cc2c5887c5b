"""dp_progress: the D&P rules, and the service over the in-memory CRM and state store."""

from __future__ import annotations

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
from flywheel.config import DpRules
from flywheel.domain import loyalty
from flywheel.domain.models import RunResult
from flywheel.services import dp_progress, sirank
from flywheel.services.context import Ports
from tests.fakes import Inbox, mail_settings

ROME = ZoneInfo("Europe/Rome")
RULES = DpRules()
levels = st.sampled_from(loyalty.LEVELS)


# --- the rules -------------------------------------------------------------------------------------------------


@given(levels)
def test_a_first_sighting_is_never_a_rise(level: str) -> None:
    assert loyalty.change(None, level) == "first_sighting"


@given(levels, levels)
def test_a_change_is_a_rise_a_fall_or_nothing_by_the_order_of_the_levels(before: str, after: str) -> None:
    expected = "rise" if loyalty.RANK[after] > loyalty.RANK[before] else "fall"
    assert loyalty.change(before, after) == (expected if before != after else "same")


def test_a_level_that_rises_two_steps_at_once_is_one_rise() -> None:
    assert loyalty.change("none", "silver") == "rise"
    assert loyalty.change("bronze", "gold") == "rise"


@pytest.mark.parametrize(
    ("level", "revenue", "expected"),
    [
        ("none", "4499.99", None),
        ("none", "4500", ("bronze", "500")),
        ("none", "4999.99", ("bronze", "0.01")),
        ("none", "5000", None),
        ("bronze", "13500", ("silver", "1500")),
        ("silver", "36000", ("gold", "4000")),
        ("silver", "35999", None),
        ("gold", "39999", None),
        ("gold", "1000000", None),
    ],
)
def test_the_progress_nudge_applies_within_10_percent_below_the_next_threshold(
    level: str, revenue: str, expected: tuple[str, str] | None
) -> None:
    found = loyalty.progress(level, Decimal(revenue), RULES)
    assert (None if found is None else (found.level, found.missing)) == (
        None if expected is None else (expected[0], Decimal(expected[1]))
    )


def test_members_only_when_non_members_are_not_nudged() -> None:
    assert loyalty.progress("none", Decimal(4800), DpRules(nudge_non_members=False)) is None


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 1, 1)), st.integers(0, 60))
def test_a_level_is_nudged_at_most_once_in_30_days(last: date, gap: int) -> None:
    assert loyalty.nudge_allowed(last, last + timedelta(days=gap), RULES) == (gap >= 30)


@pytest.mark.parametrize(("value", "level"), [("Gold", "gold"), (" silver ", "silver"), ("", None), ("platinum", None)])
def test_a_level_is_read_tolerantly_and_an_unknown_value_is_no_level(value: str, level: str | None) -> None:
    assert loyalty.level_of(value) == level


# --- the service -----------------------------------------------------------------------------------------------


class World:
    def __init__(self, start: date) -> None:
        self.clock = FixedClock.on(start, at=time(10, 0))
        self.crm = MemoryCrm.with_default_schema(now=self.clock.now)
        self.inbox = Inbox()
        self.state = MemoryStateStore()
        settings = mail_settings()
        self.ports = Ports(crm=self.crm, state=self.state, mailer=self.inbox, clock=self.clock, settings=settings)

    @property
    def today(self) -> date:
        return self.clock.today()

    def member(self, level: str, *, revenue: float = 0.0, consent: bool = True, name: str = "Rossi S.r.l.") -> str:
        company_id = self.crm.add_company(name, dp_level=level)
        self.crm.add_contact(
            company_id,
            f"titolare.{company_id}@example.it",
            first_name="Franco",
            last_name="Gallo",
            legal_basis="Performance of a contract" if consent else None,
        )
        if revenue:
            self.crm.add_order(company_id, revenue, self.today - timedelta(days=100))
        return company_id

    def set_level(self, company_id: str, level: str) -> None:
        self.crm.update_batch("companies", [(company_id, {"dp_level": level})])

    def next_day(self, days: int = 1) -> None:
        self.clock.set(self.clock.now() + timedelta(days=days))

    def run(self, *, dry_run: bool = False) -> RunResult:
        return dp_progress.run(dp_progress.Request(as_of=self.today, dry_run=dry_run), self.ports)

    def sent(self) -> list[tuple[str, str, str]]:
        return [(m.template, m.company_id, (m.context or {}).get("level_name", "")) for m in self.inbox.sent]


@pytest.fixture
def world() -> Iterator[World]:
    yield World(date(2026, 11, 10))


def test_a_first_sighting_records_the_level_silently(world: World) -> None:
    company_id = world.member("silver")
    result = world.run()
    assert world.inbox.sent == []
    assert world.state.get_document(dp_progress.STATE_COLLECTION, company_id) == {
        "level": "silver",
        "since": "2026-11-10",
    }
    assert result.summary["first_sightings"] == 1


def test_a_rise_is_congratulated_once_naming_the_level_reached_and_the_owner(world: World) -> None:
    company_id = world.member("bronze", name="Verdi Networking S.p.A.")
    world.run()
    world.next_day()
    world.set_level(company_id, "gold")  # two steps at once

    result = world.run()
    world.run()
    world.next_day()
    world.run()

    assert world.sent() == [("dp_congratulazioni", company_id, "Gold")]
    [message] = world.inbox.sent
    assert "Verdi Networking S.p.A." in message.subject and "Marco Rossi" in message.body_text
    assert result.summary["congratulations"] == {"bronze": 0, "silver": 0, "gold": 1}
    assert world.state.get_document(dp_progress.STATE_COLLECTION, company_id) == {
        "level": "gold",
        "since": "2026-11-11",
    }


def test_a_fall_is_recorded_silently_and_the_climb_back_is_congratulated(world: World) -> None:
    company_id = world.member("silver")
    world.run()
    world.next_day()
    world.set_level(company_id, "bronze")
    fell = world.run()
    world.next_day(40)
    world.set_level(company_id, "silver")
    world.run()
    assert fell.summary["falls"] == 1
    assert world.sent() == [("dp_congratulazioni", company_id, "Silver")]


def test_a_company_near_the_next_threshold_is_nudged_at_most_once_in_30_days(world: World) -> None:
    company_id = world.member("bronze", revenue=14000.0)
    first = world.run()
    for _ in range(29):
        world.next_day()
        world.run()
    world.next_day()
    world.run()

    [first_nudge, second_nudge] = world.inbox.sent
    assert first_nudge.template == "dp_progresso" and first_nudge.context is not None
    assert first_nudge.context["missing_amount"] == "1.000,00 €"
    assert first_nudge.context["revenue_12m"] == "14.000,00 €"
    assert first_nudge.context["level_name"] == "Silver"
    assert second_nudge.key.split(":")[2] == "2026-12-10"
    assert first.summary["progress_nudges"] == {"bronze": 0, "silver": 1, "gold": 0}
    assert first.summary["revenue_missing"] == 1000.0
    assert world.state.get_document(dp_progress.STATE_COLLECTION, company_id) == {
        "level": "bronze",
        "since": "2026-11-10",
        "nudged": {"silver": "2026-12-10"},
    }


def test_gold_has_no_next_level_and_far_from_a_threshold_there_is_no_nudge(world: World) -> None:
    world.member("gold", revenue=39000.0)
    world.member("bronze", revenue=9000.0)
    world.member("none", revenue=4600.0, name="Nuovo Cliente S.r.l.")
    world.run()
    assert [(t, level) for t, _, level in world.sent()] == [("dp_progresso", "Bronze")]


def test_orders_older_than_the_r12_window_do_not_count(world: World) -> None:
    company_id = world.member("bronze")
    world.crm.add_order(company_id, 10000.0, world.today - timedelta(days=365))
    world.crm.add_order(company_id, 4000.0, world.today - timedelta(days=364))
    world.run()
    assert world.inbox.sent == []  # R12 4,000: not near silver


def test_r12_comes_from_sirank_ledger_once_sirank_recalc_has_run(world: World) -> None:
    company_id = world.member("silver", revenue=37000.0)
    sirank.run(sirank.Request(as_of=world.today, mode="full"), world.ports)
    # the ledger keeps the orders: the deal gone from HubSpot does not change the R12 read today
    [deal] = world.crm.all("deals")
    world.crm.archive("deals", deal.id)
    world.run()
    assert world.sent() == [("dp_progresso", company_id, "Gold")]


def test_a_company_without_a_consenting_contact_is_counted_and_its_level_still_recorded(world: World) -> None:
    company_id = world.member("none", consent=False)
    world.run()
    world.set_level(company_id, "bronze")
    rose = world.run()
    again = world.run()
    assert world.inbox.sent == []
    assert (rose.summary["no_consent"], again.summary["no_consent"]) == (1, 0)
    assert world.state.get_document(dp_progress.STATE_COLLECTION, company_id) == {
        "level": "bronze",
        "since": "2026-11-10",
    }


def test_a_company_outside_the_programme_or_with_an_unknown_level_is_left_alone(world: World) -> None:
    world.crm.add_company("Senza Livello S.r.l.")
    world.member("platinum")
    result = world.run()
    assert result.summary["companies"] == 0 and result.summary["unknown_level"] == 1


def test_a_dry_run_lists_exactly_what_the_real_run_then_sends_and_changes_nothing(world: World) -> None:
    rising = world.member("none", name="Sale S.r.l.")
    world.member("bronze", revenue=14500.0, name="Vicino S.r.l.")
    world.member("silver", revenue=1000.0, name="Lontano S.r.l.")
    world.run()
    world.set_level(rising, "bronze")
    world.next_day(31)
    before = dict(world.state.iter_documents(dp_progress.STATE_COLLECTION))
    sent_before = len(world.inbox.sent)

    dry = world.run(dry_run=True)
    assert dict(world.state.iter_documents(dp_progress.STATE_COLLECTION)) == before
    assert len(world.inbox.sent) == sent_before
    real = world.run()

    assert [a.key for a in dry.actions] == [a.key for a in real.actions]
    assert sorted(a.key for a in real.actions) == sorted(m.key for m in world.inbox.sent[sent_before:])
    assert len(real.actions) == 2
    assert dry.summary["congratulations"] == real.summary["congratulations"]
    assert dry.summary["progress_nudges"] == real.summary["progress_nudges"]


def test_a_congratulation_that_could_not_go_out_is_tried_again_on_the_next_run(world: World) -> None:
    from flywheel.ports import MailerError

    company_id = world.member("bronze")
    world.run()
    world.set_level(company_id, "silver")
    original = world.inbox.send

    def throttled(message: object) -> object:
        raise MailerError("429", transient=True, nothing_sent=True)

    world.inbox.send = throttled  # type: ignore[assignment,method-assign]
    world.run()
    assert world.state.get_document(dp_progress.STATE_COLLECTION, company_id) == {
        "level": "bronze",
        "since": "2026-11-10",
    }
    world.inbox.send = original  # type: ignore[method-assign]
    world.next_day()
    world.run()
    assert world.sent() == [("dp_congratulazioni", company_id, "Silver")]


def test_a_rise_is_congratulated_by_day_regardless_of_the_hour_in_rome(world: World) -> None:
    world.clock.set(datetime.combine(world.today, time(23, 59), ROME))
    company_id = world.member("none")
    world.run()
    world.set_level(company_id, "bronze")
    world.clock.set(datetime.combine(world.today + timedelta(days=1), time(0, 1), ROME))
    world.run()
    [message] = world.inbox.sent
    assert message.key.split(":")[2] == "2026-11"
