"""sirank_recalc on sandbox portals: HubSpot calls against their lower bound, wall time, memory.

Scenarios
- full: a fresh sandbox portal (in-process SandboxServer, rate limit off), the first full run on day D.
- incremental: the day after, with 1% of the orders changed in HubSpot (amounts edited in bulk, new orders,
  orders moved to closed-lost, orders deleted), one incremental run on D+1.
- rate limited: the same two runs on a smaller portal with the sandbox enforcing 190 calls / 10 s and the
  adapter limiting itself to the same; wall time against its floor (calls / 19 per second).
- memory: a full run over a synthetic portal in a fresh process (bench.memory), 20,000 and 100,000 companies.

Lower bounds (issue 3): full = ceil(companies/100) + ceil(orders/100) + ceil(changed/100);
incremental = ceil(modified/200) + ceil(changed/100), modified = deals and companies modified since the watermark.
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
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import SystemClock
from flywheel.config import Settings
from flywheel.domain.models import RunResult
from flywheel.services import sirank
from flywheel.services.context import Ports
from sandbox.server import SandboxServer

RATE_LIMIT = 190


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sirank")
    group.add_argument("--companies", type=int, default=20_000, help="companies of the main sandbox portal")
    group.add_argument("--rate-limited-companies", type=int, default=20_000, help="portal of the 190/10 s runs")
    group.add_argument("--memory-companies", type=int, nargs="*", default=[20_000, 100_000])
    group.add_argument("--changed-share", type=float, default=0.01, help="share of orders changed before D+1")
    group.add_argument("--seed", type=int, default=1)


@dataclass
class Measured:
    label: str
    result: RunResult
    wall: float
    calls: int
    sandbox_calls: int
    rate_limited: int
    lower_bound: int
    bound_terms: str


# Days pass in minutes here, so the watermark lookback (60 min by default, for HubSpot's search lag; the
# sandbox's lag is off in the bench) is cut to one minute, and the bench waits that long between runs:
# otherwise every run would re-read everything the previous runs wrote.
LOOKBACK_MINUTES = 1


def _settings() -> Settings:
    settings = Settings()
    settings.sirank.lookback_minutes = LOOKBACK_MINUTES
    return settings


def _ports(crm: HubSpotCrm, state: SqliteStateStore) -> Ports:
    return Ports(crm=crm, state=state, mailer=object(), clock=SystemClock(), settings=_settings())  # type: ignore[arg-type]


def _a_day_passes() -> None:
    time.sleep(LOOKBACK_MINUTES * 60 + 2)


def _timed_run(server: SandboxServer, crm: HubSpotCrm, state: SqliteStateStore, as_of: date, mode: str) -> Any:
    before = server.store.stats()
    calls_before = crm.calls_made
    started = time.perf_counter()
    result = sirank.run(sirank.Request(as_of=as_of, mode=mode), _ports(crm, state))  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    after = server.store.stats()
    by_endpoint = after["calls"]["by_endpoint"]
    previous = before["calls"]["by_endpoint"]
    endpoints = {k: v - previous.get(k, 0) for k, v in sorted(by_endpoint.items()) if v != previous.get(k, 0)}
    result.summary["sandbox_calls_by_endpoint"] = endpoints
    return (
        result,
        wall,
        crm.calls_made - calls_before,
        after["calls"]["total"] - before["calls"]["total"],
        after["rate_limited"] - before["rate_limited"],
    )


def _order_deals(server: SandboxServer, crm: HubSpotCrm) -> tuple[list[str], dict[str, str], str, str]:
    """Ids of the order deals (closed-won in an order pipeline) and, per deal, its pipeline; plus stage ids."""
    settings = Settings()
    pipelines = [p for p in crm.pipelines("deals") if p.label in settings.portal.order_pipelines]
    won = {s.id for p in pipelines for s in p.stages if s.is_won}
    orders: list[str] = []
    pipeline_of: dict[str, str] = {}
    with server.store._lock:  # a consistent read of the in-process portal, not an API call
        for record in server.store._records["deals"].values():
            if record.archived:
                continue
            if (
                record.properties.get("pipeline") in {p.id for p in pipelines}
                and record.properties.get("dealstage") in won
            ):
                orders.append(record.id)
                pipeline_of[record.id] = record.properties["pipeline"]
    main = pipelines[0]
    lost = next(s.id for s in main.stages if s.is_closed and not s.is_won)
    won_main = next(s.id for s in main.stages if s.is_won)
    return orders, pipeline_of, lost, won_main


def _change_orders(server: SandboxServer, crm: HubSpotCrm, share: float, day: date, seed: int) -> dict[str, int]:
    """Change `share` of the orders as HubSpot users and integrations would, straight in the portal's store."""
    orders, _pipeline_of, lost, won = _order_deals(server, crm)
    rng = random.Random(seed)
    picked = rng.sample(orders, max(1, round(len(orders) * share)))
    quarter = len(picked) // 4
    edited, moved, deleted, renewed = (
        picked[:quarter],
        picked[quarter : 2 * quarter],
        picked[2 * quarter : 3 * quarter],
        picked[3 * quarter :],
    )
    store = server.store
    for start in range(0, len(edited), 100):  # bulk edits: 100 deals under (nearly) one timestamp
        batch = edited[start : start + 100]
        store.update_many("deals", [{"id": d, "properties": {"amount": str(rng.randint(50, 9000))}} for d in batch])
    for deal in moved:
        store.update_object("deals", deal, {"dealstage": lost})
    for deal in deleted:
        store.archive_object("deals", deal)
    companies = [c for c in store._records["companies"] if not store._records["companies"][c].archived]
    for _ in renewed:  # new orders of the day
        store.create_object(
            "deals",
            {
                "dealname": "Ordine",
                "pipeline": "default",
                "dealstage": won,
                "amount": str(rng.randint(50, 9000)),
                "closedate": f"{day.isoformat()}T09:00:00.000Z",
            },
            [("companies", rng.choice(companies))],
        )
    return {"amount_edited": len(edited), "moved_to_lost": len(moved), "deleted": len(deleted), "new": len(renewed)}


def _measure(
    label: str, server: SandboxServer, crm: HubSpotCrm, state: SqliteStateStore, as_of: date, mode: str, orders: int
) -> Measured:
    result, wall, calls, sandbox_calls, limited = _timed_run(server, crm, state, as_of, mode)
    changed = result.summary["companies_changed"]
    if mode == "full":
        companies = result.summary["companies_scored"]
        bound = math.ceil(companies / 100) + math.ceil(orders / 100) + math.ceil(changed / 100)
        terms = f"ceil({companies}/100) + ceil({orders} orders/100) + ceil({changed} changed/100)"
    else:
        modified = result.summary.get("deals_modified", 0) + result.summary.get("companies_modified", 0)
        bound = math.ceil(modified / 200) + math.ceil(changed / 100)
        terms = f"ceil({modified} modified/200) + ceil({changed} changed/100)"
    return Measured(label, result, wall, calls, sandbox_calls, limited, bound, terms)


def _main_portal(args: argparse.Namespace, rate_limit: int, companies: int) -> list[Measured]:
    """Day D: the first full run (every value written); D+1: the daily incremental; D+2: the weekly full run
    on a portal whose values are current; then 1% of the orders change; D+3: the incremental run measured."""
    today = date.today()
    server = SandboxServer(
        host="127.0.0.1", port=0, companies=companies, seed=args.seed, rate_limit=rate_limit, today=today
    )
    server.start()
    try:
        crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=rate_limit)
        with tempfile.TemporaryDirectory() as folder:
            state = SqliteStateStore(str(Path(folder) / "state.db"))
            orders = len(_order_deals(server, crm)[0])
            day = today
            measured = [_measure("full, day D (first run)", server, crm, state, day, "full", orders)]
            day += timedelta(days=1)
            _a_day_passes()
            measured.append(_measure("incremental, D+1 (no order changed)", server, crm, state, day, "incremental", 0))
            day += timedelta(days=1)
            _a_day_passes()
            measured.append(_measure("full, D+2 (weekly, values current)", server, crm, state, day, "full", orders))
            day += timedelta(days=1)
            _a_day_passes()
            changes = _change_orders(server, crm, args.changed_share, day, args.seed)
            label = f"incremental, D+3 ({sum(changes.values())} orders changed: " + ", ".join(
                f"{n} {kind.replace('_', ' ')}" for kind, n in changes.items()
            )
            measured.append(_measure(label + ")", server, crm, state, day, "incremental", 0))
            return measured
    finally:
        server.stop()


def _memory(companies: int, trace: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.memory", "--companies", str(companies)]
    if trace:
        command.append("--tracemalloc")
    answer = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(answer.stdout.strip().splitlines()[-1]))


def run(args: argparse.Namespace) -> str:
    lines = ["## sirank_recalc", ""]
    unlimited = _main_portal(args, 0, args.companies)
    lines += [
        f"Sandbox portal of {args.companies:,} companies (seed {args.seed}), rate limit off, SQLite state store.",
        "",
        "| run | calls (adapter) | calls (sandbox) | lower bound | ratio | wall s | scored | changed | summary |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in unlimited:
        lines.append(_row(m))
    first_full, _, weekly_full, incremental = unlimited
    lines += [
        "",
        f"Incremental (D+3) / full calls: {incremental.calls / weekly_full.calls:.2%} of the weekly full run, "
        f"{incremental.calls / first_full.calls:.2%} of the first full run.",
        "",
    ]
    for m in unlimited:
        lines.append(f"- {m.label}: lower bound {m.bound_terms} = {m.lower_bound}")
        counters = {
            k: v for k, v in m.result.summary.items() if k.endswith(("_modified", "_removed", "_day")) or k == "orders"
        }
        lines.append(f"  - counters: `{json.dumps(counters)}`")
        lines.append(f"  - sandbox calls by endpoint: `{json.dumps(m.result.summary['sandbox_calls_by_endpoint'])}`")
    limited = _main_portal(args, RATE_LIMIT, args.rate_limited_companies)
    lines += [
        "",
        f"Rate limited: portal of {args.rate_limited_companies:,} companies, sandbox limit {RATE_LIMIT}/10 s, "
        f"adapter limiter {RATE_LIMIT}/10 s. Floor = calls / {RATE_LIMIT / 10:g} per second.",
        "",
        "| run | calls | wall s | floor s | wall / floor | 429 answered by the sandbox (absorbed by retries) |",
        "|---|---|---|---|---|---|",
    ]
    for m in limited:
        floor = m.sandbox_calls / (RATE_LIMIT / 10)
        lines.append(
            f"| {m.label.split(' (')[0]} | {m.sandbox_calls} | {m.wall:.1f} | {floor:.1f} | "
            f"{m.wall / floor:.3f} | {m.rate_limited} |"
        )
    lines += ["", "Peak memory of a full run (synthetic portal, fresh process, `python -m bench.memory`):", ""]
    lines += ["| companies | deals | orders | wall s | peak resident MB |", "|---|---|---|---|---|"]
    for companies in args.memory_companies:
        figures = _memory(companies, trace=False)
        lines.append(
            f"| {figures['companies']:,} | {figures['deals']:,} | {figures['orders']:,} | "
            f"{figures['wall_seconds']} | {figures['peak_resident_mb']} |"
        )
    return "\n".join(lines)


def _row(m: Measured) -> str:
    s = m.result.summary
    keep = {k: s[k] for k in ("sirank_quantiles", "share_above_5000") if k in s}
    return (
        f"| {m.label} | {m.calls} | {m.sandbox_calls} | {m.lower_bound} | {m.calls / m.lower_bound:.3f} | "
        f"{m.wall:.1f} | {s['companies_scored']} | {s['companies_changed']} | `{json.dumps(keep)}` |"
    )
