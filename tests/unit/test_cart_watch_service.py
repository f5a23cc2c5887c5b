"""cart_watch over the in-memory CRM: what ends up in the outbox, the portal's tasks and the state store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.config import CartRules, Settings
from flywheel.domain.models import CrmRecord, Page
from flywheel.ports import Filter
from flywheel.services import cart_watch
from flywheel.services.context import Ports
from flywheel.services.effects import OWNER_ALERT_TEMPLATE
from tests.fakes import mail_settings

AS_OF = date(2026, 11, 30)  # a Monday
ROME = ZoneInfo("Europe/Rome")
HOUR = timedelta(hours=1)
SETTINGS = mail_settings()


class World:
    """A portal with carts, a state store, an outbox and a clock; helpers to seed and to look."""

    def __init__(self, tmp_path: Path, crm: MemoryCrm | None = None, settings: Settings | None = None) -> None:
        self.clock = FixedClock.on(AS_OF, at=time(10, 0))
        self.crm = crm or MemoryCrm.with_default_schema(now=self.clock.now)
        self.mailer = OutboxMailer(tmp_path / "outbox")
        self.state = MemoryStateStore()
        self.ports = Ports(
            crm=self.crm, state=self.state, mailer=self.mailer, clock=self.clock, settings=settings or SETTINGS
        )

    def with_cart_rules(self, **rules: Any) -> None:
        settings = self.ports.settings
        self.ports.settings = settings.model_copy(update={"cart": settings.cart.model_copy(update=rules)})

    # --- seeding -------------------------------------------------------------------------------------------

    def company(self, name: str = "Rossi Informatica S.r.l.", **options: Any) -> str:
        return self.crm.add_company(name, **options)

    def cart(
        self,
        total: float,
        *,
        idle: timedelta = timedelta(hours=30),
        company_id: str | None = None,
        contact_id: str | None = None,
        currency: str | None = "EUR",
        status: str = "open",
        opted_out: bool = False,
        lines: Sequence[tuple[str, int, float]] | None = None,
    ) -> str:
        """A cart of `total` last changed `idle` before now, with its contact, company and line items."""
        company_id = company_id or self.company()
        if contact_id is None:
            contact_id = self.crm.add_contact(
                company_id, "anna.bianchi@example.it", first_name="Anna", last_name="Bianchi", opted_out=opted_out
            )
        lines = lines or [("Notebook ProBook 450", 1, total)]
        line_ids = [
            self.crm.add(
                "line_items", {"name": name, "quantity": str(qty), "price": str(price), "amount": str(qty * price)}
            )
            for name, qty, price in lines
        ]
        properties = {
            "hs_cart_name": "Carrello C100001",
            "hs_external_status": status,
            "hs_total_price": f"{total:.2f}",
            "hs_cart_url": "https://shop.sicomputer.it/carrello/C100001",
            "hs_lastmodifieddate": stamp(self.clock.now() - idle),
        }
        if currency is not None:
            properties["hs_currency_code"] = currency
        links = {"companies": [company_id], "contacts": [contact_id], "line_items": line_ids}
        return self.crm.add("carts", properties, links)

    def touch(self, cart_id: str, **properties: str) -> None:
        """The customer changes the cart now (HubSpot stamps a new `hs_lastmodifieddate`)."""
        self.crm.update_batch("carts", [(cart_id, properties or {"hs_total_price": "999.00"})])

    # --- running -------------------------------------------------------------------------------------------

    def advance(self, delta: timedelta) -> None:
        self.clock.set(self.clock.now() + delta)

    def run(self, **body: Any) -> cart_watch.RunResult:
        return cart_watch.run(cart_watch.Request.model_validate(body), self.ports)

    # --- looking -------------------------------------------------------------------------------------------

    def emails(self) -> list[Any]:
        """The reminders to the carts' contacts."""
        return [m for m in self.mailer.sent() if m.template != OWNER_ALERT_TEMPLATE]

    def tasks(self) -> list[CrmRecord]:
        """The owners' "Carrello abbandonato" tasks."""
        return [
            t
            for t in self.crm.all("tasks")
            if (t.properties.get("hs_task_subject") or "").startswith("Carrello abbandonato")
        ]

    def alerts(self) -> list[Any]:
        """The alerts the mailer delivered to owners."""
        return [m for m in self.mailer.sent() if m.template == OWNER_ALERT_TEMPLATE]


def stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield World(tmp_path)


# --- the reminder ----------------------------------------------------------------------------------------------


def test_a_cart_left_a_day_reminds_its_contact_with_the_contents_the_total_and_the_link(world: World) -> None:
    world.cart(
        1528.0, lines=[("Notebook ProBook 450", 1, 899.0), ("Monitor 27 pollici", 2, 264.5), ("Mouse", 1, 100.0)]
    )

    result = world.run()

    [email] = world.emails()
    assert email.template == "carrello_abbandonato"
    assert email.subject == "Rossi Informatica S.r.l., hai lasciato dei prodotti nel carrello"
    assert "Gentile Anna Bianchi," in email.body_text
    assert "- 1 x Notebook ProBook 450 (899,00 €)" in email.body_text
    assert "- 2 x Monitor 27 pollici (529,00 €)" in email.body_text
    assert "Totale: 1.528,00 €" in email.body_text
    assert "https://shop.sicomputer.it/carrello/C100001" in email.body_text
    assert world.tasks() == []  # 1,528 EUR alerts nobody
    assert result.summary["carts_seen"] == 1 and result.summary["abandoned"] == 1
    assert result.summary["reminded"] == 1 and result.summary["owners_alerted"] == 0
    assert result.summary["value_at_stake"] == 1528.0


@pytest.mark.parametrize(
    ("idle", "reminded"),
    [(timedelta(hours=23, minutes=59, seconds=59), 0), (timedelta(hours=24), 1)],
    ids=["23h59m59s", "24h00m00s"],
)
def test_a_cart_is_abandoned_after_24_hours_to_the_second(world: World, idle: timedelta, reminded: int) -> None:
    world.cart(500.0, idle=idle)
    result = world.run()
    assert len(world.emails()) == reminded
    assert result.summary["abandoned"] == reminded
    assert result.summary["not_abandoned"]["recent"] == 1 - reminded


def test_running_the_same_hour_twice_reminds_once(world: World) -> None:
    world.cart(2500.0)

    first = world.run()
    second = world.run()

    assert len(world.emails()) == 1 and len(world.tasks()) == 1 and len(world.alerts()) == 1
    assert (first.summary["reminded"], second.summary["reminded"]) == (1, 0)
    assert (first.summary["owners_alerted"], second.summary["owners_alerted"]) == (1, 0)
    assert second.actions == [] and second.summary["already_reminded"] == 1


def test_a_cart_retouched_after_its_reminder_is_reminded_again_only_72_hours_after_the_first(world: World) -> None:
    cart_id = world.cart(800.0)
    world.run()
    world.advance(2 * HOUR)
    world.touch(cart_id, hs_total_price="950.00")  # the customer adds a product, then leaves again

    world.advance(24 * HOUR)  # 26 h after the reminder: abandoned again, but within 72 h of the first reminder
    early = world.run()
    world.advance(46 * HOUR - timedelta(seconds=1))  # 71 h 59 m 59 s after the reminder
    still_early = world.run()
    world.advance(timedelta(seconds=1))  # 72 h
    again = world.run()

    assert early.summary["skipped"]["cooldown"] == 1 and still_early.summary["skipped"]["cooldown"] == 1
    assert again.summary["reminded"] == 1
    first, second = world.emails()
    assert "Totale: 800,00 €" in first.body_text and "Totale: 950,00 €" in second.body_text


def test_a_cart_left_unchanged_is_reminded_once_however_long_it_waits(world: World) -> None:
    world.cart(300.0)
    for _ in range(5):
        world.run()
        world.advance(40 * HOUR)
    assert len(world.emails()) == 1


@pytest.mark.parametrize("status", ["paid", "PAID", "Checkout_Completed", "converted", "completed"])
def test_a_checked_out_cart_gets_nothing_whatever_the_case_of_its_status(world: World, status: str) -> None:
    world.cart(2600.0, status=status)
    result = world.run()
    assert world.emails() == [] and world.tasks() == []
    assert result.summary["not_abandoned"]["checked_out"] == 1 and result.summary["abandoned"] == 0


@pytest.mark.parametrize("status", ["cancelled", "Expired"])
def test_a_closed_cart_gets_nothing(world: World, status: str) -> None:
    world.cart(2600.0, status=status)
    result = world.run()
    assert world.emails() == [] and result.summary["not_abandoned"]["closed"] == 1


@pytest.mark.parametrize("status", ["open", "pending", "abandoned", "something_new"])
def test_every_other_status_is_still_open(world: World, status: str) -> None:
    world.cart(100.0, status=status)
    world.run()
    assert len(world.emails()) == 1


def test_the_statuses_are_configurable(world: World) -> None:
    world.with_cart_rules(checked_out_statuses=["evaso"], closed_statuses=["annullato"])
    world.cart(100.0, status="Evaso")
    world.cart(100.0, status="annullato")
    world.cart(100.0, status="paid")  # no longer a checkout status here
    result = world.run()
    assert result.summary["not_abandoned"]["checked_out"] == 1 and result.summary["not_abandoned"]["closed"] == 1
    assert len(world.emails()) == 1


def test_an_empty_cart_gets_nothing(world: World) -> None:
    world.cart(0.0)
    result = world.run()
    assert world.emails() == [] and result.summary["not_abandoned"]["empty"] == 1


# --- the owner alert -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "alerted"), [(2000.00, False), (2000.01, True)], ids=["2000.00", "2000.01"])
def test_the_owner_is_alerted_only_above_2000_eur(world: World, total: float, alerted: bool) -> None:
    world.cart(total)
    result = world.run()
    assert len(world.tasks()) == int(alerted) and len(world.alerts()) == int(alerted)
    assert result.summary["owners_alerted"] == int(alerted)
    assert len(world.emails()) == 1  # the customer is reminded either way


def test_the_alert_task_names_amount_contact_contents_and_link_and_is_due_the_next_business_day(
    world: World,
) -> None:
    company_id = world.company("Verdi Sistemi S.p.A.", owner_id=world.crm.reps[1].id)
    world.cart(3150.5, company_id=company_id, lines=[("Server Rack 2U", 1, 3150.5)])

    world.run()

    [task] = world.tasks()
    properties = task.properties
    assert properties["hs_task_subject"] == "Carrello abbandonato: Verdi Sistemi S.p.A. - 3.150,50 €"
    body = properties["hs_task_body"] or ""
    assert "prodotti per 3.150,50 €" in body
    assert "Contatto: Anna Bianchi <anna.bianchi@example.it>" in body
    assert "- 1 x Server Rack 2U (3.150,50 €)" in body
    assert "https://shop.sicomputer.it/carrello/C100001" in body
    assert properties["hubspot_owner_id"] == world.crm.reps[1].id
    assert properties["hs_timestamp"] == datetime(2026, 12, 1, 9, 0, tzinfo=ROME).isoformat()  # Tuesday
    assert company_id in task.associations["companies"]
    [alert] = world.alerts()
    assert alert.to_email == world.crm.reps[1].email


def test_an_alert_on_the_eve_of_a_holiday_is_due_after_it(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.clock.set(datetime(2026, 12, 7, 10, 0, tzinfo=ROME))  # Monday; 8 December is a holiday
    world.cart(2500.0)
    world.run()
    [task] = world.tasks()
    assert task.properties["hs_timestamp"] == datetime(2026, 12, 9, 9, 0, tzinfo=ROME).isoformat()


def test_a_contact_without_consent_gets_no_email_but_the_owner_is_still_alerted(world: World) -> None:
    world.cart(4200.0, opted_out=True)

    result = world.run()

    assert world.emails() == []
    assert len(world.tasks()) == 1 and len(world.alerts()) == 1
    assert result.summary["skipped"]["no_consent"] == 1 and result.summary["owners_alerted"] == 1


def test_a_company_without_owner_alerts_the_sales_assistant(world: World) -> None:
    company_id = world.company(owner_id="")
    world.cart(2100.0, company_id=company_id)
    world.run()
    [task] = world.tasks()
    assert task.properties["hubspot_owner_id"] == world.crm.sales_assistant.id


def test_the_owner_is_alerted_once_per_cart_version(world: World) -> None:
    cart_id = world.cart(2500.0)
    world.run()
    world.advance(HOUR)
    world.touch(cart_id, hs_total_price="2700.00")
    world.advance(25 * HOUR)
    world.run()
    world.advance(HOUR)
    world.run()
    assert len(world.tasks()) == 2  # one per version
    assert len(world.emails()) == 1  # the second version falls within 72 h of the reminder


# --- currencies ------------------------------------------------------------------------------------------------


def test_a_cart_in_usd_is_converted_with_the_configured_rate(world: World) -> None:
    world.with_cart_rules(eur_rates={"usd": 0.9})
    world.cart(2300.0, currency="USD")  # 2,070 EUR

    result = world.run()

    [task] = world.tasks()
    assert task.properties["hs_task_subject"] == "Carrello abbandonato: Rossi Informatica S.r.l. - 2.070,00 €"
    [email] = world.emails()
    assert "Totale: 2.300,00 USD" in email.body_text
    assert result.summary["value_at_stake"] == 2070.0


def test_a_cart_in_usd_below_the_threshold_once_converted_alerts_nobody(world: World) -> None:
    world.with_cart_rules(eur_rates={"USD": 0.8})
    world.cart(2300.0, currency="USD")  # 1,840 EUR, though 2,300 raw
    world.run()
    assert world.tasks() == []


def test_a_cart_in_a_currency_without_a_rate_is_skipped_and_counted(world: World) -> None:
    world.cart(5000.0, currency="USD")

    result = world.run()

    assert world.emails() == [] and world.tasks() == []
    assert result.summary["skipped"]["no_rate"] == 1 and result.summary["abandoned"] == 0


def test_a_cart_without_currency_is_in_eur(world: World) -> None:
    world.cart(2500.0, currency=None)
    world.run()
    assert len(world.tasks()) == 1


# --- reading ---------------------------------------------------------------------------------------------------


def test_only_carts_changed_in_the_last_7_days_are_read_by_one_search(world: World) -> None:
    world.cart(100.0, idle=timedelta(days=7, seconds=1))
    world.cart(100.0, idle=timedelta(hours=2))
    calls_before = world.crm.calls_made

    result = world.run()

    assert result.summary["carts_seen"] == 1
    assert world.crm.calls_made - calls_before == 1  # one search page, nothing else to read


def test_a_dry_run_lists_the_actions_and_changes_nothing(world: World) -> None:
    world.cart(2500.0)
    result = world.run(dry_run=True)
    assert sorted(a.type for a in result.actions) == ["create_task", "notify_owner", "send_email"]
    assert world.emails() == [] and world.tasks() == []
    assert result.summary["reminded"] == 1 and result.summary["owners_alerted"] == 1
    assert world.run().summary["reminded"] == 1


def test_as_of_may_be_a_date_time_the_instant_idleness_is_judged_at(world: World) -> None:
    world.cart(100.0, idle=timedelta(hours=20))  # changed at 14:00 yesterday
    at = world.clock.now() + 4 * HOUR
    result = world.run(as_of=at.isoformat(), dry_run=True)
    assert result.as_of == AS_OF and result.summary["abandoned"] == 1


def test_a_past_date_is_judged_at_the_end_of_that_day(world: World) -> None:
    world.cart(100.0, idle=timedelta(hours=38))  # 20:00 two days ago: 28 hours before yesterday's end
    world.cart(100.0, idle=timedelta(hours=32))  # 02:00 yesterday: 22 hours before its end
    yesterday = world.run(as_of=(AS_OF - timedelta(days=1)).isoformat(), dry_run=True)
    assert yesterday.summary["abandoned"] == 1 and yesterday.summary["not_abandoned"]["recent"] == 1


# --- the checkout webhook --------------------------------------------------------------------------------------


class LaggingSearch(MemoryCrm):
    """HubSpot's search serves what it indexed: after `freeze`, searches return the carts as they were then."""

    frozen: list[Page] | None = None

    def freeze(self, filters: Sequence[Filter]) -> None:
        self.frozen = list(super().search_pages("carts", filters, cart_watch.CART_PROPERTIES))

    def search_pages(self, object_type: str, filters: Sequence[Filter], properties: Sequence[str], **kw: Any) -> Any:
        if object_type == "carts" and self.frozen is not None:
            self._count(len(self.frozen))
            return iter(self.frozen)
        return super().search_pages(object_type, filters, properties, **kw)


def test_a_checkout_webhook_cancels_the_reminder_even_when_search_still_shows_the_open_cart(tmp_path: Path) -> None:
    clock = FixedClock.on(AS_OF, at=time(10, 0))
    world = World(tmp_path, crm=LaggingSearch.with_default_schema(now=clock.now))
    world.clock = clock
    world.ports.clock = clock
    cart_id = world.cart(2500.0)
    crm = world.crm
    assert isinstance(crm, LaggingSearch)
    crm.freeze([Filter("hs_lastmodifieddate", "GTE", value="0")])
    world.touch(cart_id, hs_external_status="paid")

    hook = cart_watch.webhook([{"objectId": int(cart_id), "subscriptionType": "object.propertyChange"}], world.ports)
    result = world.run()

    assert hook.summary["checked_out"] == 1
    assert world.emails() == [] and world.tasks() == []
    assert result.summary["not_abandoned"]["checked_out"] == 1


def test_the_webhook_ignores_carts_still_open(world: World) -> None:
    cart_id = world.cart(2500.0)
    hook = cart_watch.webhook([{"objectId": cart_id}], world.ports)
    world.run()
    assert hook.summary == {"events": 1, "carts": 1, "checked_out": 0, "crm_calls": 1}
    assert len(world.emails()) == 1


def test_the_rules_default_to_the_issue(world: World) -> None:
    rules = CartRules()
    assert rules.checked_out_statuses == ["converted", "checkout_completed", "completed", "paid"]
    assert rules.closed_statuses == ["cancelled", "expired"]
    assert (rules.abandoned_after_hours, rules.reminder_cooldown_hours, rules.alert_above_eur) == (24, 72, 2000.0)


def test_a_date_time_as_of_needs_its_offset() -> None:
    with pytest.raises(ValidationError):
        cart_watch.Request.model_validate({"as_of": "2026-11-30T10:00:00"})
    request = cart_watch.Request.model_validate({"as_of": "2026-11-30T23:30:00Z"})
    assert request.as_of == date(2026, 12, 1)  # already the next day in Rome
    assert request.at == datetime(2026, 11, 30, 23, 30, tzinfo=UTC)


def test_the_webhook_reads_only_cart_events(world: World) -> None:
    cart_id = world.cart(100.0, status="paid")
    events = [
        {"objectId": cart_id, "subscriptionType": "object.propertyChange", "objectTypeId": "0-3"},  # a deal
        {"objectId": cart_id, "subscriptionType": "deal.propertyChange"},
    ]
    hook = cart_watch.webhook(events, world.ports)
    assert hook.summary["carts"] == 0 and hook.summary["crm_calls"] == 0
    hook = cart_watch.webhook([{"objectId": cart_id, "objectTypeId": "0-142"}], world.ports)
    assert hook.summary["checked_out"] == 1


def test_a_lost_cart_document_is_rebuilt_from_the_effect_keys_and_nothing_goes_twice(world: World) -> None:
    cart_id = world.cart(2500.0)
    world.run()
    world.state.delete_documents(cart_watch.CARTS, [cart_id])  # a run stopped before writing it

    world.advance(HOUR)
    again = world.run()

    assert len(world.emails()) == 1 and len(world.tasks()) == 1 and len(world.alerts()) == 1
    assert again.summary["already_reminded"] == 1 and again.summary["already_alerted"] == 1
    document = world.state.get_document(cart_watch.CARTS, cart_id) or {}
    assert document["reminded_version"] == document["alerted_version"]
