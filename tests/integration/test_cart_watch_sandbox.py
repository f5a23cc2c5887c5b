"""cart_watch over the sandbox portal, through the real HubSpot adapter over HTTP, with the portal's clock pinned.

What should happen is worked out here from full listings of the portal (every cart with its associations, every
contact), independently of the search and the association reads the service makes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.domain.models import CrmRecord
from flywheel.mail.consent import ConsentPolicy, may_email
from flywheel.ports import AssociationTarget
from flywheel.services import cart_watch
from flywheel.services.context import Ports
from flywheel.services.effects import OWNER_ALERT_TEMPLATE
from flywheel.services.mapping import contact_properties, parse_instant, parse_number, to_contact
from tests.fakes import mail_settings

pytestmark = pytest.mark.sandbox

COMPANIES = 400
HOUR = timedelta(hours=1)


@dataclass
class Portal:
    server: Any
    crm: HubSpotCrm
    settings: Settings
    clock: FixedClock
    ports: Ports

    def move_to(self, instant: datetime) -> None:
        """Flywheel's clock and the portal's together."""
        self.clock.set(instant)
        self.server.store.clock.pin(instant)

    def run(self) -> cart_watch.RunResult:
        return cart_watch.run(cart_watch.Request(), self.ports)

    def carts(self) -> list[CrmRecord]:
        pages = self.crm.list_pages("carts", cart_watch.CART_PROPERTIES, associations=["companies", "contacts"])
        return [record for page in pages for record in page.records]

    def consenting(self, contact_ids: list[str]) -> set[str]:
        contract = self.settings.portal
        records = self.crm.read_batch("contacts", contact_ids, contact_properties(contract))
        policy = ConsentPolicy.from_settings(self.settings)
        return {r.id for r in records if may_email(to_contact(r, contract), policy)}

    def alert_tasks(self) -> list[CrmRecord]:
        pages = self.crm.list_pages(
            "tasks", ["hs_task_subject", "hs_task_priority", "flywheel_key", "hubspot_owner_id"]
        )
        return [
            t
            for page in pages
            for t in page.records
            if (t.prop("flywheel_key") or "").startswith("cart_watch:") and ":alert:" in (t.prop("flywheel_key") or "")
        ]

    def new_cart(self, company_id: str, contact_id: str, total: float, status: str = "open") -> str:
        """A cart as the e-commerce connector syncs it: its line item first, then the cart linked to everything."""
        line = self.crm.create("line_items", {"name": "Workstation Z4", "quantity": "1", "price": f"{total:.2f}"})
        cart = self.crm.create(
            "carts",
            {
                "hs_cart_name": "Carrello di prova",
                "hs_external_status": status,
                "hs_total_price": f"{total:.2f}",
                "hs_currency_code": "EUR",
                "hs_cart_url": "https://shop.sicomputer.it/carrello/prova",
            },
            [
                AssociationTarget("companies", company_id),
                AssociationTarget("contacts", contact_id),
                AssociationTarget("line_items", line.id),
            ],
        )
        return cart.id


@pytest.fixture
def portal(sandbox_factory: Callable[..., Any], now: datetime, tmp_path: Path) -> Portal:
    server = sandbox_factory(companies=COMPANIES, seed=5)
    crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=100_000)
    settings = mail_settings()
    clock = FixedClock(now)
    ports = Ports(
        crm=crm,
        state=SqliteStateStore(str(tmp_path / "state.db")),
        mailer=OutboxMailer(tmp_path / "outbox"),
        clock=clock,
        settings=settings,
    )
    return Portal(server, crm, settings, clock, ports)


def a_company_with_a_consenting_contact(portal: Portal) -> tuple[str, str]:
    contacts = portal.crm.list_pages("contacts", contact_properties(portal.settings.portal), associations=["companies"])
    policy = ConsentPolicy.from_settings(portal.settings)
    for page in contacts:
        for record in page.records:
            companies = record.associations.get("companies", ())
            if companies and may_email(to_contact(record, portal.settings.portal), policy):
                return companies[0], record.id
    raise AssertionError("the generated portal has consenting contacts")


def test_hourly_runs_over_two_days_remind_each_abandoned_cart_once_and_alert_owners_once(
    portal: Portal, now: datetime, tmp_path: Path
) -> None:
    company_id, contact_id = a_company_with_a_consenting_contact(portal)
    portal.move_to(now - 2 * HOUR)
    large = portal.new_cart(company_id, contact_id, 2450.0)  # abandoned at hour 22 of the walk
    checked_out_later = portal.new_cart(company_id, contact_id, 300.0)
    portal.move_to(now)

    results = []
    for hour in range(48):
        portal.move_to(now + hour * HOUR)
        if hour == 30:
            # the customer comes back after the reminder and buys: nothing more for that cart
            portal.crm.update_batch("carts", [(checked_out_later, {"hs_external_status": "Paid"})])
        results += [portal.run(), portal.run()]

    carts = portal.carts()
    open_carts = [
        c
        for c in carts
        if (c.prop("hs_external_status") or "open").casefold() not in ("paid",)
        and (parse_number(c.prop("hs_total_price")) or 0) > 0
    ]
    assert len(open_carts) > 5  # the generated portal has carts left on its companies
    contact_of = {c.id: c.associations["contacts"][0] for c in carts if c.associations.get("contacts")}
    consenting = portal.consenting(sorted(set(contact_of.values())))
    reminded_carts = {c.id for c in open_carts if contact_of.get(c.id) in consenting} | {checked_out_later}
    sent = OutboxMailer(tmp_path / "outbox").sent()
    reminders = [m for m in sent if m.template != OWNER_ALERT_TEMPLATE]
    per_cart = Counter(m.key.split(":")[1].removeprefix("cart-") for m in reminders)
    assert set(per_cart) == reminded_carts
    assert set(per_cart.values()) == {1}  # once each, although every hour ran twice
    assert all(m.template == "carrello_abbandonato" for m in reminders)
    # the owners' alerts go through the mailer too, once per large cart
    owner_alerts = Counter(
        m.key.split(":")[1].removeprefix("cart-") for m in sent if m.template == OWNER_ALERT_TEMPLATE
    )
    assert set(owner_alerts.values()) <= {1}

    large_ones = {c.id for c in open_carts if (parse_number(c.prop("hs_total_price")) or 0) > 2000}
    assert large in large_ones
    alerts = Counter(t.prop("flywheel_key").split(":")[1].removeprefix("cart-") for t in portal.alert_tasks())  # type: ignore[union-attr]
    assert set(alerts) == large_ones and set(alerts.values()) == {1}
    assert set(owner_alerts) == large_ones
    assert sum(r.summary["reminded"] for r in results) == len(reminded_carts)
    assert sum(r.summary["owners_alerted"] for r in results) == len(large_ones)


def test_an_hourly_run_costs_one_search_per_200_changed_carts_and_reads_only_for_the_abandoned(
    portal: Portal, now: datetime
) -> None:
    first = portal.run()
    portal.move_to(now + HOUR)
    second = portal.run()

    changed = [c for c in portal.carts() if (parse_instant(c.prop("hs_lastmodifieddate")) or now) >= now - timedelta(7)]
    searches = math.ceil(len(changed) / 200)
    assert first.summary["carts_seen"] == len(changed)
    assert first.summary["crm_calls"] > searches  # associations, line items, companies, contacts, then effects
    # nothing new: the search, and for the abandoned carts whose contact may not be emailed, the association and
    # contact reads that tell whether consent came meanwhile (100 a call)
    waiting = second.summary["skipped"]["no_consent"] + second.summary["skipped"]["no_contact"]
    assert waiting > 0
    assert second.summary["crm_calls"] == searches + 2 * math.ceil(waiting / 100)
    assert second.summary["reminded"] == 0 and second.summary["owners_alerted"] == 0


def test_the_checkout_webhook_records_a_paid_cart_at_once(portal: Portal, now: datetime) -> None:
    company_id, contact_id = a_company_with_a_consenting_contact(portal)
    portal.move_to(now - 30 * HOUR)
    cart_id = portal.new_cart(company_id, contact_id, 2800.0)
    portal.move_to(now)
    portal.crm.update_batch("carts", [(cart_id, {"hs_external_status": "checkout_completed"})])

    hook = cart_watch.webhook(
        [{"objectId": int(cart_id), "subscriptionType": "object.propertyChange", "eventId": 1}], portal.ports
    )
    result = portal.run()

    assert hook.summary["checked_out"] == 1
    assert cart_id not in {t.prop("flywheel_key") for t in portal.alert_tasks()}
    assert result.summary["not_abandoned"]["checked_out"] >= 1
    assert portal.ports.state.get_document(cart_watch.CHECKOUTS, cart_id) is not None
