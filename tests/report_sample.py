"""A realistic report (the JSON of `flywheel report`) built from a synthetic order book, for tests of the page.

Everything derives from the orders generated here, with the report's own definitions, so the sample is coherent:
a company in `silent_30` really has its last order more than 30 days before as_of, the months' counts agree with
the companies' orders, province revenue is the sum of its companies'. Deterministic for a given `today` and seed;
no real date is read.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

OWNERS = (
    {"id": "101", "email": "giulia.bianchi@sicomputer.example", "name": "Giulia Bianchi"},
    {"id": "102", "email": "marco.rossi@sicomputer.example", "name": "Marco Rossi"},
    {"id": "103", "email": "chiara.esposito@sicomputer.example", "name": "Chiara Esposito"},
    {"id": "104", "email": "luca.ferrari@sicomputer.example", "name": "Luca Ferrari"},
)
COMPANY_NAMES = (
    "Rossi & Figli S.r.l.",
    "L'Informatica Lombarda S.p.A.",
    "Tecnoufficio Bergamo",
    "Studio Associato Conti",
    "Ferramenta Gallo",
    "Punto Rete Torino",
    "Omega Sistemi",
    "Centro Stampa Emiliano",
    "Digitalia Napoli",
    "Bianchi Costruzioni",
    "Farmacia San Marco",
    "Hotel Bellavista",
    "Comune di Cernusco",
    "Alfa Logistica",
    "Studio Dentistico Moretti",
    "Vetreria Muranese",
    "Officina Meccanica Greco",
    "Cartoleria Europa",
    "Nordest Data",
    "Agenzia Viaggi Sole",
    "Caseificio Val Padana",
    "Istituto Scolastico Manzoni",
    "Elettronica Fontana",
    "Gruppo Medico Galeno",
    "Trattoria da Gino",
    "Assicurazioni Marchetti",
    "Autoricambi Lazio",
    "Geometra Ricci",
    "Pasticceria Dolce Vita",
    "Ottica Visione",
    "Tipografia Leone",
    "Cantina dei Colli",
    "Studio Legale Fabbri",
    "Bioenergie Adriatiche",
    "Immobiliare Duomo",
    "Laboratorio Analisi Vega",
    "Mobilificio Brianza",
    "Consulenze Serra",
    "Sartoria Milanese",
    "Poliambulatorio Aurora",
)
PROVINCES = ("MI", "MI", "MI", "RM", "TO", "BO", "NA", "BG", "VE", "FI", "")
PRODUCTS = (
    ("Notebook Lenovo ThinkPad E14 Gen 6", 749.0),
    ('Monitor Dell 27" P2723D', 239.9),
    ("Toner HP 59A nero", 89.5),
    ("SSD Samsung 990 PRO 1 TB", 119.0),
    ("Switch Netgear GS308 8 porte", 24.9),
    ("Stampante Brother HL-L2350DW", 139.0),
    ("Licenza Microsoft 365 Business Standard (1 anno)", 148.8),
    ("Mouse Logitech MX Master 3S", 99.99),
    ("Access point Ubiquiti U6 Lite", 109.0),
    ("UPS APC Back-UPS 700VA", 129.0),
    ("Carta A4 Navigator 80 g (5 risme)", 27.5),
    ("Docking station HP USB-C G5", 189.0),
)
FLOWS = ("nurture", "riattivazione", "cashback", "dp", "cart", "wakeup", "recontact")
WAKEUP_STAGES = (
    ("wakeup_todo", "Da contattare"),
    ("wakeup_contacted", "Contattato"),
    ("wakeup_appointment", "Appuntamento fissato"),
    ("wakeup_reactivated", "Riattivato"),
    ("wakeup_lost", "Non interessato"),
)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _previous_month_start(day: date) -> date:
    return _month_start(_month_start(day) - timedelta(days=1))


def _month_end(first: date) -> date:
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def _money(value: float) -> float:
    return round(value + 0.0, 2)


def _active_at(orders: list[tuple[date, float]], day: date) -> bool:
    return any(day - timedelta(days=365) < when <= day for when, _ in orders)


def _segment(orders: list[tuple[date, float]], day: date) -> str | None:
    before = [when for when, _ in orders if when <= day]
    if not before:
        return None
    silent = (day - max(before)).days
    if silent < 60:
        return "attivo"
    if silent < 180:
        return "tiepido"
    if silent < 365:
        return "freddo"
    return "perso"


def report_sample(today: date, *, companies: int = 40, seed: int = 13) -> dict[str, Any]:
    """The report as of `today` for `companies` synthetic companies spread over four owners."""
    rng = random.Random(seed)
    as_of = today
    order_book: dict[str, list[tuple[date, float]]] = {}
    lines: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for index in range(companies):
        company_id = str(5001 + index)
        name = COMPANY_NAMES[index % len(COMPANY_NAMES)]
        if index >= len(COMPANY_NAMES):
            name = f"{name} {index // len(COMPANY_NAMES) + 1}"
        owner = OWNERS[index % len(OWNERS)]
        # a mix of steady buyers, lapsing ones and a few that have not bought in over a year
        silent_days = rng.choice((0, 2, 5, 9, 14, 21, 35, 48, 75, 110, 200, 260, 400))
        tenure_days = silent_days + rng.randint(60, 900)
        orders: list[tuple[date, float]] = []
        day = as_of - timedelta(days=tenure_days)
        last = as_of - timedelta(days=silent_days)
        while day <= last:
            orders.append((day, _money(rng.uniform(120, 4200))))
            day += timedelta(days=rng.randint(9, 75))
        if not orders or orders[-1][0] != last:
            orders.append((last, _money(rng.uniform(120, 4200))))
        order_book[company_id] = orders
        r12 = _money(sum(amount for when, amount in orders if as_of - timedelta(days=365) < when <= as_of))
        frequency = sum(1 for when, _ in orders if as_of - timedelta(days=365) < when <= as_of)
        sirank = round(r12 * (1 + 0.3 * min(frequency / 12, 1)) * (1 + 0.2 * min(tenure_days / 365 / 5, 1)))
        month_start = _month_start(as_of)
        rows.append(
            {
                "id": company_id,
                "name": name,
                "owner_id": owner["id"],
                "owner_email": owner["email"],
                "province": PROVINCES[index % len(PROVINCES)],
                "revenue_mtd": _money(sum(a for when, a in orders if month_start <= when <= as_of)),
                "revenue_prev_month": _money(
                    sum(a for when, a in orders if _previous_month_start(as_of) <= when < month_start)
                ),
                "revenue_ytd": _money(sum(a for when, a in orders if as_of.replace(month=1, day=1) <= when <= as_of)),
                "last_purchase_date": orders[-1][0].isoformat(),
                "available_credit": _money(rng.choice((0, 0, 0, 500, 1500, 3000, 7500)) * 1.0),
                "sirank": sirank,
                "r12": r12,
            }
        )
        for when, _amount in orders:
            if (as_of - when).days < 90:
                for _ in range(rng.randint(1, 3)):
                    product, price = rng.choice(PRODUCTS)
                    lines.append(
                        {
                            "product": product,
                            "quantity": rng.randint(1, 12),
                            "unit_price": price,
                            "company_id": company_id,
                            "company": name,
                            "owner_id": owner["id"],
                            "order_date": when.isoformat(),
                        }
                    )
    lines.sort(key=lambda line: (line["order_date"], line["company_id"], line["product"]), reverse=True)
    return {
        "as_of": as_of.isoformat(),
        "owner": None,
        "owners": [dict(owner) for owner in OWNERS],
        "kpis": {
            "active_customers": sum(1 for orders in order_book.values() if _active_at(orders, as_of)),
            "customer_equity_sirank": sum(row["sirank"] for row in rows),
            "customer_equity_r12": _money(sum(row["r12"] for row in rows)),
        },
        "months": _months(order_book, as_of),
        "companies": rows,
        "silent_30": [row["id"] for row in rows if (as_of - date.fromisoformat(row["last_purchase_date"])).days > 30],
        "credit_available": [row["id"] for row in rows if row["available_credit"] > 0],
        "revenue_by_province": _by_province(rows),
        "products_sold": lines,
        "products_period": {"from": (as_of - timedelta(days=89)).isoformat(), "to": as_of.isoformat()},
        "attribution": _attribution(rng),
        "nurture_funnel": {"step_1": 64, "step_2": 51, "step_3": 40, "step_4": 29, "step_5": 22, "converted": 17},
        "wakeup_pipeline": [
            {"stage_id": stage_id, "label": label, "deals": deals}
            for (stage_id, label), deals in zip(WAKEUP_STAGES, (38, 21, 9, 6, 11), strict=True)
        ],
    }


def _months(order_book: dict[str, list[tuple[date, float]]], as_of: date) -> list[dict[str, Any]]:
    firsts = [_month_start(as_of)]
    while len(firsts) < 12:
        firsts.insert(0, _previous_month_start(firsts[0]))
    months = []
    for first in firsts:
        end = min(_month_end(first), as_of)
        before = first - timedelta(days=1)
        start_set = {cid for cid, orders in order_book.items() if _active_at(orders, before)}
        end_set = {cid for cid, orders in order_book.items() if _active_at(orders, end)}
        split = {"new": 0.0, "reactivated": 0.0, "existing": 0.0}
        for orders in order_book.values():
            for position, (when, amount) in enumerate(orders):
                if not first <= when <= end:
                    continue
                if position == 0:
                    kind = "new"
                elif (when - orders[position - 1][0]).days > 180:
                    kind = "reactivated"
                else:
                    kind = "existing"
                split[kind] += amount
        segments = {"attivo": 0, "tiepido": 0, "freddo": 0, "perso": 0}
        for orders in order_book.values():
            segment = _segment(orders, end)
            if segment is not None:
                segments[segment] += 1
        start = len(start_set)
        retained = len(start_set & end_set)
        churned = len(start_set - end_set)
        months.append(
            {
                "month": first.strftime("%Y-%m"),
                "start_active": start,
                "end_active": len(end_set),
                "retained": retained,
                "churned": churned,
                "new": len(end_set - start_set),
                "retention_rate": round(retained / start, 4) if start else None,
                "churn_rate": round(churned / start, 4) if start else None,
                "revenue": _money(sum(split.values())),
                "revenue_new": _money(split["new"]),
                "revenue_reactivated": _money(split["reactivated"]),
                "revenue_existing": _money(split["existing"]),
                "segments": segments,
            }
        )
    return months


def _by_province(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: {"mtd": 0.0, "ytd": 0.0})
    for row in rows:
        province = row["province"] or "??"
        totals[province]["mtd"] += row["revenue_mtd"]
        totals[province]["ytd"] += row["revenue_ytd"]
    return {province: {k: _money(v) for k, v in values.items()} for province, values in sorted(totals.items())}


def _attribution(rng: random.Random) -> dict[str, Any]:
    flows: dict[str, Any] = {}
    for flow in FLOWS:
        orders = rng.randint(3, 40)
        revenue = _money(orders * rng.uniform(300, 1400))
        share = rng.uniform(0.55, 0.95)
        flows[flow] = {
            "last_interaction": {"orders": orders, "revenue": revenue},
            "linear": {"orders": round(orders * share, 2), "revenue": _money(revenue * share)},
        }
    return {"window_days": 30, "flows": flows}
