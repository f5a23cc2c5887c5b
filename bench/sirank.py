"""sirank_recalc on sandbox portals: HubSpot calls against their lower bound, wall time, memory.

Scenarios, on a fresh sandbox portal (in-process SandboxServer, rate limit off, real hubspot-api-client)
- days: D full (first run), D+1 incremental (no order changed), D+2 full (the weekly run), then 1% of the orders
  change in HubSpot (amounts edited in bulk, new orders, orders moved to closed-lost, orders deleted) and D+3
  incremental, the run measured against the weekly full run; then a dry full run on D+3 checks that the
  incremental run agrees with it on every company.
- time: the portal's clock is pinned and Flywheel runs on a FixedClock; a day passes by advancing both (the
  default 60-minute watermark lookback stays), so the bench never waits for real time.
- rate limited: the same four runs on a second portal with the sandbox enforcing 190 calls / 10 s and the
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
import time as wall_time
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import DAY
from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import FixedClock
from flywheel.config import Settings
from flywheel.domain.models import RunResult
from flywheel.ports import StateStore
from flywheel.services import sirank
from flywheel.services.context import Ports
from sandbox.server import SandboxServer

RATE_LIMIT = 190
RUN_AT = time(2, 30)  # Rome: when the nightly SiRank job runs
CHANGES_AT = timedelta(hours=8)  # after a run, when the day's edits happen in HubSpot


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sirank")
    group.add_argument("--companies", type=int, default=20_000, help="companies of the main sandbox portal")
    group.add_argument("--rate-limited-companies", type=int, default=20_000, help="portal of the 190/10 s runs")
    group.add_argument("--memory-companies", type=int, nargs="*", default=[20_000, 100_000])
    group.add_argument("--changed-share", type=float, default=0.01, help="share of orders changed before D+3")
    group.add_argument("--seed", type=int, default=1)
    group.add_argument("--day", type=date.fromisoformat, default=DAY, help="day D (portal and runs), ISO date")


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


class Days:
    """One clock for Flywheel and the portal: a day passes for both at once, with no real waiting."""

    def __init__(self, day: date) -> None:
        self.clock = FixedClock(datetime.combine(day, RUN_AT, ZoneInfo("Europe/Rome")))

    @property
    def today(self) -> date:
        return self.clock.today()

    def advance(self, server: SandboxServer, by: timedelta) -> None:
        self.clock.set(self.clock.now() + by)
        server.store.clock.advance(by.total_seconds())


def _ports(crm: HubSpotCrm, state: StateStore, days: Days) -> Ports:
    return Ports(crm=crm, state=state, mailer=object(), clock=days.clock, settings=Settings())  # type: ignore[arg-type]


def _timed_run(server: SandboxServer, crm: HubSpotCrm, state: StateStore, days: Days, mode: str) -> Any:
    before = server.store.stats()
    calls_before = crm.calls_made
    started = wall_time.perf_counter()
    request = sirank.Request(as_of=days.today, mode=mode)  # type: ignore[arg-type]
    result = sirank.run(request, _ports(crm, state, days))
    wall = wall_time.perf_counter() - started
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


def _order_deals(server: SandboxServer, crm: HubSpotCrm) -> tuple[list[str], str, str]:
    """Ids of the order deals (closed-won in an order pipeline), and the main pipeline's lost and won stage ids."""
    settings = Settings()
    pipelines = [p for p in crm.pipelines("deals") if p.label in settings.portal.order_pipelines]
    pipeline_ids = {p.id for p in pipelines}
    won = {s.id for p in pipelines for s in p.stages if s.is_won}
    orders = [
        record.id
        for record in server.store.all_records("deals")  # the in-process portal itself, not an API call
        if record.properties.get("pipeline") in pipeline_ids and record.properties.get("dealstage") in won
    ]
    main = pipelines[0]
    lost = next(s.id for s in main.stages if s.is_closed and not s.is_won)
    won_main = next(s.id for s in main.stages if s.is_won)
    return orders, lost, won_main


def _change_orders(server: SandboxServer, crm: HubSpotCrm, share: float, day: date, seed: int) -> dict[str, int]:
    """Change `share` of the orders as HubSpot users and integrations would, straight in the portal's store."""
    orders, lost, won = _order_deals(server, crm)
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
    companies = [record.id for record in store.all_records("companies")]
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
    label: str, server: SandboxServer, crm: HubSpotCrm, state: StateStore, days: Days, mode: str, orders: int
) -> Measured:
    result, wall, calls, sandbox_calls, limited = _timed_run(server, crm, state, days, mode)
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


@dataclass
class PortalRuns:
    measured: list[Measured]
    disagreeing: int | None  # companies a full run on D+3 would still change; None when not checked


ONE_DAY = timedelta(days=1)


def _main_portal(args: argparse.Namespace, rate_limit: int, companies: int, check: bool) -> PortalRuns:
    """Day D: the first full run (every value written); D+1: the daily incremental; D+2: the weekly full run
    on a portal whose values are current; then 1% of the orders change; D+3: the incremental run measured."""
    days = Days(args.day)
    server = SandboxServer(
        host="127.0.0.1", port=0, companies=companies, seed=args.seed, rate_limit=rate_limit, now=days.clock.now()
    )
    server.start()
    try:
        crm = HubSpotCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=rate_limit)
        with tempfile.TemporaryDirectory() as folder:
            state = SqliteStateStore(str(Path(folder) / "state.db"))
            orders = len(_order_deals(server, crm)[0])
            measured = [_measure("full, day D (first run)", server, crm, state, days, "full", orders)]
            days.advance(server, ONE_DAY)
            measured.append(_measure("incremental, D+1 (no order changed)", server, crm, state, days, "incremental", 0))
            days.advance(server, ONE_DAY)
            measured.append(_measure("full, D+2 (weekly, values current)", server, crm, state, days, "full", orders))
            days.advance(server, CHANGES_AT)
            changes = _change_orders(server, crm, args.changed_share, days.today, args.seed)
            days.advance(server, ONE_DAY - CHANGES_AT)
            label = f"incremental, D+3 ({sum(changes.values())} orders changed: " + ", ".join(
                f"{n} {kind.replace('_', ' ')}" for kind, n in changes.items()
            )
            measured.append(_measure(label + ")", server, crm, state, days, "incremental", 0))
            return PortalRuns(measured, _disagreements(crm, days) if check else None)
    finally:
        server.stop()


def _disagreements(crm: HubSpotCrm, days: Days) -> int:
    """Companies whose values a full run (dry, from scratch: no ledger) would still change after the incremental."""
    request = sirank.Request(as_of=days.today, mode="full", dry_run=True)
    return len(sirank.run(request, _ports(crm, MemoryStateStore(), days)).actions)


def _memory(companies: int, day: date, trace: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.memory", "--companies", str(companies), "--day", day.isoformat()]
    if trace:
        command.append("--tracemalloc")
    answer = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(answer.stdout.strip().splitlines()[-1]))


def run(args: argparse.Namespace) -> str:
    lines = ["## sirank_recalc", ""]
    main_portal = _main_portal(args, 0, args.companies, check=True)
    unlimited = main_portal.measured
    lines += [
        f"Sandbox portal of {args.companies:,} companies (seed {args.seed}, day D {args.day}), rate limit off, "
        "SQLite state store; portal clock pinned and advanced a day at a time, Flywheel on a FixedClock.",
        "",
        "| run | calls (adapter) | calls (sandbox) | lower bound | ratio | wall s | scored | changed | summary |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in unlimited:
        lines.append(_row(m))
    first_full, _, weekly_full, incremental = unlimited
    share = incremental.calls / weekly_full.calls
    lines += [
        "",
        f"Incremental (D+3) / full calls: {incremental.calls} / {weekly_full.calls} = {share:.2%} of the weekly full "
        f"run ({incremental.calls / first_full.calls:.2%} of the first full run); target < 2%: "
        f"{'met' if share < 0.02 else 'NOT met'}.",
        f"Agreement: a dry full run on D+3 would change {main_portal.disagreeing} companies "
        f"({'the incremental run agrees with it on every company' if main_portal.disagreeing == 0 else 'DISAGREES'}).",
        "",
    ]
    for m in unlimited:
        lines.append(f"- {m.label}: lower bound {m.bound_terms} = {m.lower_bound}")
        counters = {
            k: v for k, v in m.result.summary.items() if k.endswith(("_modified", "_removed", "_day")) or k == "orders"
        }
        lines.append(f"  - counters: `{json.dumps(counters)}`")
        lines.append(f"  - sandbox calls by endpoint: `{json.dumps(m.result.summary['sandbox_calls_by_endpoint'])}`")
    limited = _main_portal(args, RATE_LIMIT, args.rate_limited_companies, check=False).measured
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
        figures = _memory(companies, args.day, trace=False)
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
