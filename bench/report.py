"""The report: HubSpot calls against their lower bound on a sandbox portal, and peak memory on a synthetic one.

- calls: a sandbox portal (in-process SandboxServer, rate limit off, the real hubspot-api-client through the
  counting adapter) of 20,000 companies; every order of the products period (the last 90 days) gets 1 to 3 line
  items straight in the portal's store (not API calls), and the state store holds a touch for a tenth of the
  companies. One report of every company is built and its calls counted by kind.
- lower bound: what any reading of the report's data must cost. The companies and every deal with its company
  (an order's company is only known from its association, which search does not return) at 100 a list page, the
  period's line items at 100 a batch read, and the portal schema (deal pipelines, owners: 2 calls):
      bound = 2 + ceil(companies/100) + ceil(deals/100) + ceil(line items/100)
  The report also reads the line-item ids of the period's orders by the associations batch read
  (ceil(period orders/100) calls): that term is above the bound and is what the ratio measures.
- memory: a report of every company of the synthetic portal (bench.synthetic, ~8 deals a company) in a fresh
  process, JSON serialised and the HTML page rendered as the endpoint does; the figure is the process's peak
  resident set (VmHWM), as bench.memory measures it.

    .venv/bin/python -m bench --only report [--report-companies 20000] [--report-memory-companies 100000]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import DAY

TARGET_RATIO = 1.1
MEMORY_LIMIT_MB = 512
LINE_ITEM_PRODUCTS = ("Notebook 14", "Monitor 27", "Switch 24 porte", "SSD 1 TB", "Stampante laser")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("report")
    group.add_argument("--report-companies", type=int, default=20_000, help="companies of the report's sandbox")
    group.add_argument("--report-memory-companies", type=int, nargs="*", default=[100_000])


def _period_orders(server: Any, day: date) -> list[str]:
    """Ids of the orders closed in the 90 days up to `day` (the products period), from the store itself."""
    from flywheel.config import Settings

    contract = Settings().portal
    pipelines = [p for p in server.store.pipelines("deals") if p["label"] in contract.order_pipelines]
    won = {
        (p["id"], s["id"])
        for p in pipelines
        for s in p["stages"]
        if s["metadata"]["isClosed"] == "true" and float(s["metadata"]["probability"]) >= 1.0
    }
    first = day - timedelta(days=89)
    found = []
    for record in server.store.all_records("deals"):
        props = record.properties
        closed = (props.get("closedate") or "")[:10]
        if (props.get("pipeline"), props.get("dealstage")) in won and closed and first.isoformat() <= closed:
            found.append(record.id)
    return found


def _seed_portal(server: Any, day: date, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    orders = _period_orders(server, day)
    lines = 0
    for deal_id in orders:
        for _ in range(rng.randint(1, 3)):
            properties = {"name": rng.choice(LINE_ITEM_PRODUCTS), "quantity": str(rng.randint(1, 5)), "price": "99.90"}
            server.store.create_object("line_items", properties, [("deals", deal_id)])
            lines += 1
    return {"period_orders": len(orders), "line_items": lines}


def _calls(companies: int, day: date, seed: int) -> dict[str, Any]:
    from bench.counting import CountingCrm
    from flywheel.adapters.sqlite import SqliteStateStore
    from flywheel.clock import FixedClock
    from flywheel.config import Settings
    from flywheel.services.context import Ports
    from flywheel.services.report import build_report, touches
    from sandbox.server import SandboxServer

    now = datetime.combine(day, clock_time(7, 0), ZoneInfo("Europe/Rome"))
    server = SandboxServer(host="127.0.0.1", port=0, companies=companies, seed=seed, rate_limit=0, now=now).start()
    try:
        seeded = _seed_portal(server, day, seed)
        counts = server.store.counts()
        company_ids = [record.id for record in server.store.all_records("companies")]
        crm = CountingCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=0)
        with tempfile.TemporaryDirectory() as folder:
            state = SqliteStateStore(str(Path(folder) / "state.db"))
            rng = random.Random(seed)
            flows = ("nurture", "riattivazione", "cashback", "dp", "cart", "wakeup", "recontact")
            documents = {
                f"bench:{company_id}": {
                    "company_id": company_id,
                    "flow": rng.choice(flows),
                    "day": (day - timedelta(days=rng.randint(0, 300))).isoformat(),
                }
                for company_id in rng.sample(company_ids, len(company_ids) // 10)
            }
            state.put_documents(touches.COLLECTION, documents)
            ports = Ports(crm=crm, state=state, mailer=object(), clock=FixedClock(now), settings=Settings())  # type: ignore[arg-type]
            started = time.perf_counter()
            report = build_report(ports, day)
            wall = time.perf_counter() - started
    finally:
        server.stop()
    bound_terms = {
        "schema": 2,
        "company pages": math.ceil(counts["companies"] / 100),
        "deal pages": math.ceil(counts["deals"] / 100),
        "line-item reads": math.ceil(seeded["line_items"] / 100),
    }
    return {
        "companies": counts["companies"],
        "deals": counts["deals"],
        **seeded,
        "calls": crm.calls_made,
        "by_kind": dict(sorted(crm.by_kind.items())),
        "bound_terms": bound_terms,
        "bound": sum(bound_terms.values()),
        "wall_seconds": round(wall, 1),
        "products_sold": len(report["products_sold"]),
        "attributed_orders": round(sum(f["linear"]["orders"] for f in report["attribution"]["flows"].values()), 2),
    }


def _memory(companies: int, day: date) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.report", "--companies", str(companies), "--day", day.isoformat()]
    answer = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(answer.stdout.strip().splitlines()[-1]))


def run(args: argparse.Namespace) -> str:
    day = getattr(args, "day", DAY)
    seed = getattr(args, "seed", 1)
    figures = _calls(args.report_companies, day, seed)
    ratio = figures["calls"] / figures["bound"]
    terms = " + ".join(f"{n} {name}" for name, n in figures["bound_terms"].items())
    lines = [
        "## report",
        "",
        f"Sandbox portal of {figures['companies']:,} companies and {figures['deals']:,} deals (seed {seed}, as_of "
        f"{day}), rate limit off; {figures['line_items']:,} line items on the {figures['period_orders']:,} orders "
        "of the products period (90 days); a touch for a tenth of the companies in a SQLite state store.",
        "",
        "| report | calls (adapter) | lower bound | ratio | wall s | products sold | attributed orders (linear) |",
        "|---|---|---|---|---|---|---|",
        f"| every company | {figures['calls']} | {figures['bound']} | {ratio:.3f} | {figures['wall_seconds']} | "
        f"{figures['products_sold']:,} | {figures['attributed_orders']} |",
        "",
        f"- lower bound: {terms} = {figures['bound']}; target within {TARGET_RATIO}x: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}",
        f"- batch calls by kind (the rest are the list pages and the schema): `{json.dumps(figures['by_kind'])}`",
        "",
        "Peak memory of a report of every company (synthetic portal, fresh process, `python -m bench.report`):",
        "",
        "| companies | deals | wall s | JSON MB | page MB | peak MB, report + JSON | peak MB, + page | under 512 MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for companies in args.report_memory_companies:
        m = _memory(companies, day)
        lines.append(
            f"| {m['companies']:,} | {m['deals']:,} | {m['wall_seconds']} | {m['json_mb']} | {m['page_mb']} | "
            f"{m['peak_after_report_mb']} | {m['peak_resident_mb']} | "
            f"{'yes' if m['peak_resident_mb'] < MEMORY_LIMIT_MB else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> int:
    """The memory child: one report of the synthetic portal in this fresh process; prints its figures as JSON."""
    from bench.memory import peak_resident_mb
    from bench.synthetic import SyntheticCrm
    from flywheel.adapters.memory import MemoryStateStore
    from flywheel.clock import FixedClock
    from flywheel.config import Settings
    from flywheel.services.context import Ports
    from flywheel.services.report import build_report

    parser = argparse.ArgumentParser()
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--day", type=date.fromisoformat, default=DAY)
    args = parser.parse_args()
    crm = SyntheticCrm(args.companies, args.day)
    ports = Ports(
        crm=crm, state=MemoryStateStore(), mailer=object(), clock=FixedClock.on(args.day), settings=Settings()
    )  # type: ignore[arg-type]
    started = time.perf_counter()
    report = build_report(ports, args.day)
    # the endpoint answers either the JSON or the page: never both held at once
    json_mb = round(len(json.dumps(report, ensure_ascii=False).encode()) / 2**20, 1)
    report_mb = peak_resident_mb()
    try:
        from flywheel.report_page import render_page

        page_mb: float | None = round(len(render_page(report).encode()) / 2**20, 1)
    except ImportError:
        page_mb = None
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "companies": args.companies,
                "deals": crm.deals,
                "wall_seconds": round(wall, 1),
                "json_mb": json_mb,
                "peak_after_report_mb": report_mb,
                "page_mb": page_mb,
                "peak_resident_mb": peak_resident_mb(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
