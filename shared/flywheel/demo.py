"""`make demo`: a sandbox portal, then every function at its cadence over simulated days, then a summary.

Runs on the embedded defaults: the local sandbox portal reached over HTTP by the real HubSpot client, SQLite state and
the outbox mailer, all under the demo's work folder, started afresh on every run.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from flywheel.bootstrap import Instance
from flywheel.clock import FixedClock, SystemClock
from flywheel.config import Settings, load_settings
from flywheel.domain.models import RunResult
from flywheel.runner import run_function
from flywheel.services.registry import due_on

# the day's orders are in HubSpot before the night's first scheduled run
ORDERS_TIME = clock_time(0, 5)
DASHBOARD_TIME = clock_time(18, 0)


@dataclass
class FunctionTally:
    runs: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    companies: set[str] = field(default_factory=set)
    totals: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    last_summary: dict[str, Any] = field(default_factory=dict)
    last_day: date | None = None
    seconds: float = 0.0

    def add(self, result: RunResult, seconds: float, summary_totals: tuple[str, ...] = ()) -> None:
        self.runs += 1
        self.seconds += seconds
        for action in result.actions:
            self.actions[action.type] += 1
            self.companies.add(action.company_id)
        for key, value in _numbers(result.summary):
            if key.startswith("effects.") or key.split(".", 1)[0] in summary_totals:
                self.totals[key] += value
        self.last_summary = result.summary
        self.last_day = result.as_of


def _demo_settings(server: Any, work: Path) -> Settings:
    """The embedded defaults, pointed at the demo's portal and work folder."""
    defaults = load_settings()
    return defaults.model_copy(
        update={
            "hubspot_api_base": server.url,
            "hubspot_access_token": server.token,
            "hubspot_rate_limit": 0,
            "state": f"sqlite:///{(work / 'state.db').resolve()}",
            "mailer": f"outbox://{(work / 'outbox').resolve()}",
            "nurture": defaults.nurture.model_copy(update={"coupon_secret": secrets.token_urlsafe(32)}),
            # throwaway link secret; the links point at the local functions-framework address nobody serves
            "mail": defaults.mail.model_copy(
                update={
                    "unsubscribe_secret": secrets.token_urlsafe(32),
                    "unsubscribe_url": defaults.mail.unsubscribe_url or "http://127.0.0.1:8080/unsubscribe",
                }
            ),
        }
    )


def _run_scheduled(
    day: date, instance: Instance, clock: FixedClock, server: Any, tallies: dict[str, FunctionTally]
) -> None:
    """What the schedules start on `day`, each at its time, Flywheel's clock and the portal's together."""
    for spec, schedule in due_on(day, instance.settings):
        clock.set(FixedClock.on(day, instance.settings.timezone, at=schedule.at).now())
        server.store.clock.pin(clock.now())
        request = spec.request_model.model_validate({"as_of": day, **schedule.body})
        started = time.monotonic()
        result = run_function(spec.name, request, instance.ports(clock=clock))
        tallies[spec.name].add(result, time.monotonic() - started, spec.summary_totals)


def run_demo(
    *,
    companies: int = 3000,
    days: int = 90,
    seed: int = 7,
    workdir: str = ".flywheel/demo",
    start: date | None = None,
) -> int:
    """Play `days` days from `start` (default: today). Flywheel's clock and the portal's walk through the days
    together: the day's orders land just after midnight, then each function runs at its schedule's time (Rome)."""
    from sandbox.generator import generate_portal
    from sandbox.server import SandboxServer

    timezone = load_settings().timezone
    start = start or SystemClock(timezone).today()
    clock = FixedClock.on(start, timezone, at=ORDERS_TIME)
    work = Path(workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    say(f"Flywheel demo: a sandbox portal of {companies:,} companies, {days} simulated days from {start}")
    server = SandboxServer(port=0, companies=companies, seed=seed, rate_limit=0, today=start, now=clock.now()).start()
    try:
        instance = Instance(_demo_settings(server, work))
        customers = _Customers.of(server.store.generated or generate_portal(companies, seed, start), seed)
        tallies: dict[str, FunctionTally] = defaultdict(FunctionTally)
        new_orders = 0
        began = time.monotonic()
        for offset in range(days):
            day = start + timedelta(days=offset)
            server.store.clock.pin(FixedClock.on(day, timezone, at=ORDERS_TIME).now())
            new_orders += customers.live(server.store, day)
            _run_scheduled(day, instance, clock, server, tallies)
            progress(offset + 1, days, day, tallies, new_orders, time.monotonic() - began)
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        report(tallies, new_orders, days, work, server.store.stats())
        page = _write_dashboard(instance, clock, start + timedelta(days=days - 1), work / "report")
        say(f"The reps' dashboard as of the last simulated day: {page}")
        say("Demo finished.")
    finally:
        server.stop()
    return 0


@dataclass
class _Customers:
    """What customers and the ERP do to the portal on a simulated day, before Flywheel's functions run."""

    portal: Any
    seed: int
    accounts: Any  # D&P levels and cashback, as the ERP moves them
    placed: dict[str, date] = field(default_factory=dict)  # each company's last order day
    open_carts: dict[str, date] = field(default_factory=dict)  # carts left on the e-commerce site, still open

    @classmethod
    def of(cls, portal: Any, seed: int) -> _Customers:
        from sandbox.activity import initial_accounts

        return cls(portal, seed, initial_accounts(portal))

    def live(self, store: Any, day: date) -> int:
        """The day's orders, account changes and carts, in the portal; returns how many orders were placed."""
        from sandbox.activity import (
            account_changes_for_day,
            apply_account_changes,
            carts_for_day,
            orders_for_day,
            place,
        )

        placed = 0
        for order in orders_for_day(self.portal, day, self.seed, self.placed):
            place(store, order)
            self.placed[order.company_id] = day
            placed += 1
        changes = account_changes_for_day(self.portal, day, self.seed, self.accounts)
        apply_account_changes(store, changes, self.accounts)
        carts_for_day(store, self.portal, day, self.seed, self.open_carts)
        return placed


def _write_dashboard(instance: Instance, clock: FixedClock, last_day: date, out: Path) -> Path:
    """The report of the last simulated day, as a rep would open it in the morning."""
    from flywheel.report_page import write_report
    from flywheel.services.report import build_report

    clock.set(FixedClock.on(last_day, instance.settings.timezone, at=DASHBOARD_TIME).now())
    return write_report(build_report(instance.ports(clock=clock), last_day), out).resolve()


def progress(done: int, days: int, day: date, tallies: dict[str, FunctionTally], orders: int, secs: float) -> None:
    parts = [f"{name} {sum(t.actions.values()):,}" for name, t in sorted(tallies.items())]
    line = f"  day {done:>3}/{days} {day}  new orders {orders:,}  actions: {', '.join(parts)}  ({secs:.0f} s)"
    backlog = tallies["cold_segment"].last_summary.get("backlog") if "cold_segment" in tallies else None
    if isinstance(backlog, int):
        # the paced Wake Up queue draining, 40 deals a business day
        line += f"  Wake Up backlog {backlog:,}"
    if sys.stderr.isatty():
        sys.stderr.write("\r" + line.ljust(120))
    elif done % 10 == 0 or done == days:
        # a log file gets a line every ten days rather than one endless carriage-returned line
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def report(tallies: dict[str, FunctionTally], orders: int, days: int, work: Path, stats: Any) -> None:
    say("")
    say(f"Over {days} days customers placed {orders:,} new orders. What each function did:")
    for name, tally in sorted(tallies.items()):
        say(f"\n{name}: {tally.runs} runs, {tally.seconds:.1f} s in all")
        say(f"  actions over the {days} days, to {len(tally.companies):,} companies:")
        if not tally.actions:
            say("    none")
        for action_type, count in sorted(tally.actions.items()):
            say(f"    {action_type:<16} {count:>8,}")
        effects = {k.removeprefix("effects."): v for k, v in tally.totals.items() if k.startswith("effects.")}
        if effects:
            say("  what became of them:")
            for outcome, total in sorted(effects.items()):
                say(f"    {outcome:<32} {_figure(total):>8}")
        totals = {k: v for k, v in tally.totals.items() if not k.startswith("effects.")}
        if totals:
            say(f"  totals over the {days} days:")
            for key, total in totals.items():
                say(f"    {key:<44} {_figure(total):>10}")
        say(f"  the last day's run ({tally.last_day}):")
        for key, value in _numbers(tally.last_summary):
            if not key.startswith("effects."):
                say(f"    {key:<44} {_figure(value):>10}")
    outbox = list((work / "outbox").glob("*.eml")) if (work / "outbox").exists() else []
    calls = stats.get("calls", {}).get("total") if isinstance(stats, dict) else None
    say(f"\nEmails in the outbox: {len(outbox):,} ({work / 'outbox'})")
    if calls is not None:
        say(f"HubSpot API calls served by the sandbox: {calls:,}")


def say(text: str) -> None:
    print(text, flush=True)


def _numbers(summary: dict[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    """The summary's counts, nested ones flattened (`sent.step_1`); distributions and flags left out."""
    found: list[tuple[str, float]] = []
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            found.append((name, float(value)))
        elif isinstance(value, dict) and not name.endswith(("quantiles", "distribution")):
            found.extend(_numbers(value, prefix=f"{name}."))
    return found


def _figure(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"
