"""The cart_watch rules alone: states, idleness, currencies, the 72-hour limit and the run's instant."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from flywheel.config import CartRules
from flywheel.domain import carts
from flywheel.domain.carts import Cart, CartLine

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=ROME)
RULES = CartRules(eur_rates={"USD": 0.9})


def cart(total: float | None = 100.0, idle: timedelta = timedelta(hours=30), **fields: str) -> Cart:
    return Cart(id="71", modified_at=NOW - idle, total=total, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("paid", "checked_out"),
        (" PAID ", "checked_out"),
        ("Checkout_Completed", "checked_out"),
        ("Cancelled", "closed"),
        ("EXPIRED", "closed"),
        ("open", "open"),
        ("abandoned", "open"),
        ("", "open"),
        (None, "open"),
    ],
)
def test_a_status_is_read_without_regard_to_case(status: str | None, state: str) -> None:
    assert carts.cart_state(status, RULES) == state


@pytest.mark.parametrize(
    ("idle", "abandoned"),
    [
        (timedelta(hours=23, minutes=59, seconds=59), False),
        (timedelta(hours=24), True),
        (timedelta(days=6), True),
    ],
)
def test_a_cart_is_abandoned_once_unchanged_for_24_hours(idle: timedelta, abandoned: bool) -> None:
    verdict = carts.assess(cart(idle=idle), NOW, RULES)
    assert verdict.abandoned is abandoned
    assert verdict.reason == (None if abandoned else "recent")


def test_a_cart_worth_nothing_is_empty() -> None:
    assert carts.assess(cart(total=0.0), NOW, RULES).reason == "empty"
    assert carts.assess(cart(total=None), NOW, RULES).reason == "empty"


def test_a_total_in_another_currency_is_converted_or_the_cart_is_skipped() -> None:
    assert carts.assess(cart(total=2300.0, currency="usd"), NOW, RULES).eur_total == 2070.0
    verdict = carts.assess(cart(total=2300.0, currency="GBP"), NOW, RULES)
    assert (verdict.abandoned, verdict.reason, verdict.eur_total) == (False, "no_rate", None)


@pytest.mark.parametrize(("eur", "alert"), [(2000.0, False), (2000.01, True)])
def test_the_owner_alert_is_strictly_above_2000_eur(eur: float, alert: bool) -> None:
    assert carts.alert_due(eur, RULES) is alert


@pytest.mark.parametrize(
    ("since", "allowed"),
    [(None, True), (timedelta(hours=71, minutes=59, seconds=59), False), (timedelta(hours=72), True)],
)
def test_a_cart_is_reminded_at_most_once_in_72_hours(since: timedelta | None, allowed: bool) -> None:
    last = None if since is None else NOW - since
    assert carts.reminder_allowed(last, NOW, RULES) is allowed


def test_the_keys_name_the_cart_and_its_version() -> None:
    one = cart(idle=timedelta(hours=30))
    assert carts.reminder_key(one) == f"cart_watch:cart-71:reminder:{int(one.modified_at.timestamp() * 1000)}"
    retouched = cart(idle=timedelta(hours=29))
    assert carts.reminder_key(retouched) != carts.reminder_key(one)
    assert carts.alert_task_key(one) != carts.notify_key(one)


def test_the_run_instant_is_now_today_the_end_of_a_past_day_or_the_given_instant() -> None:
    today = NOW.date()
    assert carts.run_instant(None, None, NOW, "Europe/Rome") == NOW
    assert carts.run_instant(today, None, NOW, "Europe/Rome") == NOW
    end = carts.run_instant(date(2026, 11, 28), None, NOW, "Europe/Rome")
    assert end.astimezone(ROME).date() == date(2026, 11, 28)
    assert end + timedelta(microseconds=1) == datetime(2026, 11, 29, tzinfo=ROME)
    at = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)
    assert carts.run_instant(date(2026, 11, 29), at, NOW, "Europe/Rome") == at


def test_the_contents_read_as_italian_lines() -> None:
    lines = [CartLine("Notebook", 2, 899.0, 1798.0), CartLine("Cavo HDMI", 1.5, 4.0, None)]
    assert carts.lines_text(lines, "EUR") == "- 2 x Notebook (1.798,00 €)\n- 1,50 x Cavo HDMI (6,00 €)"
    assert carts.lines_text([], "EUR") == "- (contenuto non disponibile)"
    assert carts.money(1234.5, "USD") == "1.234,50 USD"
