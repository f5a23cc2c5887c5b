"""Customers' daily buying for the demo's simulated days: who orders on a given day, what and for how much.

Each company buys at its own rhythm (its buying interval, from the generated profile). The chance that it orders
on a day depends on the days since its latest order, whether that order is in the generated history or placed
earlier in the simulation:
- active (under 60 days): ramps up to one order per interval once about half an interval has passed, so steady
  buyers come back and slow ones drift past the 60-day mark (the lukewarm enrolments of the demo);
- lukewarm (60-179 days): a reduced chance, so some come back (the conversions the demo shows);
- cold (180-1460 days): a small chance (a Wake Up deal may end "Riattivato");
- lost, and companies that never bought: rare.
Weekends are quiet. The same (portal, day, seed, already_placed) always gives the same orders.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from statistics import median
from typing import Any

from sandbox import schema
from sandbox.generator import PRODUCTS, ROME, SHOP_URL, BuyerProfile, GeneratedPortal, business_seconds, money

NEVER_BOUGHT_DAILY_CHANCE = 0.0004
LOST_DAILY_CHANCE = 0.0002
WEEKEND_FACTOR = 0.15
MAX_DAILY_CHANCE = 0.25


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A closed-won deal to create in an order pipeline, associated with `company_id` (and its contact)."""

    company_id: str
    dealname: str
    amount: str  # EUR, as HubSpot carries a number
    closedate: str  # ISO datetime in UTC
    pipeline: str  # pipeline id
    dealstage: str  # closed-won stage id of that pipeline
    contact_id: str | None = None
    owner_id: str | None = None


def daily_order_chance(interval_days: float, days_since_last: int | None) -> float:
    """The chance that a company with this buying interval orders on a working day, by days since its last order."""
    if days_since_last is None:
        return NEVER_BOUGHT_DAILY_CHANCE
    if days_since_last <= 0:
        return 0.0  # one order a day at most
    interval = max(interval_days, 1.0)  # a derived interval is 0 when all orders fell on one day
    rate = 1.0 / interval
    if days_since_last < 60:
        chance = rate * min(1.0, days_since_last / (0.5 * interval))
    elif days_since_last < 180:
        chance = 0.9 * rate
    elif days_since_last < 1461:
        chance = min(0.25 * rate, 0.003)
    else:
        chance = LOST_DAILY_CHANCE
    return min(chance, MAX_DAILY_CHANCE)


def place(store: Any, order: NewOrder) -> str:
    """Create the order's deal in the portal (as the e-commerce site or a rep would), with its associations."""
    properties = {
        "dealname": order.dealname,
        "amount": order.amount,
        "closedate": order.closedate,
        "pipeline": order.pipeline,
        "dealstage": order.dealstage,
    }
    if order.owner_id:
        properties["hubspot_owner_id"] = order.owner_id
    links = [("companies", order.company_id)]
    if order.contact_id:
        links.append(("contacts", order.contact_id))
    return str(store.create_object("deals", properties, links))


def orders_for_day(portal: GeneratedPortal, day: date, seed: int, already_placed: Mapping[str, date]) -> list[NewOrder]:
    """The orders customers place on `day`, given the latest order each placed so far in the simulation."""
    profiles = buyer_profiles(portal)
    # one draw per company, in a fixed order, so that one company's order does not reshuffle the others'
    draws = random.Random(f"orders:{seed}:{day.isoformat()}")
    weekend = day.weekday() >= 5
    orders: list[NewOrder] = []
    for company_id, profile in profiles.items():
        draw = draws.random()
        last = _latest(profile.last_order, already_placed.get(company_id))
        chance = daily_order_chance(profile.interval_days, None if last is None else (day - last).days)
        if weekend:
            chance *= WEEKEND_FACTOR
        if draw < chance:
            orders.append(_order(profile, day, seed, len(orders) + 1))
    return orders


def _latest(generated: date | None, simulated: date | None) -> date | None:
    if generated is None or simulated is None:
        return generated or simulated
    return max(generated, simulated)


def _order(profile: BuyerProfile, day: date, seed: int, serial: int) -> NewOrder:
    rng = random.Random(f"order:{seed}:{day.isoformat()}:{profile.company_id}")
    local_seconds = business_seconds(rng)
    offset = ROME.utcoffset(datetime(day.year, day.month, day.day, 12))  # Rome's offset on that day
    assert offset is not None
    utc_seconds = local_seconds - int(offset.total_seconds())
    hours, rest = divmod(utc_seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    closedate = f"{day.isoformat()}T{hours:02d}:{minutes:02d}:{seconds:02d}.000Z"
    amount = max(9.9, profile.amount_scale * math.exp(rng.gauss(0, 0.6)))
    if rng.random() < profile.ecommerce_share:
        pipeline, stage = schema.ECOMMERCE_PIPELINE_ID, schema.ECOMMERCE_STAGE_WON_ID
        name = f"Ordine web W{day:%Y%m%d}-{serial:04d}"
    else:
        pipeline, stage = schema.SALES_PIPELINE_ID, schema.SALES_STAGE_WON_ID
        amount *= 1.8
        name = f"{profile.name} - Ordine {day:%d/%m/%Y}"
    return NewOrder(
        company_id=profile.company_id,
        dealname=name,
        amount=money(amount),
        closedate=closedate,
        pipeline=pipeline,
        dealstage=stage,
        contact_id=profile.primary_contact_id,
        owner_id=profile.owner_id,
    )


def buyer_profiles(portal: GeneratedPortal) -> dict[str, BuyerProfile]:
    """The portal's buyer profiles; derived from its order history when the portal was not generated here."""
    if not portal.profiles and portal.objects.get("companies"):
        portal.profiles.update(derive_profiles(portal))
    return portal.profiles


def derive_profiles(portal: GeneratedPortal) -> dict[str, BuyerProfile]:
    """Buying rhythm, typical amount and channel of each company, from its closed-won deals in the order pipelines."""
    won = {(pipeline, schema.WON_STAGE_BY_PIPELINE[pipeline]) for pipeline in schema.ORDER_PIPELINE_IDS}
    deals = {
        deal["id"]: deal["properties"]
        for deal in portal.objects.get("deals", [])
        if (deal["properties"].get("pipeline"), deal["properties"].get("dealstage")) in won
    }
    orders: dict[str, list[tuple[date, float, bool]]] = defaultdict(list)
    primary: dict[str, str] = {}
    for from_type, from_id, to_type, to_id in portal.associations:
        if from_type == "deals" and to_type == "companies" and from_id in deals:
            properties = deals[from_id]
            closed = _rome_date(properties.get("closedate", ""))
            if closed is not None:
                amount = float(properties.get("amount") or 0)
                orders[to_id].append((closed, amount, properties["pipeline"] == schema.ECOMMERCE_PIPELINE_ID))
        elif from_type == "contacts" and to_type == "companies":
            primary.setdefault(to_id, from_id)
    profiles: dict[str, BuyerProfile] = {}
    for company in portal.objects["companies"]:
        company_id = company["id"]
        history = sorted(orders.get(company_id, []))
        span = (history[-1][0] - history[0][0]).days if len(history) > 1 else 0
        profiles[company_id] = BuyerProfile(
            company_id=company_id,
            name=company["properties"].get("name") or f"Azienda {company_id}",
            owner_id=company["properties"].get("hubspot_owner_id") or "",
            primary_contact_id=primary.get(company_id),
            interval_days=span / (len(history) - 1) if len(history) > 1 else 180.0,
            amount_scale=median(a for _, a, _ in history) if history else 300.0,
            ecommerce_share=sum(web for _, _, web in history) / len(history) if history else 0.7,
            last_order=history[-1][0] if history else None,
        )
    return profiles


def _rome_date(value: str) -> date | None:
    if not value:
        return None
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ROME).date()


# --- the ERP's changes to customer accounts: cashback and D&P level (cashback_21st, dp_progress) ----------------

DP_LEVELS = ("none", "bronze", "silver", "gold")
LEVEL_MOVE_DAILY_CHANCE = 0.002
NEW_CASHBACK_SHARE = 0.3  # companies credited with cashback on the 1st of a month
CASHBACK_USE_DAILY_CHANCE = 0.02


@dataclass(frozen=True, slots=True)
class AccountChange:
    """Properties the ERP sets on a company on a given day."""

    company_id: str
    properties: dict[str, str]


def account_changes_for_day(
    portal: GeneratedPortal, day: date, seed: int, accounts: Mapping[str, Mapping[str, str]]
) -> list[AccountChange]:
    """What the ERP changes on `day`, given each company's current `dp_level` and `cashback_available`:
    - on the 1st, last month's cashback expires and about a third of the buying companies are credited anew;
      on other days a company holding cashback spends it now and then;
    - now and then a level moves: mostly one step up, sometimes two, sometimes one down.
    The same (portal, day, seed, accounts) always gives the same changes."""
    rng = random.Random(f"accounts:{seed}:{day.isoformat()}")
    changes: list[AccountChange] = []
    for company in portal.objects["companies"]:
        company_id = str(company["id"])
        current = accounts.get(company_id, {})
        cashback_draw, credit_draw, level_draw, move_draw = (rng.random() for _ in range(4))
        amount = rng.lognormvariate(4.2, 0.9)
        properties: dict[str, str] = {}
        held = float(current.get("cashback_available") or 0)
        if day.day == 1:
            earned = money(amount) if credit_draw < NEW_CASHBACK_SHARE and buyer(portal, company_id) else "0"
            if earned != "0" or held > 0:
                properties["cashback_available"] = earned
        elif held > 0 and cashback_draw < CASHBACK_USE_DAILY_CHANCE:
            properties["cashback_available"] = "0"
        level = current.get("dp_level")
        if level in DP_LEVELS and level_draw < LEVEL_MOVE_DAILY_CHANCE:
            rank = DP_LEVELS.index(level)
            step = 2 if move_draw < 0.15 else (-1 if move_draw < 0.3 else 1)
            moved = DP_LEVELS[min(max(rank + step, 0), len(DP_LEVELS) - 1)]
            if moved != level:
                properties["dp_level"] = moved
        if properties:
            changes.append(AccountChange(company_id, properties))
    return changes


def buyer(portal: GeneratedPortal, company_id: str) -> bool:
    profile = portal.profiles.get(company_id)
    return profile is not None and profile.last_order is not None


def initial_accounts(portal: GeneratedPortal) -> dict[str, dict[str, str]]:
    """Each generated company's `dp_level` and `cashback_available`, as account_changes_for_day reads them."""
    return {
        str(c["id"]): {k: str(c["properties"][k]) for k in ("dp_level", "cashback_available") if k in c["properties"]}
        for c in portal.objects["companies"]
    }


def apply_account_changes(store: Any, changes: list[AccountChange], accounts: dict[str, dict[str, str]]) -> None:
    """Write the changes to the portal (as the ERP sync would) and to `accounts`."""
    for change in changes:
        store.update_object("companies", change.company_id, change.properties)
        accounts.setdefault(change.company_id, {}).update(change.properties)


# --- carts on the e-commerce site (cart_watch) -----------------------------------------------------------------

# the chance that a company with a contact leaves a cart on a working day, and how the carts it left end
DAILY_CART_CHANCE = 0.004
LARGE_CART_SHARE = 0.2  # worth over 2,000 EUR: their owner is alerted
CHECKOUT_BEFORE_REMINDER = 0.1  # bought the day after, before any reminder
CHECKOUT_AFTER_REMINDER = 0.25  # bought on a later day, once reminded


@dataclass(frozen=True, slots=True)
class CartDay:
    created: int
    checked_out: int


def carts_for_day(store: Any, portal: GeneratedPortal, day: date, seed: int, open_carts: dict[str, date]) -> CartDay:
    """Customers fill carts on the e-commerce site during the day before `day` and leave them there; some come back
    and buy (`hs_external_status` "paid"), before or after the reminder. `open_carts` (cart id -> day it was left)
    holds the carts of the simulation still open, and is updated. Each change is stamped at its own moment on the
    portal's clock, which is left where it was."""
    rng = random.Random(f"carts:{seed}:{day.isoformat()}")
    before = store.clock.now()
    created = checked_out = 0
    try:
        for cart_id, left_on in sorted(open_carts.items()):
            age = (day - left_on).days
            chance = CHECKOUT_BEFORE_REMINDER if age == 1 else CHECKOUT_AFTER_REMINDER if age <= 6 else 0.0
            if rng.random() < chance:
                store.clock.pin(_moment(day, business_seconds(rng)))
                store.update_object("carts", cart_id, {"hs_external_status": "paid"})
                del open_carts[cart_id]
                checked_out += 1
            elif age > 6:
                del open_carts[cart_id]  # left for good: the cart stays open in HubSpot, nobody watches it
        left_on = day - timedelta(days=1)
        if left_on.weekday() < 5:
            for profile in buyer_profiles(portal).values():
                if profile.primary_contact_id and rng.random() < DAILY_CART_CHANCE:
                    store.clock.pin(_moment(left_on, business_seconds(rng)))
                    open_carts[_leave_cart(store, profile, rng)] = left_on
                    created += 1
    finally:
        store.clock.pin(before)
    return CartDay(created=created, checked_out=checked_out)


def _moment(day: date, local_seconds: int) -> datetime:
    return datetime.combine(day, time(0), ROME) + timedelta(seconds=local_seconds)


def _leave_cart(store: Any, profile: BuyerProfile, rng: random.Random) -> str:
    large = rng.random() < LARGE_CART_SHARE
    lines: list[str] = []
    total = 0.0
    for _ in range(rng.choice((1, 2, 3))):
        sku, product, list_price = rng.choice(PRODUCTS)
        quantity = rng.choice((3, 5, 10)) if large else rng.choice((1, 1, 2))
        price = round(list_price * rng.uniform(0.85, 1.0), 2)
        total += quantity * price
        properties = {"name": product, "hs_sku": sku, "quantity": str(quantity), "price": money(price)}
        lines.append(str(store.create_object("line_items", properties)))
    external_id = f"W{rng.randrange(10**8):08d}"
    properties = {
        "hs_cart_name": f"Carrello {external_id}",
        "hs_external_cart_id": external_id,
        "hs_source_store": "shop.sicomputer.it",
        "hs_total_price": money(total),
        "hs_currency_code": "EUR",
        "hs_cart_url": f"{SHOP_URL}/carrello/{external_id}",
        "hs_external_status": "open",
        "hubspot_owner_id": profile.owner_id,
    }
    assert profile.primary_contact_id is not None
    links = [("companies", profile.company_id), ("contacts", profile.primary_contact_id)]
    links += [("line_items", line) for line in lines]
    return str(store.create_object("carts", properties, links))
