"""cart_watch on a sandbox portal: what an hourly run costs in HubSpot calls, against the bound of issue 12.

Bound: ceil(carts changed in the last 7 days / 200) searches, plus the association and contact reads of the
abandoned carts that still need an effect (100 a call). On top come, for the carts something happens to, their
company and line-item reads, and the effects themselves (the executor's flywheel_key lookups, task creates, the
consent re-read at send time): listed apart.

Scenario, one portal of 20,000 companies (in-process SandboxServer, rate limit off, real hubspot-api-client, SQLite
state, outbox mailer), the portal's clock pinned and Flywheel on a FixedClock at the same instant:
1. the first hourly run at 10:05 on day D: every generated cart left 1 to 6 days ago is abandoned at once;
2. the next hour: no customer activity (the carts left yesterday in that hour turn 24 hours old);
3. an hour later, after customers changed 1% of the carts (a product added: a new version, not yet idle) and 40
   carts left 25 hours ago appeared (synced late by the e-commerce connector): those 40 are reminded.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time as wall_time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import DAY
from bench.counting import CountingCrm
from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.clock import FixedClock
from flywheel.config import MailRules, Settings
from flywheel.domain.models import RunResult
from flywheel.services import cart_watch
from flywheel.services.context import Ports
from flywheel.services.mapping import parse_instant
from sandbox.server import SandboxServer

RUN_AT = time(10, 5)  # Rome: an hourly run
HOUR = timedelta(hours=1)
LATE_CARTS = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("carts")
    group.add_argument("--cart-companies", type=int, default=20_000, help="companies of the cart_watch portal")


@dataclass
class Measured:
    label: str
    result: RunResult
    changed: int
    wall: float
    calls: int
    by_kind: dict[str, int]  # the reads that decide, by operation (from the dry run)
    effect_calls: int

    def count(self, *kinds: str) -> int:
        return sum(self.by_kind.get(kind, 0) for kind in kinds)


def _changed_carts(server: SandboxServer, instant: datetime) -> int:
    since = instant - timedelta(days=7)
    return sum(
        1
        for record in server.store.all_records("carts")
        if (parse_instant(record.properties.get("hs_lastmodifieddate")) or since) >= since
    )


def _measure(label: str, server: SandboxServer, ports: Ports, clock: FixedClock) -> Measured:
    """A dry run at the run's instant gives the reads that decide (it changes nothing); the real run then adds the
    effects: its calls beyond the dry run's."""
    crm = ports.crm
    assert isinstance(crm, CountingCrm)
    changed = _changed_carts(server, clock.now())
    kinds = Counter(crm.by_kind)
    dry_started = crm.calls_made
    cart_watch.run(cart_watch.Request(dry_run=True), ports)
    deciding = crm.calls_made - dry_started
    used = {k: n - kinds.get(k, 0) for k, n in crm.by_kind.items() if n != kinds.get(k, 0)}
    before = server.store.stats()["calls"]["total"]
    started = wall_time.perf_counter()
    result = cart_watch.run(cart_watch.Request(), ports)
    wall = wall_time.perf_counter() - started
    calls = server.store.stats()["calls"]["total"] - before
    return Measured(label, result, changed, wall, calls, used, calls - deciding)


def _late_carts(server: SandboxServer, clock: FixedClock, count: int) -> None:
    """Carts left 25 hours ago that the connector syncs only now, and 1% of the others touched this hour."""
    store = server.store
    carts = sorted(store.all_records("carts"), key=lambda r: int(r.id))
    links = {
        c.id: (store.associated_ids("carts", c.id, "companies"), store.associated_ids("carts", c.id, "contacts"))
        for c in carts[:count]
    }
    store.clock.pin(clock.now() - 25 * HOUR)
    for source in carts[:count]:
        companies, contacts = links[source.id]
        if not companies or not contacts:
            continue
        properties = {k: v for k, v in source.properties.items() if k.startswith("hs_cart") or k in _CART_COPY}
        store.create_object("carts", properties, [("companies", companies[0]), ("contacts", contacts[0])])
    store.clock.pin(clock.now() - HOUR / 2)
    for source in carts[count : count + max(1, len(carts) // 100)]:
        store.update_object("carts", source.id, {"hs_total_price": "1999"})
    store.clock.pin(clock.now())


_CART_COPY = ("hs_external_status", "hs_total_price", "hs_currency_code", "hubspot_owner_id")


def run(args: argparse.Namespace) -> str:
    zone = ZoneInfo("Europe/Rome")
    clock = FixedClock(datetime.combine(getattr(args, "day", DAY), RUN_AT, zone))
    server = SandboxServer(
        host="127.0.0.1", port=0, companies=args.cart_companies, seed=1, rate_limit=0, now=clock.now()
    )
    server.start()
    try:
        crm = CountingCrm(api_base=server.url, access_token=server.token, rate_limit_per_10s=0)
        settings = Settings(
            mail=MailRules(unsubscribe_secret="bench-unsubscribe-secret-0123456789abcdef"),
            public_url="https://bench.example.it",
        )
        with tempfile.TemporaryDirectory() as folder:
            ports = Ports(
                crm=crm,
                state=SqliteStateStore(str(Path(folder) / "state.db")),
                mailer=OutboxMailer(Path(folder) / "outbox"),
                clock=clock,
                settings=settings,
            )
            ports.schema  # noqa: B018 - resolved once per instance, before the runs are measured
            runs = [_measure("first hourly run (every generated cart abandoned)", server, ports, clock)]
            _advance(server, clock, HOUR)
            runs.append(_measure("next hour (carts left yesterday at this hour turn 24 h)", server, ports, clock))
            _advance(server, clock, HOUR)
            _late_carts(server, clock, LATE_CARTS)
            runs.append(
                _measure(f"an hour later: 1% of carts touched, {LATE_CARTS} carts left 25 h ago", server, ports, clock)
            )
    finally:
        server.stop()
    return _report(args, runs)


def _advance(server: SandboxServer, clock: FixedClock, by: timedelta) -> None:
    clock.set(clock.now() + by)
    server.store.clock.pin(clock.now())


def _report(args: Any, runs: list[Measured]) -> str:
    lines = [
        "## cart_watch",
        "",
        f"Command: `make bench` (`python -m bench --only carts --cart-companies {args.cart_companies}`): sandbox "
        "portal, seed 1, hourly runs at 10:05 Rome on day D and the two hours after, real hubspot-api-client.",
        "",
        "| run | carts changed in 7 days | abandoned | needing an effect | searches (bound) "
        "| association + contact reads (bound) | company + line-item reads | effect calls | calls in all | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in runs:
        summary = m.result.summary
        needing = summary["needing_effect"]
        searches = m.count("search carts")
        contact_reads = m.count("associations carts->contacts", "read contacts")
        other_reads = m.count(
            "associations carts->companies", "associations carts->line_items", "read companies", "read line_items"
        )
        lines.append(
            f"| {m.label} | {m.changed:,} | {summary['abandoned']:,} | {needing:,} "
            f"| {searches} ({math.ceil(m.changed / 200)}) | {contact_reads} ({2 * math.ceil(needing / 100)}) "
            f"| {other_reads} | {m.effect_calls} | {m.calls} | {m.wall:.1f} |"
        )
    lines += ["", "Reads that decide, by operation:", ""]
    for m in runs:
        lines.append(f"- {m.label}: " + ", ".join(f"{k} {v}" for k, v in sorted(m.by_kind.items())))
    lines += [
        "",
        "Summaries: "
        + "; ".join(
            f"{m.label}: reminded {m.result.summary['reminded']}, owners alerted {m.result.summary['owners_alerted']}"
            for m in runs
        ),
        "",
    ]
    return "\n".join(lines)
