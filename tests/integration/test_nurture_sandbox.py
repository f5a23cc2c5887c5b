"""nurture_step over the sandbox portal (real HTTP through the HubSpot adapter) with its state in the Firestore
emulator: 120 simulated days on a generated portal, each day run twice, with orders arriving along the way.

The sends the rules define are worked out here from full listings of the portal and the list of orders placed,
in closed form (enrolment day, then every 15 days until an order), independently of the service's own reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.mailers import OutboxMailer
from flywheel.clock import FixedClock
from flywheel.domain.models import CrmRecord
from flywheel.mail.consent import ConsentPolicy, may_email
from flywheel.ports import AssociationTarget
from flywheel.services import nurture
from flywheel.services.context import Ports
from flywheel.services.mapping import contact_properties, parse_date, to_contact
from tests.fakes import mail_settings, nurture_rules

pytestmark = [pytest.mark.sandbox, pytest.mark.firestore]

START = date(2026, 9, 1)
DAYS = 120
COMPANIES = 300


@dataclass(frozen=True)
class PlacedOrder:
    company_id: str
    day: date
    deal_id: str
    how: str  # "webhook", "sirank" (last_purchase_date moved that morning) or "deals_only"


class Simulation:
    def __init__(self, server: Any, state: Any, outbox: Path) -> None:
        self.settings = mail_settings(nurture=nurture_rules())
        self.contract = self.settings.portal
        self.crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=100_000)
        self.clock = FixedClock.on(START)
        self.mailer = OutboxMailer(outbox, now=self.clock.now)
        self.ports = Ports(crm=self.crm, state=state, mailer=self.mailer, clock=self.clock, settings=self.settings)
        self.orders: list[PlacedOrder] = []

    @property
    def today(self) -> date:
        return self.clock.today()

    def listing(self, object_type: str, properties: Sequence[str], associations: Sequence[str] = ()) -> list[CrmRecord]:
        pages = self.crm.list_pages(object_type, properties, associations=associations)
        return [record for page in pages for record in page.records]

    def won_stages(self) -> set[tuple[str, str]]:
        return {
            (p.id, s.id)
            for p in self.crm.pipelines("deals")
            if p.label in self.contract.order_pipelines
            for s in p.stages
            if s.is_won
        }

    def last_orders(self) -> dict[str, date]:
        """Each company's last order date, from every deal in the portal."""
        won = self.won_stages()
        last: dict[str, date] = {}
        for deal in self.listing("deals", ["pipeline", "dealstage", "closedate"], ["companies"]):
            day = parse_date(deal.prop("closedate"))
            if (deal.prop("pipeline"), deal.prop("dealstage")) not in won or day is None or day > self.today:
                continue
            for company_id in deal.associations.get("companies", ()):
                last[company_id] = max(day, last.get(company_id, day))
        return last

    def write_last_purchase_dates(self, last: Mapping[str, date]) -> None:
        """What sirank_recalc does every day."""
        updates = [(cid, {self.contract.last_purchase_date: day.isoformat()}) for cid, day in sorted(last.items())]
        self.crm.update_batch("companies", updates)

    def consenting_contacts(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for record in self.listing("contacts", contact_properties(self.contract), ["companies"]):
            if may_email(to_contact(record, self.contract), ConsentPolicy.from_settings(self.settings)):
                for company_id in record.associations.get("companies", ()):
                    found.setdefault(company_id, set()).add(record.id)
        return found

    def place_order(self, company_id: str, how: str) -> PlacedOrder:
        pipeline = next(p for p in self.crm.pipelines("deals") if p.label == self.contract.order_pipelines[1])
        stage = next(s for s in pipeline.stages if s.is_won)
        closed = datetime.combine(self.today, time(8, 30), tzinfo=UTC)
        properties = {
            "dealname": "Ordine e-commerce",
            "pipeline": pipeline.id,
            "dealstage": stage.id,
            "amount": "1840.50",
            "closedate": closed.isoformat().replace("+00:00", "Z"),
        }
        deal = self.crm.create("deals", properties, [AssociationTarget("companies", company_id)])
        order = PlacedOrder(company_id, self.today, deal.id, how)
        self.orders.append(order)
        if how == "sirank":
            self.write_last_purchase_dates({company_id: self.today})
        elif how == "webhook":
            event = {"objectId": int(deal.id), "subscriptionType": "deal.creation", "eventId": len(self.orders)}
            nurture.webhook([event], self.ports)
        return order

    def run(self) -> Any:
        return nurture.run(nurture.Request(as_of=self.today), self.ports)

    def next_day(self) -> None:
        self.clock.set(self.clock.now() + timedelta(days=1))


def expected_sends(
    last_order: Mapping[str, date], orders: Sequence[PlacedOrder], consenting: Mapping[str, set[str]]
) -> set[tuple[str, str, int, date]]:
    """(company, spell, step, day) the rules define, with a run every day from START to the last day."""
    end = START + timedelta(days=DAYS - 1)
    expected: set[tuple[str, str, int, date]] = set()
    for company_id, first_spell in last_order.items():
        if not consenting.get(company_id):
            continue
        later = sorted(o.day for o in orders if o.company_id == company_id)
        spell: date | None = first_spell
        while spell is not None:
            ending = next((day for day in later if day > spell), None)
            enrol_day = max(START, spell + timedelta(days=61))
            if enrol_day <= spell + timedelta(days=75):
                for step in range(1, 6):
                    day = enrol_day + timedelta(days=15 * (step - 1))
                    if day > end or (ending is not None and day >= ending):
                        break
                    expected.add((company_id, spell.isoformat(), step, day))
            spell = ending
    return expected


@pytest.fixture
def simulation(sandbox_factory: Callable[..., Any], firestore_state_store: Any, tmp_path: Path) -> Simulation:
    server = sandbox_factory(companies=COMPANIES, seed=23, today=START - timedelta(days=1))
    return Simulation(server, firestore_state_store, tmp_path / "outbox")


def test_120_days_give_exactly_the_sends_the_rules_define_and_a_second_run_changes_nothing(
    simulation: Simulation,
) -> None:
    last_order = simulation.last_orders()
    simulation.write_last_purchase_dates(last_order)
    consenting = simulation.consenting_contacts()
    # companies that will be mid-sequence during the simulation; some of them order along the way
    enrolling = sorted(
        (enrol_day, cid)
        for cid, day in last_order.items()
        if consenting.get(cid)
        and day + timedelta(days=75) >= START
        and (enrol_day := max(START, day + timedelta(days=61))) < START + timedelta(days=80)
    )
    assert len(enrolling) > 40
    buyers = enrolling[::6]
    order_plan: dict[date, list[tuple[str, str]]] = {}
    for index, (enrol_day, company_id) in enumerate(buyers):
        how = ("webhook", "sirank", "deals_only")[index % 3]
        # between steps 2 and 3, or on the very day step 3 falls due
        offset = 30 if index % 2 else 22
        order_plan.setdefault(enrol_day + timedelta(days=offset), []).append((company_id, how))

    summaries: list[dict[str, Any]] = []
    for _ in range(DAYS):
        # sirank_recalc of the night: last_purchase_date catches up with the orders of the days before
        simulation.write_last_purchase_dates(
            {o.company_id: o.day for o in simulation.orders if o.day < simulation.today}
        )
        for company_id, how in order_plan.get(simulation.today, []):
            order = simulation.place_order(company_id, how)
            if how == "webhook":
                # ended at once, before any run of the day
                [record] = [
                    r
                    for r in simulation.ports.state.sequences_of_company(nurture.KIND, company_id)
                    if r.status != "skipped_no_consent"
                ]
                assert record.status == "converted"
                assert record.data["conversion"]["order_id"] == order.deal_id
        first = simulation.run()
        second = simulation.run()
        assert sum(second.summary["sent"].values()) == 0, f"second run on {simulation.today} sent again"
        assert second.actions == []
        summaries.append(first.summary)
        simulation.next_day()

    sent = simulation.mailer.sent()
    actual = set()
    recipients: dict[str, set[str]] = {}
    for message in sent:
        _, company_id, spell, step, contact_id = message.key.split(":")
        day = datetime.fromisoformat(message.written_at).astimezone(simulation.clock.now().tzinfo).date()
        actual.add((company_id, spell, int(step), day))
        recipients.setdefault(company_id, set()).add(contact_id)
    expected = expected_sends(last_order, simulation.orders, consenting)

    assert len(expected) > 300 and len(simulation.orders) > 10  # a simulation worth the name
    assert len(sent) == len(actual), "one email per company, spell and step (the primary contact)"
    assert actual == expected
    assert all(len(r) == 1 and r <= consenting[c] for c, r in recipients.items())
    assert sum(s["sent"]["step_5"] for s in summaries) > 0
    assert sum(s["converted"] for s in summaries) == sum(1 for o in simulation.orders if o.how != "webhook")

    # HubSpot shows the state, and the fifth step suspended the account once
    companies = {
        r.id: r
        for r in simulation.listing(
            "companies",
            [simulation.contract.nurture_step, simulation.contract.nurture_status, "ecommerce_account_status"],
        )
    }
    completed = {c for c, _, step, _ in expected if step == 5}
    for company_id in completed:
        record = companies[company_id]
        assert (record.prop("nurture_step"), record.prop("nurture_status")) == ("5", "completed")
        assert record.prop("ecommerce_account_status") == "suspended"
    for order in simulation.orders:
        if order.day + timedelta(days=61) >= START + timedelta(days=DAYS):  # no new spell began since
            assert companies[order.company_id].prop("nurture_status") == "converted"


# --- a small portal, one company at a time ---------------------------------------------------------------------


def quiet_customer(simulation: Simulation, days: int, name: str = "Galli Informatica S.r.l.") -> str:
    """A company whose last order was `days` ago, with one consenting contact, created through the API."""
    last = simulation.today - timedelta(days=days)
    company = simulation.crm.create(
        "companies", {"name": name, simulation.contract.last_purchase_date: last.isoformat()}
    )
    simulation.crm.create(
        "contacts",
        {
            "email": f"acquisti.{company.id}@example.it",
            "firstname": "Laura",
            "lastname": "Galli",
            "hs_email_optout": "false",
            "hs_legal_basis": "Legitimate interest – existing customer",
        },
        [AssociationTarget("companies", company.id)],
    )
    return company.id


@pytest.fixture
def small(sandbox_factory: Callable[..., Any], firestore_state_store: Any, tmp_path: Path) -> Simulation:
    return Simulation(sandbox_factory(companies=0), firestore_state_store, tmp_path / "outbox")


def test_the_fifth_step_suspends_once_and_a_later_order_starts_a_new_spell(small: Simulation) -> None:
    company_id = quiet_customer(small, 61)
    status = small.contract.ecommerce_status

    def account_status() -> str | None:
        [record] = small.crm.read_batch("companies", [company_id], [status])
        return record.prop(status)

    for _ in range(61):
        small.run()
        small.next_day()
    assert account_status() == "suspended"
    # the e-commerce team restores the account: Flywheel does not suspend that spell again
    small.crm.update_batch("companies", [(company_id, {status: "active"})])
    for _ in range(5):
        small.run()
        small.next_day()
    assert account_status() == "active"

    order = small.place_order(company_id, "sirank")
    for _ in range(62):
        small.run()
        small.next_day()

    records = {r.id: r for r in small.ports.state.sequences_of_company(nurture.KIND, company_id)}
    first_spell = (START - timedelta(days=61)).isoformat()
    assert records[f"{company_id}:{first_spell}"].status == "completed"
    new_spell = records[f"{company_id}:{order.day.isoformat()}"]
    assert (new_spell.status, new_spell.step) == ("active", 1)
    templates = [m.template for m in small.mailer.sent()]
    assert templates == [*(f"nurture_{n}" for n in range(1, 6)), "nurture_1"]
    assert account_status() == "active"


def test_two_function_instances_running_at_once_send_each_step_once(
    sandbox_factory: Callable[..., Any], firestore_state_store: Any, tmp_path: Path
) -> None:
    server = sandbox_factory(companies=0)
    # two instances: each its own HubSpot client and outbox, one Firestore database
    instances = [Simulation(server, firestore_state_store, tmp_path / f"outbox{n}") for n in range(2)]
    companies = [quiet_customer(instances[0], 61 + n % 15, name=f"Azienda {n}") for n in range(20)]

    errors: list[BaseException] = []

    def run(instance: Simulation) -> None:
        try:
            instance.run()
        except BaseException as error:  # a thread's failure must fail the test, not vanish
            errors.append(error)

    for _ in range(61):
        threads = [threading.Thread(target=run, args=(instance,)) for instance in instances]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for instance in instances:
            instance.next_day()

    sent = [(m.company_id, m.template) for instance in instances for m in instance.mailer.sent()]
    assert len(sent) == len(set(sent)), "no step went out twice"
    # all enrolled on the first day (61..75 days quiet), so days 0, 15, 30, 45 and 60 carry the five steps
    assert sorted(sent) == sorted((c, f"nurture_{n}") for c in companies for n in range(1, 6))
    assert errors == []
