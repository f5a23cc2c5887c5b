"""The cart_watch decisions: which carts are abandoned, who gets a reminder, when the owner is alerted.

Pure: carts, the run's instant and what was done before are handed in; the results are Actions with
deterministic idempotency keys `cart_watch:cart-<id>:<step>:<version>`. A cart's version is its
`hs_lastmodifieddate` (epoch milliseconds): whatever the customer changes makes a new version, so a reminder
and an alert happen once per version. The cart, not its company, names the key, so that the service can tell
what is already done before it reads any association.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from flywheel.config import CartRules
from flywheel.domain.calendar import BusinessCalendar
from flywheel.domain.italian import euro, italian_date, italian_number
from flywheel.domain.models import Company, Contact, CreateTask, NotifyOwner, SendEmail

KEY_PREFIX = "cart_watch"

# tasks fall due at the start of the working day, business time
TASK_DUE_TIME = time(9, 0)

CartState = Literal["checked_out", "closed", "open"]
# why a cart seen by a run is not abandoned
NotAbandoned = Literal["checked_out", "closed", "empty", "recent"]
NOT_ABANDONED: tuple[NotAbandoned, ...] = ("checked_out", "closed", "empty", "recent")
# why an abandoned cart (or one of its effects) was left out
SkipReason = Literal["no_rate", "no_company", "no_contact", "no_consent", "cooldown"]
SKIP_REASONS: tuple[SkipReason, ...] = ("no_rate", "no_company", "no_contact", "no_consent", "cooldown")


@dataclass(frozen=True, slots=True)
class CartLine:
    name: str
    quantity: float
    unit_price: float | None = None
    amount: float | None = None


@dataclass(frozen=True, slots=True)
class Cart:
    id: str
    modified_at: datetime
    status: str | None = None
    total: float | None = None
    currency: str | None = None
    name: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class CartVerdict:
    """An abandoned cart has its total in EUR; any other cart says why it is not (or cannot be) one."""

    abandoned: bool
    reason: NotAbandoned | Literal["no_rate"] | None = None
    eur_total: float | None = None


# --- the run's instant -----------------------------------------------------------------------------------------


def run_instant(as_of: date | None, at: datetime | None, now: datetime, timezone: str) -> datetime:
    """The instant a run judges idleness at: `at` when given; else now for today (or no date), the end of the
    day for a past date (a replay sees the whole day), the start of the day for a future one (a preview)."""
    if at is not None:
        return at
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    if as_of is None or as_of == today:
        return now
    if as_of < today:
        return datetime.combine(as_of + timedelta(days=1), time(0), zone) - timedelta(microseconds=1)
    return datetime.combine(as_of, time(0), zone)


def search_since(instant: datetime, rules: CartRules) -> datetime:
    return instant - timedelta(days=rules.lookback_days)


# --- states and amounts ----------------------------------------------------------------------------------------


def cart_state(status: str | None, rules: CartRules) -> CartState:
    """Checked out or closed by the configured statuses (without case); anything else is still open."""
    value = (status or "").strip().casefold()
    if value in {s.strip().casefold() for s in rules.checked_out_statuses}:
        return "checked_out"
    if value in {s.strip().casefold() for s in rules.closed_statuses}:
        return "closed"
    return "open"


def currency_of(cart: Cart, rules: CartRules) -> str:
    return (cart.currency or rules.default_currency).strip().upper()


def eur_total(cart: Cart, rules: CartRules) -> float | None:
    """The total in EUR, or None when the cart's currency has no configured rate (never compared raw)."""
    if cart.total is None:
        return None
    currency = currency_of(cart, rules)
    if currency == "EUR":
        return cart.total
    rates = {code.strip().upper(): rate for code, rate in rules.eur_rates.items()}
    rate = rates.get(currency)
    return None if rate is None else round(cart.total * rate, 2)


def assess(cart: Cart, instant: datetime, rules: CartRules) -> CartVerdict:
    """Abandoned: open, a total above zero, unchanged for at least `abandoned_after_hours` (24 h 00 m 00 s is,
    23 h 59 m 59 s is not); then its total must convert to EUR."""
    state = cart_state(cart.status, rules)
    if state != "open":
        return CartVerdict(abandoned=False, reason=state)
    if cart.total is None or cart.total <= 0:
        return CartVerdict(abandoned=False, reason="empty")
    if instant - cart.modified_at < timedelta(hours=rules.abandoned_after_hours):
        return CartVerdict(abandoned=False, reason="recent")
    eur = eur_total(cart, rules)
    if eur is None:
        return CartVerdict(abandoned=False, reason="no_rate")
    return CartVerdict(abandoned=True, eur_total=eur)


def reminder_allowed(last_reminded_at: datetime | None, instant: datetime, rules: CartRules) -> bool:
    """At most one reminder per cart in `reminder_cooldown_hours`, whatever its version."""
    return last_reminded_at is None or instant - last_reminded_at >= timedelta(hours=rules.reminder_cooldown_hours)


def alert_due(eur: float, rules: CartRules) -> bool:
    """Strictly above the threshold: a cart of exactly 2,000.00 EUR alerts nobody."""
    return eur > rules.alert_above_eur


# --- keys ------------------------------------------------------------------------------------------------------


def version(cart: Cart) -> str:
    return str(int(cart.modified_at.timestamp() * 1000))


def reminder_key(cart: Cart) -> str:
    return f"{KEY_PREFIX}:cart-{cart.id}:reminder:{version(cart)}"


def alert_task_key(cart: Cart) -> str:
    return f"{KEY_PREFIX}:cart-{cart.id}:alert:{version(cart)}"


def notify_key(cart: Cart) -> str:
    return f"{KEY_PREFIX}:cart-{cart.id}:notify:{version(cart)}"


# --- texts and actions -----------------------------------------------------------------------------------------


def money(amount: float, currency: str) -> str:
    return euro(amount) if currency == "EUR" else f"{italian_number(amount, 2)} {currency}"


def lines_text(lines: Sequence[CartLine], currency: str) -> str:
    """The cart's contents, one product a line: "- 2 x Notebook 15" (1.798,00 €)"."""
    if not lines:
        return "- (contenuto non disponibile)"
    rows = []
    for line in lines:
        quantity = italian_number(line.quantity, 0 if float(line.quantity).is_integer() else 2)
        amount = line.amount if line.amount is not None else (line.unit_price or 0.0) * line.quantity
        rows.append(f"- {quantity} x {line.name} ({money(amount, currency)})")
    return "\n".join(rows)


def contact_name(contact: Contact | None) -> str:
    if contact is None:
        return ""
    return " ".join(part for part in (contact.first_name, contact.last_name) if part)


def reminder_email(
    cart: Cart, lines: Sequence[CartLine], company: Company, contact: Contact, rules: CartRules
) -> SendEmail:
    currency = currency_of(cart, rules)
    return SendEmail(
        company_id=company.id,
        contact_id=contact.id,
        key=reminder_key(cart),
        template=rules.reminder_template,
        context={
            "company_name": company.name,
            "contact_name": contact_name(contact),
            "cart_lines": lines_text(lines, currency),
            "cart_total": money(cart.total or 0.0, currency),
            "cart_url": cart.url or "",
        },
    )


def alert_actions(
    cart: Cart,
    lines: Sequence[CartLine],
    company: Company,
    contact: Contact | None,
    eur: float,
    instant: datetime,
    *,
    owner_id: str,
    rules: CartRules,
    timezone: str,
    calendar: BusinessCalendar,
) -> list[CreateTask | NotifyOwner]:
    """The owner's task "Carrello abbandonato", due the next business day of the company's calendar, and the
    owner's alert."""
    zone = ZoneInfo(timezone)
    local = instant.astimezone(zone)
    due = datetime.combine(calendar.add_business_days(local.date(), 1), TASK_DUE_TIME, zone)
    currency = currency_of(cart, rules)
    amount = euro(eur) if currency == "EUR" else f"{euro(eur)} ({money(cart.total or 0.0, currency)})"
    who = contact_name(contact) or (f"contatto {contact.id}" if contact else "nessun contatto associato")
    if contact is not None and contact.email:
        who = f"{who} <{contact.email}>"
    changed = cart.modified_at.astimezone(zone)
    body = "\n".join(
        [
            f"{company.name} ha lasciato nel carrello dell'e-commerce prodotti per {amount} senza completare l'ordine.",
            f"Contatto: {who}",
            f"Ultima modifica del carrello: {italian_date(changed.date())} alle {changed:%H:%M}",
            "",
            "Contenuto:",
            lines_text(lines, currency),
            "",
            f"Carrello: {cart.url or 'link non disponibile'}",
        ]
    )
    task = CreateTask(
        company_id=company.id,
        key=alert_task_key(cart),
        owner_id=owner_id,
        subject=f"Carrello abbandonato: {company.name} - {euro(eur)}",
        body=body,
        due=due,
    )
    alert = NotifyOwner(
        company_id=company.id,
        key=notify_key(cart),
        owner_id=owner_id,
        subject=f"Carrello abbandonato sopra {euro(rules.alert_above_eur)}: {company.name} - {euro(eur)}",
        body=body,
        due=due,
    )
    return [task, alert]
