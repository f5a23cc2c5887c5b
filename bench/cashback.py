"""cashback_21st and dp_progress on a sandbox portal: what a daily run costs in HubSpot calls, against the bound of
issue 11.

Bound of a threshold run: ceil(orders closed this month / 200) searches, plus the reads of the contacts of the
companies messaged (associations and batch reads, 100 a call). On top come the deals' companies (one associations
read per 100 orders of the month: search results carry no associations), the companies in the band (batch reads),
the two schema calls, and the effects (the consent re-read at send time): listed apart.

Scenario, one portal of 20,000 companies (in-process SandboxServer, rate limit off, real hubspot-api-client, SQLite
state, outbox mailer), the portal's clock pinned and Flywheel on a FixedClock at the same instant:
0. a full sirank_recalc at 02:30 on day D (not measured): its ledger and deal index, as every night;
1. cashback_21st, mode threshold, at 09:30 Rome on day D (the 27th): the generated orders of the month so far;
2. the same run again (every nudge of the month already sent: nothing to do);
3. cashback_21st without mode on the 21st of D's month (the reminder and the nudges of that day);
4. dp_progress on day D (R12 from SiRank's ledger): every D&P company first sighted.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time as wall_time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import DAY
from bench.counting import CountingCrm
from flywheel.adapters.hubspot import HubSpotCrm
from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import FixedClock
from flywheel.config import MailRules, Settings
from flywheel.domain.models import RunResult
from flywheel.services import cashback, dp_progress, sirank
from flywheel.services.context import Ports
from flywheel.services.mapping import parse_date
from sandbox.server import SandboxServer

ROME = ZoneInfo("Europe/Rome")
RUN_AT = time(9, 30)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cashback")
    group.add_argument("--cashback-companies", type=int, default=20_000, help="companies of the cashback portal")


@dataclass
class Measured:
    label: str
    result: RunResult
    wall: float
    calls: int
    by_kind: dict[str, int]

    def count(self, *kinds: str) -> int:
        return sum(self.by_kind.get(kind, 0) for kind in kinds)


def _measure(label: str, server: SandboxServer, crm: CountingCrm, run: Callable[[], RunResult]) -> Measured:
    before, kinds = server.store.stats()["calls"]["total"], Counter(crm.by_kind)
    started = wall_time.perf_counter()
    result = run()
    wall = wall_time.perf_counter() - started
    used = {k: n - kinds.get(k, 0) for k, n in crm.by_kind.items() if n != kinds.get(k, 0)}
    return Measured(label, result, wall, server.store.stats()["calls"]["total"] - before, used)


def _orders_this_month(server: SandboxServer, crm: HubSpotCrm, settings: Settings, day: date) -> int:
    """Orders dated (in Rome) from the 1st of day's month to day, counted straight from the sandbox's store."""
    won = {
        (p.id, s.id)
        for p in crm.pipelines("deals")
        if p.label in settings.portal.order_pipelines or p.id in settings.portal.order_pipelines
        for s in p.stages
        if s.is_won
    }
    count = 0
    for record in server.store.all_records("deals"):
        properties = record.properties
        closed = parse_date(properties.get("closedate"), settings.timezone)
        if (properties.get("pipeline"), properties.get("dealstage")) in won and closed is not None:
            count += day.replace(day=1) <= closed <= day
    return count


def _at(server: SandboxServer, clock: FixedClock, day: date, at: time) -> None:
    clock.set(datetime.combine(day, at, ROME))
    server.store.clock.pin(clock.now())


def run(args: argparse.Namespace) -> str:
    day: date = getattr(args, "day", DAY)
    clock = FixedClock(datetime.combine(day, RUN_AT, ROME))
    server = SandboxServer(
        host="127.0.0.1", port=0, companies=args.cashback_companies, seed=1, rate_limit=0, now=clock.now()
    )
    server.start()
    try:
        crm = CountingCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=0)
        settings = Settings(
            mail=MailRules(unsubscribe_secret="bench-unsubscribe-secret-0123456789abcdef"),
            public_url="https://bench.example.it",
        )
        orders = _orders_this_month(server, crm, settings, day)
        with tempfile.TemporaryDirectory() as folder:
            ports = Ports(
                crm=crm,
                state=SqliteStateStore(str(Path(folder) / "state.db")),
                mailer=OutboxMailer(Path(folder) / "outbox", now=clock.now),
                clock=clock,
                settings=settings,
            )
            ports.schema  # noqa: B018 - resolved once per instance, before the runs are measured
            # the night's sirank_recalc: its ledger holds R12, its deal index the company of each known order
            _at(server, clock, day, time(2, 30))
            sirank.run(sirank.Request(as_of=day, mode="full"), ports)
            _at(server, clock, day, RUN_AT)

            def threshold() -> RunResult:
                return cashback.run(cashback.Request(as_of=clock.today(), mode="threshold"), ports)

            runs = [_measure(f"threshold, day D ({day})", server, crm, threshold)]
            runs.append(_measure("threshold again, day D (all sent)", server, crm, threshold))
            twenty_first = day.replace(day=21)
            _at(server, clock, twenty_first, RUN_AT)
            both = _measure(
                f"without mode, the 21st ({twenty_first})",
                server,
                crm,
                lambda: cashback.run(cashback.Request(as_of=twenty_first), ports),
            )
            _at(server, clock, day, time(10, 0))
            dp = _measure(
                f"dp_progress, day D ({day})",
                server,
                crm,
                lambda: dp_progress.run(dp_progress.Request(as_of=day), ports),
            )
    finally:
        server.stop()
    return _report(args, orders, runs, both, dp)


def _report(args: Any, orders: int, runs: list[Measured], both: Measured, dp: Measured) -> str:
    lines = [
        "## cashback_21st and dp_progress",
        "",
        f"Command: `make bench` (`python -m bench --only cashback --cashback-companies {args.cashback_companies}`): "
        "sandbox portal, seed 1, runs at 09:30 Rome, real hubspot-api-client, SQLite state, outbox mailer.",
        "",
        f"Orders dated this month up to day D: {orders:,}.",
        "",
        "| run | nudged | searches | contact reads | bound | deal->company reads | company reads "
        "| send-time contact reads | other | calls in all | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in [*runs, both]:
        summary = m.result.summary
        searches = m.count("search deals", "search companies")
        contact_reads = m.count("associations companies->contacts", "read contacts")
        emails = summary["emails"]
        send_time = math.ceil(emails / 100) if emails else 0
        messaged = summary["nudges_sent"] + summary["reminders_sent"] + summary["no_consent"]
        bound = math.ceil(orders / 200) + (2 * math.ceil(messaged / 100) if messaged else 0)
        lines.append(
            f"| {m.label} | {summary['nudges_sent']:,} (+{summary['reminders_sent']:,} reminders) | {searches} "
            f"| {contact_reads - send_time} | {bound} | {m.count('associations deals->companies')} "
            f"| {m.count('read companies')} | {send_time} | {m.calls - sum(m.by_kind.values())} | {m.calls:,} "
            f"| {m.wall:.1f} |"
        )
    dp_summary = dp.result.summary
    lines += [
        "",
        "Bound of a threshold run: ceil(orders / 200) searches + 2 x ceil(companies messaged / 100) (their contacts:"
        " one associations read and one batch read per 100). Searches count every page (partitions included). "
        "'contact reads' are the recipients' reads; 'send-time contact reads' the executor's consent re-read.",
        "",
        f"dp_progress on day D: {dp_summary['companies']:,} D&P companies, "
        f"{dp.count('search companies')} search pages, "
        f"{dp.count('associations companies->deals', 'read deals')} deal reads (R12 from SiRank's ledger), "
        f"{dp.count('associations companies->contacts', 'read contacts')} contact reads, {dp.calls:,} calls in all, "
        f"{dp.wall:.1f} s; {sum(dp_summary['progress_nudges'].values())} progress nudges, "
        f"{dp_summary['first_sightings']:,} first sightings.",
        "",
    ]
    return "\n".join(lines)
