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
from datetime import date, datetime
from statistics import median
from typing import Any

from sandbox import schema
from sandbox.generator import ROME, BuyerProfile, GeneratedPortal, business_seconds, money

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
