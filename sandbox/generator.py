"""A deterministic synthetic portal: SiComputer, an Italian B2B IT distributor, as seen through HubSpot.

`generate_portal(companies, seed, today)` builds companies with their contacts, five years of orders (closed-won
deals in the two order pipelines), some open and lost deals, a few Wake Up deals, tasks, logged activity and open
carts. Everything comes from one `random.Random(seed)`, so a seed always gives the same portal, ids included.

How the order history is shaped (the mixes the functions and the demo rely on):
- each company first gets a target retention segment by days since its last order (before `today`): about 32%
  active (< 60), 13% lukewarm (60-179), 31% cold (180-1460), 16% lost (>= 1461) and 8% that never bought;
- its orders are a renewal process going back in time from that last order, with gaps around the company's own
  buying interval (lognormal, a few weeks to a couple of years), until the customer's first order;
- amounts come from a company scale (lognormal, with a few large accounts) times a per-order lognormal, so most
  companies buy little and a few buy a lot; about 7 orders per company on average;
- about 4% of companies are "high-value and quiet": 120-365 days since their last order after a year of large
  orders, so that their SiRank is above 5,000 (what cold_segment's recontact rule looks for).
Property values are strings, as HubSpot's API carries them; datetimes are business hours in Europe/Rome, in UTC.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import math
import random
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sandbox import schema

T = TypeVar("T")

ROME = ZoneInfo("Europe/Rome")
HISTORY_DAYS = 1826  # orders go back five years before `today`

# First id of each object type: distinct ranges make an id of the wrong type stand out in a test failure.
ID_BASES: dict[str, int] = {
    "companies": 21_000_000_001,
    "contacts": 51_000_000_001,
    "deals": 31_000_000_001,
    "tasks": 41_000_000_001,
    "notes": 61_000_000_001,
    "calls": 62_000_000_001,
    "emails": 63_000_000_001,
    "meetings": 64_000_000_001,
    "carts": 71_000_000_001,
    "line_items": 81_000_000_001,
}

# Target share of each retention segment (normalised by random.choices): the brief's 30/12/30/15/8.
SEGMENT_WEIGHTS: dict[str, float] = {"active": 30, "lukewarm": 12, "cold": 30, "lost": 15, "never": 8}
# Days since the last order, per segment (inclusive bounds)
SEGMENT_DAYS: dict[str, tuple[int, int]] = {
    "active": (1, 59),
    "lukewarm": (60, 179),
    "cold": (180, 1460),
    "lost": (1461, HISTORY_DAYS),
}
HIGH_VALUE_QUIET_SHARE = 0.10  # of lukewarm and cold companies
HIGH_VALUE_QUIET_DAYS = (121, 360)
HIGH_VALUE_MIN_R12 = 6_000.0  # last-12-months revenue that puts SiRank above 5,000 whatever the multipliers

CATEGORY_WEIGHTS: dict[str, float] = {
    "reseller": 45,
    "system_integrator": 25,
    "public_administration": 10,
    "end_user": 12,
    "other": 8,
}
DP_WEIGHTS: dict[str, float] = {"none": 75, "bronze": 12, "silver": 9, "gold": 4}
LEGAL_BASIS_WEIGHTS: dict[str, float] = {
    "Legitimate interest – existing customer": 60,
    "Freely given consent from contact": 25,
    "Performance of a contract": 15,
}
# Bigger provinces hold more customers
PROVINCE_WEIGHTS: dict[str, float] = {"MI": 12, "RM": 10, "TO": 6, "NA": 6, "BO": 4, "FI": 4, "BS": 3, "BG": 3}

SHOP_URL = "https://shop.sicomputer.it"

_FIRST_NAMES = (
    "Alessandro", "Andrea", "Antonio", "Carlo", "Claudio", "Daniele", "Davide", "Emanuele", "Fabio",
    "Federico", "Filippo", "Francesco", "Gabriele", "Giacomo", "Giorgio", "Giovanni", "Giuseppe", "Lorenzo",
    "Luca", "Luigi", "Marco", "Mario", "Massimo", "Matteo", "Michele", "Nicola", "Paolo", "Pietro",
    "Riccardo", "Roberto", "Simone", "Stefano", "Tommaso", "Vincenzo", "Alessandra", "Alice", "Anna",
    "Arianna", "Beatrice", "Camilla", "Chiara", "Cristina", "Elena", "Elisa", "Federica", "Francesca",
    "Giada", "Giorgia", "Giulia", "Ilaria", "Laura", "Lucia", "Marta", "Martina", "Monica", "Paola",
    "Roberta", "Sara", "Silvia", "Simona", "Valentina", "Veronica"
)  # fmt: skip
_LAST_NAMES = (
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
    "Bruno", "Gallo", "Conti", "DeLuca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti",
    "Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini",
    "Leone", "Longo", "Gentile", "Martinelli", "Vitale", "Lombardo", "Serra", "Coppola", "DeSantis",
    "DAngelo", "Marchetti", "Parisi", "Villa", "Conte", "Ferraro", "Ferri", "Fabbri", "Bianco", "Marini",
    "Grasso", "Valentini", "Messina", "Sala", "DeAngelis", "Gatti", "Pellegrini", "Palumbo", "Sanna",
    "Farina", "Rizzi", "Monti", "Cattaneo", "Morelli", "Amato", "Silvestri", "Mazza", "Testa", "Grassi",
    "Pellegrino", "Carbone"
)  # fmt: skip
_DISPLAY_SURNAME = {"DeLuca": "De Luca", "DeSantis": "De Santis", "DAngelo": "D'Angelo", "DeAngelis": "De Angelis"}
_BUSINESS_WORDS = (
    "Informatica", "Computer", "Tecnologie", "Sistemi", "Digital", "Network", "Data", "Soluzioni",
    "Service", "Elettronica", "Office", "Multimedia", "Telematica", "Software", "Cloud", "Tech", "Ufficio",
    "Infoservice", "Micro", "Net", "Byte"
)  # fmt: skip
_COMPANY_FORMS = ("S.r.l.", "S.r.l.", "S.r.l.", "S.p.A.", "S.n.c.", "S.a.s.", "S.r.l.s.")
_JOB_TITLES = (
    "Titolare",
    "Amministratore",
    "Responsabile acquisti",
    "Responsabile IT",
    "Ufficio acquisti",
    "Tecnico",
    "Commerciale",
    "Amministrazione",
)
PRODUCTS: tuple[tuple[str, str, float], ...] = (
    ("NB-LEN-T14", "Notebook Lenovo ThinkPad T14", 1149.0),
    ("NB-HP-450", "Notebook HP ProBook 450", 829.0),
    ("NB-DELL-5540", "Notebook Dell Latitude 5540", 999.0),
    ("PC-HP-400", "PC desktop HP ProDesk 400", 649.0),
    ("MON-DELL-24", "Monitor Dell 24'' P2423", 189.0),
    ("MON-LG-27", "Monitor LG 27'' 4K", 329.0),
    ("SW-MS365-BP", "Microsoft 365 Business Premium (1 anno)", 264.0),
    ("SRV-DELL-R350", "Server Dell PowerEdge R350", 2890.0),
    ("NAS-SYN-920", "NAS Synology DS920+", 579.0),
    ("SW-UBQ-24", "Switch Ubiquiti 24 porte", 399.0),
    ("FW-FORTI-40F", "Firewall Fortinet FortiGate 40F", 549.0),
    ("SSD-SAM-1T", "SSD Samsung 1 TB", 89.0),
    ("STP-BRO-L2", "Stampante Brother laser", 219.0),
    ("UPS-APC-1500", "UPS APC Smart-UPS 1500VA", 689.0),
    ("KB-LOGI-MK", "Kit tastiera e mouse Logitech", 49.0),
    ("TON-BRO-TN", "Toner Brother TN-2420", 59.0),
)


@dataclass(frozen=True, slots=True)
class BuyerProfile:
    """How a company buys: what the daily order flow of the demo (sandbox.activity) draws from."""

    company_id: str
    name: str
    owner_id: str
    primary_contact_id: str | None
    interval_days: float  # typical gap between two orders
    amount_scale: float  # typical order amount, EUR
    ecommerce_share: float  # chance that an order comes through the e-commerce site
    last_order: date | None  # Europe/Rome date of the latest order before `today`


@dataclass
class GeneratedPortal:
    objects: dict[str, list[dict[str, Any]]]
    associations: list[tuple[str, str, str, str]]
    profiles: dict[str, BuyerProfile] = field(default_factory=dict)
    today: date | None = None
    seed: int | None = None


class _Clock:
    """Day offsets before `today` as HubSpot date and UTC datetime strings, cached per day (it is the hot path)."""

    def __init__(self, today: date) -> None:
        self.today = today
        self._days: dict[int, tuple[str, int]] = {}
        self._today_weekday = today.weekday()

    def _day(self, offset: int) -> tuple[str, int]:
        cached = self._days.get(offset)
        if cached is None:
            day = self.today - timedelta(days=offset)
            noon = datetime(day.year, day.month, day.day, 12, tzinfo=ROME)
            utc_offset = noon.utcoffset()
            assert utc_offset is not None
            cached = (day.isoformat(), int(utc_offset.total_seconds()))
            self._days[offset] = cached
        return cached

    def date(self, offset: int) -> str:
        return self._day(offset)[0]

    def stamp(self, offset: int, local_seconds: int) -> str:
        """`offset` days before today at `local_seconds` after midnight in Rome (7:00-20:00), in UTC."""
        day, utc_offset = self._days.get(offset) or self._day(offset)
        hours, rest = divmod(local_seconds - utc_offset, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{day}T{hours:02d}:{minutes:02d}:{seconds:02d}.000Z"

    def weekday(self, offset: int) -> int:
        return (self._today_weekday - offset) % 7


def business_seconds(rng: random.Random) -> int:
    """A moment of the working day in Rome, 8:30 to 18:30, as seconds after midnight."""
    return 30600 + int(rng.random() * 36000)


def _lognormal(rng: random.Random, mu: float, sigma: float) -> float:
    # Box-Muller (random.gauss) is about twice as fast as lognormvariate's rejection loop
    return math.exp(rng.gauss(mu, sigma))


def money(value: float) -> str:
    """An EUR amount as HubSpot carries a number: "1234.5", "80", never an exponent."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


class _Weighted(Generic[T]):
    """A weighted choice, with the cumulative weights computed once (random.choices redoes them every call)."""

    def __init__(self, weights: Mapping[T, float]) -> None:
        self.population = list(weights)
        self.cumulative = list(itertools.accumulate(weights.values()))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.population[bisect.bisect(self.cumulative, rng.random() * self.total)]


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


_SEGMENTS = _Weighted(SEGMENT_WEIGHTS)
_CATEGORIES = _Weighted(CATEGORY_WEIGHTS)
_DP_LEVELS = _Weighted(DP_WEIGHTS)
_LEGAL_BASES = _Weighted(LEGAL_BASIS_WEIGHTS)
_CONTACTS_PER_COMPANY = _Weighted({1: 50, 2: 35, 3: 15})
_SLUGS = {name: _ascii_slug(name) for name in (*_FIRST_NAMES, *_LAST_NAMES)}


class _Builder:
    def __init__(self, companies: int, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.count = companies
        self.clock = _Clock(today)
        self.objects: dict[str, list[dict[str, Any]]] = {t: [] for t in schema.OBJECT_TYPES}
        self.associations: list[tuple[str, str, str, str]] = []
        self.profiles: dict[str, BuyerProfile] = {}
        self._next_id = dict(ID_BASES)
        self._domains: set[str] = set()
        self._provinces = _Weighted({code: PROVINCE_WEIGHTS.get(code, 1.0) for code, _ in schema.PROVINCES})
        self._cities = dict(schema.PROVINCES)

    # --- plumbing ------------------------------------------------------------------------------------------

    def new(self, object_type: str, properties: dict[str, str], created: str, modified: str | None = None) -> str:
        object_id = str(self._next_id[object_type])
        self._next_id[object_type] += 1
        properties["createdate"] = created
        properties["hs_lastmodifieddate"] = modified or created
        properties["hs_object_id"] = object_id
        self.objects[object_type].append({"id": object_id, "properties": properties})
        return object_id

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.associations.append((from_type, from_id, to_type, to_id))

    def weekday_offset(self, low: int, high: int) -> int:
        """A day offset in [low, high] that falls Monday to Friday (B2B customers order on working days)."""
        rng = self.rng
        for _ in range(20):
            offset = rng.randint(low, high)
            if self.clock.weekday(offset) < 5:
                return offset
        return offset

    def to_working_day(self, offset: int) -> int:
        """Weekend order dates move back to the Friday before, or on to Monday at the five-year edge."""
        weekday = self.clock.weekday(offset)
        if weekday < 5:
            return offset
        back = offset + (weekday - 4)
        return back if back <= HISTORY_DAYS else offset - (7 - weekday)

    # --- the portal ---------------------------------------------------------------------------------------

    def build(self) -> GeneratedPortal:
        for _ in range(self.count):
            segment = _SEGMENTS.pick(self.rng)
            self.company(segment)
        return GeneratedPortal(self.objects, self.associations, self.profiles, self.clock.today)

    def company(self, segment: str) -> None:
        rng, clock = self.rng, self.clock
        category = _CATEGORIES.pick(rng)
        name, domain = self.company_name(category)
        owner_id = rng.choice(schema.SALES_REP_IDS)
        province = self._provinces.pick(rng)
        high_value_quiet = segment in ("lukewarm", "cold") and rng.random() < HIGH_VALUE_QUIET_SHARE

        # the order history is drawn first: the company's creation date and profile depend on it
        interval = self.buying_interval(high_value_quiet)
        orders = self.order_offsets(segment, high_value_quiet, interval)
        first_order = max(orders) if orders else None
        created_offset = (first_order or rng.randint(30, 900)) + rng.randint(0, 400)

        properties = {
            "name": name,
            "domain": domain,
            "city": self._cities[province],
            "province": province,
            "customer_category": category,
            "dp_level": self.dp_level(segment),
            "available_credit": self.available_credit(),
            "cashback_available": self.cashback(segment),
            "ecommerce_account_status": "suspended" if rng.random() < 0.05 else "active",
            "hubspot_owner_id": owner_id,
        }
        if rng.random() < 0.9:
            properties["phone"] = self.phone()
        if rng.random() < 0.03:  # data the Wake Up checklist asks the assistant to complete
            del properties["province"]
        created = clock.stamp(created_offset, business_seconds(rng))
        modified = clock.stamp(rng.randint(1, min(created_offset, 120)), business_seconds(rng))
        company_id = self.new("companies", properties, created, modified)

        mailboxes: set[str] = set()  # a domain is unique to its company, so unique mailboxes give unique emails
        contact_ids = [
            self.contact(company_id, name, domain, owner_id, created_offset, mailboxes)
            for _ in range(_CONTACTS_PER_COMPANY.pick(rng))
        ]
        primary = contact_ids[0]

        scale = self.amount_scale(category, high_value_quiet)
        ecommerce_share = 0.1 if category == "public_administration" else rng.choice((0.9, 0.9, 0.9, 0.5, 0.5, 0.1))
        amounts = self.order_amounts(orders, scale, high_value_quiet)
        for offset, amount in zip(orders, amounts, strict=True):
            self.order(company_id, name, owner_id, primary, offset, amount, ecommerce_share)
        self.other_deals(company_id, name, owner_id, primary, segment, category, scale)
        self.activity(company_id, owner_id, primary, segment, scale)

        self.profiles[company_id] = BuyerProfile(
            company_id=company_id,
            name=name,
            owner_id=owner_id,
            primary_contact_id=primary,
            interval_days=interval,
            amount_scale=scale,
            ecommerce_share=ecommerce_share,
            last_order=clock.today - timedelta(days=orders[0]) if orders else None,
        )

    def company_name(self, category: str) -> tuple[str, str]:
        rng = self.rng
        surname = _DISPLAY_SURNAME.get(last := rng.choice(_LAST_NAMES), last)
        if category == "public_administration":
            city = rng.choice(schema.PROVINCES)[1]
            kind = rng.choice(("Comune di", "Istituto Comprensivo di", "ASL di", "Provincia di", "Università di"))
            name = f"{kind} {city}"
        elif category == "end_user":
            kind = rng.choice(("Studio Legale", "Studio Commerciale", "Farmacia", "Hotel", "Autofficina"))
            name = f"{kind} {surname}"
        else:
            word = rng.choice(_BUSINESS_WORDS)
            name = f"{word} {surname} {rng.choice(_COMPANY_FORMS)}"
        slug = _ascii_slug(name.split(" S.")[0])[:24]
        domain = f"{slug}.it"
        serial = 2
        while domain in self._domains:
            domain = f"{slug}{serial}.it"
            serial += 1
        self._domains.add(domain)
        return name, domain

    def phone(self) -> str:
        rng = self.rng
        return f"+39 0{rng.randint(10, 99)} {rng.randint(100000, 9999999)}"

    def dp_level(self, segment: str) -> str:
        if segment in ("never", "lost"):
            return "none"
        return _DP_LEVELS.pick(self.rng)

    def available_credit(self) -> str:
        rng = self.rng
        if rng.random() < 0.4:
            return "0"
        line = rng.choice((1000, 2500, 5000, 10000, 25000, 50000))
        return money(line * rng.uniform(0.05, 1.0))

    def cashback(self, segment: str) -> str:
        rng = self.rng
        if segment in ("never", "lost") or rng.random() < 0.6:
            return "0"
        return money(_lognormal(rng, 4.2, 0.9))

    # --- orders -------------------------------------------------------------------------------------------

    def buying_interval(self, high_value_quiet: bool) -> float:
        """Typical days between two orders: median about five months, from a week to two years."""
        rng = self.rng
        interval = min(max(_lognormal(rng, 5.1, 0.9), 7.0), 720.0)
        if high_value_quiet:  # they bought often in their last year, which is what makes them valuable
            interval = min(interval, rng.uniform(20, 60))
        return interval

    def order_offsets(self, segment: str, high_value_quiet: bool, interval: float) -> list[int]:
        """Days before today of each order, latest first."""
        rng = self.rng
        if segment == "never":
            return []
        low, high = HIGH_VALUE_QUIET_DAYS if high_value_quiet else SEGMENT_DAYS[segment]
        if high_value_quiet:
            low = max(low, SEGMENT_DAYS[segment][0])
            high = min(high, SEGMENT_DAYS[segment][1])
        last = self.weekday_offset(low, high)
        # the first order: a customer since before the five-year window, or one that joined within it
        first = HISTORY_DAYS if rng.random() < 0.35 else rng.randint(last, HISTORY_DAYS)
        offsets = [last]
        offset = last
        while True:
            offset += max(1, round(interval * _lognormal(rng, 0, 0.45)))
            if offset > first:
                break
            offsets.append(self.to_working_day(offset))
        return offsets

    def amount_scale(self, category: str, high_value_quiet: bool) -> float:
        rng = self.rng
        scale = 170.0 * _lognormal(rng, 0, 0.9)
        if rng.random() < 0.02:  # a few large accounts
            scale *= 8
        if category == "public_administration":
            scale *= 2.5  # fewer, larger tenders
        if high_value_quiet:
            scale = max(scale, rng.uniform(900, 3000))
        return scale

    def order_amounts(self, offsets: list[int], scale: float, high_value_quiet: bool) -> list[float]:
        rng = self.rng
        amounts = [max(9.9, scale * _lognormal(rng, 0, 0.6)) for _ in offsets]
        if high_value_quiet:
            in_window = [i for i, offset in enumerate(offsets) if offset < 365]
            revenue = sum(amounts[i] for i in in_window)
            target = HIGH_VALUE_MIN_R12 * rng.uniform(1.0, 3.0)
            if revenue < target:
                for i in in_window:
                    amounts[i] *= target / revenue
        return amounts

    def order(
        self,
        company_id: str,
        company_name: str,
        owner_id: str,
        contact_id: str,
        offset: int,
        amount: float,
        ecommerce_share: float,
    ) -> None:
        rng, clock = self.rng, self.clock
        closed = clock.stamp(offset, business_seconds(rng))
        serial = self._next_id["deals"] - ID_BASES["deals"] + 1
        if rng.random() < ecommerce_share:
            properties = {
                "dealname": f"Ordine web W{clock.date(offset)[:4]}-{serial:06d}",
                "pipeline": schema.ECOMMERCE_PIPELINE_ID,
                "dealstage": schema.ECOMMERCE_STAGE_WON_ID,
            }
            created = closed
        else:
            properties = {
                "dealname": f"{company_name} - Offerta {clock.date(offset)[2:4]}/{serial}",
                "pipeline": schema.SALES_PIPELINE_ID,
                "dealstage": schema.SALES_STAGE_WON_ID,
            }
            amount *= 1.8  # quotes handled by a rep are larger than web orders
            created = clock.stamp(offset + 2 + int(rng.random() * 39), business_seconds(rng))
        properties["amount"] = money(amount)
        properties["closedate"] = closed
        properties["hubspot_owner_id"] = owner_id
        properties["deal_currency_code"] = "EUR"
        deal_id = self.new("deals", properties, created, closed)
        self.link("deals", deal_id, "companies", company_id)
        if rng.random() < 0.85:
            self.link("deals", deal_id, "contacts", contact_id)

    def other_deals(
        self,
        company_id: str,
        company_name: str,
        owner_id: str,
        contact_id: str,
        segment: str,
        category: str,
        scale: float,
    ) -> None:
        """Lost deals, open deals in the order pipelines and, for some cold customers, a Wake Up deal."""
        rng, clock = self.rng, self.clock
        if segment != "never" and rng.random() < 0.2:
            offset = self.weekday_offset(1, HISTORY_DAYS)
            ecommerce = rng.random() < 0.5
            closed = clock.stamp(offset, business_seconds(rng))
            deal_id = self.new(
                "deals",
                {
                    "dealname": f"{company_name} - Offerta persa {clock.date(offset)[2:4]}",
                    "amount": money(scale * _lognormal(rng, 0.5, 0.6)),
                    "closedate": closed,
                    "pipeline": schema.ECOMMERCE_PIPELINE_ID if ecommerce else schema.SALES_PIPELINE_ID,
                    "dealstage": schema.ECOMMERCE_STAGE_LOST_ID if ecommerce else schema.SALES_STAGE_LOST_ID,
                    "hubspot_owner_id": owner_id,
                    "deal_currency_code": "EUR",
                },
                clock.stamp(offset + rng.randint(1, 30), business_seconds(rng)),
                closed,
            )
            self.link("deals", deal_id, "companies", company_id)
        open_chance = {"active": 0.10, "lukewarm": 0.06, "cold": 0.04}.get(segment, 0.01)
        if rng.random() < open_chance:
            ecommerce = rng.random() < 0.3
            created_offset = rng.randint(1, 5 if ecommerce else 45)
            deal_id = self.new(
                "deals",
                {
                    "dealname": f"{company_name} - Offerta {clock.date(0)[2:4]} in corso",
                    "amount": money(scale * _lognormal(rng, 0.6, 0.6)),
                    "closedate": clock.stamp(-rng.randint(3, 60), business_seconds(rng)),
                    "pipeline": schema.ECOMMERCE_PIPELINE_ID if ecommerce else schema.SALES_PIPELINE_ID,
                    "dealstage": rng.choice(
                        schema.ECOMMERCE_STAGE_OPEN_IDS if ecommerce else schema.SALES_STAGE_OPEN_IDS
                    ),
                    "hubspot_owner_id": owner_id,
                    "deal_currency_code": "EUR",
                },
                clock.stamp(created_offset, business_seconds(rng)),
            )
            self.link("deals", deal_id, "companies", company_id)
            self.link("deals", deal_id, "contacts", contact_id)
        if segment == "cold" and category not in ("public_administration", "end_user") and rng.random() < 0.03:
            self.wakeup_deal(company_id, company_name, contact_id)

    def wakeup_deal(self, company_id: str, company_name: str, contact_id: str) -> None:
        """A deal the sales assistant opened by hand before Flywheel ran (so it has no flywheel_key)."""
        rng, clock = self.rng, self.clock
        stage = rng.choices(
            (
                schema.WAKEUP_STAGE_NEW_ID,
                schema.WAKEUP_STAGE_CONTACTED_ID,
                schema.WAKEUP_STAGE_INTERESTED_ID,
                schema.WAKEUP_STAGE_APPOINTMENT_ID,
                schema.WAKEUP_STAGE_LOST_ID,
            ),
            (40, 25, 15, 10, 10),
        )[0]
        created_offset = rng.randint(1, 40)
        properties = {
            "dealname": f"Wake Up - {company_name}",
            "pipeline": schema.WAKEUP_PIPELINE_ID,
            "dealstage": stage,
            "hubspot_owner_id": schema.SALES_ASSISTANT_ID,
            "description": "Cliente inattivo da ricontattare.",
            "closedate": clock.stamp(-rng.randint(10, 60), business_seconds(rng)),
        }
        if stage == schema.WAKEUP_STAGE_APPOINTMENT_ID:
            properties["wakeup_appointment_at"] = clock.stamp(-rng.randint(1, 14), business_seconds(rng))
            properties["wakeup_appointment_kind"] = rng.choice(("teams_call", "visit"))
            properties["wakeup_notes"] = rng.choice(
                (
                    "Interessato al rinnovo del parco notebook.",
                    "Chiede un'offerta per server e NAS.",
                    "Vuole rivedere le condizioni di fido.",
                    "Da presentare le novità del programma D&P.",
                )
            )
        created = clock.stamp(created_offset, business_seconds(rng))
        modified = clock.stamp(rng.randint(1, created_offset), business_seconds(rng))
        deal_id = self.new("deals", properties, created, modified)
        self.link("deals", deal_id, "companies", company_id)
        self.link("deals", deal_id, "contacts", contact_id)

    # --- people and activity ------------------------------------------------------------------------------

    def contact(
        self,
        company_id: str,
        company_name: str,
        domain: str,
        owner_id: str,
        created_offset: int,
        mailboxes: set[str],
    ) -> str:
        rng, clock = self.rng, self.clock
        first = rng.choice(_FIRST_NAMES)
        last = rng.choice(_LAST_NAMES)
        mailbox = f"{_SLUGS[first]}.{_SLUGS[last]}"
        if mailbox in mailboxes:
            mailbox += str(len(mailboxes) + 1)
        mailboxes.add(mailbox)
        properties = {
            "firstname": first,
            "lastname": _DISPLAY_SURNAME.get(last, last),
            "jobtitle": rng.choice(_JOB_TITLES),
            "company": company_name,
            "hubspot_owner_id": owner_id,
            "hs_email_optout": "false",
        }
        consent = rng.random()
        if consent >= 0.04:  # 4% without an email address
            properties["email"] = f"{mailbox}@{domain}"
        if consent < 0.12 and consent >= 0.04:  # 8% opted out of every email
            properties["hs_email_optout"] = "true"
        if not (0.12 <= consent < 0.20):  # 8% without a legal basis for processing
            properties["hs_legal_basis"] = _LEGAL_BASES.pick(rng)
        if rng.random() < 0.7:
            properties["phone"] = f"+39 3{rng.randint(20, 99)} {rng.randint(1000000, 9999999)}"
        offset = max(1, created_offset - rng.randint(0, 200))
        contact_id = self.new("contacts", properties, clock.stamp(offset, business_seconds(rng)))
        self.link("contacts", contact_id, "companies", company_id)
        return contact_id

    def activity(self, company_id: str, owner_id: str, contact_id: str, segment: str, scale: float) -> None:
        """Engagements the reps logged, a few open tasks, and open carts on the e-commerce site."""
        rng, clock = self.rng, self.clock
        if rng.random() < 0.15:
            offset = rng.randint(1, 365)
            stamp = clock.stamp(offset, business_seconds(rng))
            note = {
                "hs_timestamp": stamp,
                "hubspot_owner_id": owner_id,
                "hs_note_body": rng.choice(
                    (
                        "Cliente soddisfatto delle ultime consegne.",
                        "Chiesto listino aggiornato per fine trimestre.",
                        "Segnalato ritardo su una spedizione, risolto.",
                    )
                ),
            }
            self.link("notes", self.new("notes", note, stamp), "companies", company_id)
        if rng.random() < 0.2:
            offset = rng.randint(1, 365)
            stamp = clock.stamp(offset, business_seconds(rng))
            call = {
                "hs_timestamp": stamp,
                "hubspot_owner_id": owner_id,
                "hs_call_title": "Chiamata di aggiornamento",
                "hs_call_body": "Sentito il referente per le prossime esigenze.",
                "hs_call_direction": rng.choice(("OUTBOUND", "OUTBOUND", "INBOUND")),
                "hs_call_duration": str(rng.randint(60, 1200) * 1000),
                "hs_call_status": "COMPLETED",
            }
            call_id = self.new("calls", call, stamp)
            self.link("calls", call_id, "companies", company_id)
            self.link("calls", call_id, "contacts", contact_id)
        if rng.random() < 0.08:
            offset = rng.randint(1, 365)
            stamp = clock.stamp(offset, business_seconds(rng))
            email = {
                "hs_timestamp": stamp,
                "hubspot_owner_id": owner_id,
                "hs_email_subject": "Offerta riservata",
                "hs_email_text": "Buongiorno, le invio l'offerta di cui abbiamo parlato.",
                "hs_email_direction": "EMAIL",
                "hs_email_status": "SENT",
            }
            self.link("emails", self.new("emails", email, stamp), "companies", company_id)
        if rng.random() < 0.04:
            offset = rng.randint(1, 365)
            start = business_seconds(rng) // 1800 * 1800
            meeting = {
                "hs_timestamp": clock.stamp(offset, start),
                "hubspot_owner_id": owner_id,
                "hs_meeting_title": "Visita presso il cliente",
                "hs_meeting_body": "Presentazione delle novità a catalogo.",
                "hs_meeting_start_time": clock.stamp(offset, start),
                "hs_meeting_end_time": clock.stamp(offset, start + 3600),
                "hs_meeting_outcome": "COMPLETED",
            }
            meeting_id = self.new("meetings", meeting, clock.stamp(offset + 7, start))
            self.link("meetings", meeting_id, "companies", company_id)
        if rng.random() < 0.08:
            self.task(company_id, owner_id)
        if segment in ("active", "lukewarm") and rng.random() < 0.05:
            self.cart(company_id, owner_id, contact_id, scale)

    def task(self, company_id: str, owner_id: str) -> None:
        rng, clock = self.rng, self.clock
        created_offset = rng.randint(1, 60)
        done = rng.random() < 0.5
        properties = {
            "hs_task_subject": rng.choice(("Richiamare il cliente", "Inviare listino", "Verificare pagamento")),
            "hs_task_body": "Attività inserita dal commerciale.",
            "hs_task_status": "COMPLETED" if done else "NOT_STARTED",
            "hs_task_priority": rng.choice(("LOW", "MEDIUM", "HIGH")),
            "hs_task_type": rng.choice(("CALL", "EMAIL", "TODO")),
            "hs_timestamp": clock.stamp(created_offset - rng.randint(1, 14), business_seconds(rng)),
            "hubspot_owner_id": owner_id,
        }
        created = clock.stamp(created_offset, business_seconds(rng))
        modified = created
        if done:
            modified = properties["hs_task_completion_date"] = clock.stamp(
                rng.randint(1, created_offset), business_seconds(rng)
            )
        task_id = self.new("tasks", properties, created, modified)
        self.link("tasks", task_id, "companies", company_id)

    def cart(self, company_id: str, owner_id: str, contact_id: str, scale: float) -> None:
        """An open cart on the e-commerce site, left some hours or days ago; a few are worth over 2,000 EUR."""
        rng, clock = self.rng, self.clock
        offset = rng.randint(1, 6)
        seconds = business_seconds(rng)
        created = clock.stamp(offset, seconds)
        modified = clock.stamp(offset, min(seconds + rng.randint(60, 3600), 20 * 3600 - 1))
        line_ids: list[str] = []
        total = 0.0
        for _ in range(rng.choices((1, 2, 3, 4, 5), (35, 30, 20, 10, 5))[0]):
            sku, product, list_price = rng.choice(PRODUCTS)
            quantity = rng.choices((1, 2, 3, 5, 10), (50, 20, 12, 10, 8))[0]
            price = round(list_price * rng.uniform(0.85, 1.0), 2)
            total += quantity * price
            line = {
                "name": product,
                "hs_sku": sku,
                "quantity": str(quantity),
                "price": money(price),
                "amount": money(quantity * price),
            }
            line_ids.append(self.new("line_items", line, created, modified))
        external_id = f"C{self._next_id['carts'] - ID_BASES['carts'] + 100001}"
        cart = {
            "hs_cart_name": f"Carrello {external_id}",
            "hs_external_cart_id": external_id,
            "hs_source_store": "shop.sicomputer.it",
            "hs_total_price": money(total),
            "hs_currency_code": "EUR",
            "hs_cart_discount": "0",
            "hs_cart_url": f"{SHOP_URL}/carrello/{external_id}",
            "hs_external_status": "open",
            "hubspot_owner_id": owner_id,
        }
        cart_id = self.new("carts", cart, created, modified)
        self.link("carts", cart_id, "companies", company_id)
        self.link("carts", cart_id, "contacts", contact_id)
        for line_id in line_ids:
            self.link("line_items", line_id, "carts", cart_id)


def generate_portal(companies: int, seed: int, today: date) -> GeneratedPortal:
    """SiComputer's portal with `companies` companies and everything hanging off them, the same for a seed.

    Every date lies before `today`, except what is naturally ahead: open deals' expected close dates, due dates
    of open tasks and appointments booked in the Wake Up pipeline.
    """
    if companies < 0:
        raise ValueError("the number of companies cannot be negative")
    # hundreds of thousands of small dicts and no reference cycles: the cyclic collector would only rescan
    # the growing heap again and again (a third of the time), so it waits until the portal is built
    collecting = gc.isenabled()
    gc.disable()
    try:
        portal = _Builder(companies, seed, today).build()
    finally:
        if collecting:
            gc.enable()
    portal.seed = seed
    return portal
