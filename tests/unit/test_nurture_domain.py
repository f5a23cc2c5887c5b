"""The nurture state machine: enrolment window, one step at a time, exits, and a derived coupon."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from flywheel.config import NurtureRules
from flywheel.domain.nurture import (
    FINAL_STEP,
    Conversion,
    Enrolment,
    check_coupon,
    convert,
    coupon_code,
    decide,
    end_for_consent,
    enrol,
    enrolment_bounds,
    is_enrollable,
    record_send,
    sequence_id,
    step_due,
)

RULES = NurtureRules()
START = date(2026, 1, 1)


def test_a_company_is_enrollable_from_61_to_75_days_after_its_last_order() -> None:
    as_of = date(2026, 3, 31)
    assert not is_enrollable(as_of - timedelta(days=60), as_of, RULES)  # "da oltre 60 giorni": not yet
    assert is_enrollable(as_of - timedelta(days=61), as_of, RULES)
    assert is_enrollable(as_of - timedelta(days=75), as_of, RULES)
    assert not is_enrollable(as_of - timedelta(days=76), as_of, RULES)
    assert not is_enrollable(None, as_of, RULES)


def test_a_backfill_enrols_any_company_quiet_for_more_than_60_days() -> None:
    as_of = date(2026, 3, 31)
    assert is_enrollable(as_of - timedelta(days=900), as_of, RULES, backfill=True)
    assert not is_enrollable(as_of - timedelta(days=60), as_of, RULES, backfill=True)
    assert enrolment_bounds(as_of, RULES, backfill=True) == (None, as_of - timedelta(days=61))


@given(as_of=st.dates(date(2020, 1, 1), date(2035, 12, 31)))
def test_60_days_quiet_is_not_enrollable_and_61_is_on_any_day(as_of: date) -> None:
    assert not is_enrollable(as_of - timedelta(days=60), as_of, RULES)
    assert is_enrollable(as_of - timedelta(days=61), as_of, RULES)


@given(as_of=st.dates(date(2020, 1, 1), date(2030, 12, 31)), days=st.integers(0, 400))
def test_the_search_bounds_select_exactly_the_enrollable_last_order_dates(as_of: date, days: int) -> None:
    last_order = as_of - timedelta(days=days)
    earliest, latest = enrolment_bounds(as_of, RULES)
    assert earliest is not None
    assert (earliest <= last_order <= latest) == is_enrollable(last_order, as_of, RULES)


def test_each_step_is_due_15_days_after_the_previous_one_was_sent() -> None:
    enrolment = enrol("c1", date(2026, 1, 1), date(2026, 3, 2))
    assert step_due(enrolment, date(2026, 3, 2)) == 1
    enrolment = record_send(enrolment, 1, date(2026, 3, 2), RULES)
    assert step_due(enrolment, date(2026, 3, 16)) is None
    assert step_due(enrolment, date(2026, 3, 17)) == 2


def test_a_missed_fortnight_sends_the_pending_step_late_never_two_at_once() -> None:
    enrolment = record_send(enrol("c1", date(2026, 1, 1), date(2026, 3, 2)), 1, date(2026, 3, 2), RULES)
    assert step_due(enrolment, date(2026, 5, 30)) == 2
    late = record_send(enrolment, 2, date(2026, 5, 30), RULES)
    assert step_due(late, date(2026, 5, 30)) is None
    assert late.next_due == date(2026, 6, 14)


def test_the_fifth_step_completes_the_sequence() -> None:
    enrolment = enrol("c1", date(2026, 1, 1), date(2026, 3, 2))
    for step in range(1, FINAL_STEP + 1):
        enrolment = record_send(enrolment, step, date(2026, 3, 2) + timedelta(days=15 * (step - 1)), RULES)
    assert enrolment.status == "completed"
    assert enrolment.next_due is None
    assert step_due(enrolment, date(2027, 1, 1)) is None


def test_recording_the_same_send_twice_changes_nothing() -> None:
    once = record_send(enrol("c1", date(2026, 1, 1), date(2026, 3, 2)), 1, date(2026, 3, 2), RULES)
    assert record_send(once, 1, date(2026, 3, 3), RULES) == once


def test_the_coupon_expiry_runs_from_the_day_the_gift_was_sent() -> None:
    enrolment = record_send(enrol("c1", date(2026, 1, 1), date(2026, 3, 2)), 1, date(2026, 3, 2), RULES)
    enrolment = record_send(enrolment, 2, date(2026, 3, 20), RULES, coupon_code="SICOM-X")
    assert enrolment.coupon_code == "SICOM-X"
    assert enrolment.coupon_expiry == date(2026, 3, 20) + timedelta(days=RULES.coupon_valid_days)


def test_an_order_after_the_spell_converts_and_keeps_date_and_value() -> None:
    enrolment = record_send(enrol("c1", date(2026, 1, 1), date(2026, 3, 2)), 1, date(2026, 3, 2), RULES)
    assert decide(enrolment, date(2026, 3, 10), date(2026, 3, 9), True) == "convert"
    converted = convert(enrolment, Conversion(date(2026, 3, 9), 1250.0, "d9"), date(2026, 3, 10))
    assert (converted.status, converted.next_due) == ("converted", None)
    assert converted.conversion == Conversion(date(2026, 3, 9), 1250.0, "d9")
    assert step_due(converted, date(2026, 6, 1)) is None


def test_the_spells_own_last_order_does_not_convert() -> None:
    enrolment = enrol("c1", date(2026, 1, 1), date(2026, 3, 2))
    assert convert(enrolment, Conversion(date(2026, 1, 1)), date(2026, 3, 2)) == enrolment
    assert decide(enrolment, date(2026, 3, 2), date(2026, 1, 1), True) == "send"


def test_without_consent_a_new_enrolment_is_skipped_and_a_running_one_ends() -> None:
    fresh = enrol("c1", date(2026, 1, 1), date(2026, 3, 2))
    assert decide(fresh, date(2026, 3, 2), date(2026, 1, 1), False) == "no_consent"
    assert end_for_consent(fresh, date(2026, 3, 2)).status == "skipped_no_consent"
    running = record_send(fresh, 1, date(2026, 3, 2), RULES)
    assert end_for_consent(running, date(2026, 3, 17)).status == "no_consent"


@given(
    company=st.text("0123456789", min_size=1, max_size=8),
    expires=st.dates(date(2020, 1, 1), date(2030, 12, 31)),
)
def test_the_coupon_is_derived_from_company_and_expiry_and_carries_the_expiry(company: str, expires: date) -> None:
    code = coupon_code("secret", "SICOM", company, expires)
    assert code == coupon_code("secret", "SICOM", company, expires)
    assert code.startswith("SICOM-") and len(code) == len("SICOM-XXXX-") + 10
    assert code != coupon_code("secret", "SICOM", company, expires + timedelta(days=1))
    assert code != coupon_code("secret", "SICOM", company + "0", expires)
    assert code != coupon_code("other", "SICOM", company, expires)
    assert check_coupon("secret", "SICOM", company, code, expires).expires == expires


# --- the property: random days, triggers and orders ------------------------------------------------------------


@dataclass
class World:
    """One company, a store of enrolments written last-writer-wins, and an exactly-once ledger of emails."""

    last_order: date
    consenting: bool = True
    store: dict[str, Enrolment] = field(default_factory=dict)
    ledger: set[tuple[str, int]] = field(default_factory=set)
    # every email that went out, in the order it went: (spell, step, day, event index)
    sent: list[tuple[date, int, date, int]] = field(default_factory=list)
    orders: list[tuple[date, int]] = field(default_factory=list)  # (day, event index)
    events: int = 0

    def tick(self) -> int:
        self.events += 1
        return self.events

    def decide_all(self, as_of: date) -> list[tuple[Enrolment, str]]:
        """What one run decides from the store as it reads it now (a snapshot)."""
        plans: list[tuple[Enrolment, str]] = []
        spell_id = sequence_id("c1", self.last_order)
        if spell_id not in self.store and is_enrollable(self.last_order, as_of, RULES):
            plans.append((enrol("c1", self.last_order, as_of), "enrol"))
        plans += [(e, "existing") for e in self.store.values() if e.is_active]
        return plans

    def apply(self, plans: list[tuple[Enrolment, str]], as_of: date) -> None:
        for enrolment, _ in plans:
            decision = decide(enrolment, as_of, self.last_order, self.consenting)
            if decision == "convert":
                outcome = convert(enrolment, Conversion(self.last_order), as_of)
            elif decision == "no_consent":
                outcome = end_for_consent(enrolment, as_of)
            elif decision == "send":
                step = step_due(enrolment, as_of)
                assert step is not None
                if (enrolment.id, step) not in self.ledger:
                    self.ledger.add((enrolment.id, step))
                    self.sent.append((enrolment.spell, step, as_of, self.tick()))
                # already sent by a concurrent run: recording it again converges on the same record
                outcome = record_send(enrolment, step, as_of, RULES)
            else:
                outcome = enrolment
            current = self.store.get(enrolment.id)
            # a run never resurrects a sequence another run ended meanwhile
            if current is None or current.is_active:
                self.store[enrolment.id] = outcome

    def order(self, day: date, webhook: bool) -> None:
        self.orders.append((day, self.tick()))
        self.last_order = day
        if webhook:
            for enrolment in list(self.store.values()):
                self.store[enrolment.id] = convert(enrolment, Conversion(day), day)


day_plan = st.fixed_dictionaries(
    {
        # mostly one run a day; some days none (missed), some two or three (repeated)
        "triggers": st.sampled_from([0, 1, 1, 1, 1, 1, 1, 2, 3]),
        "concurrent": st.booleans(),
        # orders are rare, or no spell would ever reach 61 quiet days
        "order": st.sampled_from([None] * 40 + ["before", "between", "after"]),
        "webhook": st.booleans(),
    }
)


@settings(max_examples=80, deadline=None)
@given(
    initial_quiet_days=st.integers(0, 120),
    plan=st.lists(day_plan, min_size=60, max_size=150),
    consent_lost_on=st.one_of(st.none(), st.integers(0, 150)),
)
def test_steps_go_out_in_order_once_each_15_days_apart_and_never_after_an_order(
    initial_quiet_days: int, plan: list[dict[str, object]], consent_lost_on: int | None
) -> None:
    world = World(last_order=START - timedelta(days=initial_quiet_days))
    for offset, today in enumerate(plan):
        as_of = START + timedelta(days=offset)
        if offset == consent_lost_on:
            world.consenting = False
        if today["order"] == "before":
            world.order(as_of, bool(today["webhook"]))
        triggers = int(str(today["triggers"]))
        if today["concurrent"] and triggers >= 2:
            # two runs read the same store before either writes
            first, second = world.decide_all(as_of), world.decide_all(as_of)
            world.apply(first, as_of)
            world.apply(second, as_of)
            triggers -= 2
        for index in range(triggers):
            world.apply(world.decide_all(as_of), as_of)
            if index == 0 and today["order"] == "between":
                world.order(as_of, bool(today["webhook"]))
        if today["order"] == "after" or (today["order"] == "between" and triggers == 0):
            world.order(as_of, bool(today["webhook"]))

    spells = {spell for spell, *_ in world.sent}
    for spell in spells:
        sends = [(step, day, event) for s, step, day, event in world.sent if s == spell]
        steps = [step for step, _, _ in sends]
        assert steps == list(range(1, len(steps) + 1)), "steps 1..k, in order, each at most once"
        days = [day for _, day, _ in sends]
        assert all(b - a >= timedelta(days=15) for a, b in pairwise(days))
        assert 61 <= (days[0] - spell).days <= 75, "enrolled only within the 15-day window"
        ending_orders = [event for day, event in world.orders if day > spell]
        if ending_orders:
            assert all(event < min(ending_orders) for _, _, event in sends), "nothing after the first order"


@settings(max_examples=30, deadline=None)
@given(initial_quiet_days=st.integers(0, 75))
def test_with_a_daily_trigger_and_no_order_the_five_steps_go_out_exactly_on_schedule(
    initial_quiet_days: int,
) -> None:
    world = World(last_order=START - timedelta(days=initial_quiet_days))
    for offset in range(150):
        world.apply(world.decide_all(START + timedelta(days=offset)), START + timedelta(days=offset))
    enrolled_on = max(START, world.last_order + timedelta(days=61))
    assert [(step, day) for _, step, day, _ in world.sent] == [
        (step, enrolled_on + timedelta(days=15 * (step - 1))) for step in range(1, 6)
    ]
    (record,) = world.store.values()
    assert record.status == "completed"
