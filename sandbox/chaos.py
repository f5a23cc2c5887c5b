"""`make chaos`: every function over simulated days on a faulty sandbox portal, with duplicate triggers, redelivered
webhooks and `kill -9` of running functions, then a check that every effect happened exactly once.

Two worlds are played from the same generated portal and the same orders:

- the reference: each scheduled trigger and each webhook delivered once, to a portal that never fails;
- the chaos run: the portal answers a share of calls with 429 (Retry-After), 5xx (some after doing the work) and
  connection resets (before or after the work), with latency; each trigger is delivered twice, as two processes
  at once or one after the other, as Cloud Scheduler and HubSpot may; a share of the running function processes
  is killed with SIGKILL at a random moment; whatever did not answer 200 is delivered again later, as the
  scheduler and HubSpot retry.

Every delivery is a real process serving the deployed shape: functions-framework's app for functions/main.py,
called with Cloud Scheduler's headers or HubSpot's signed v3 webhook, over SQLite state shared by the processes
and the outbox mailer. The run's clock is the simulated day (Flywheel's and the portal's), never the real date.

Afterwards, against the reference: every deal and task (by `flywheel_key`) and every email (by effect key, from
the outbox's delivery log) exists exactly once, none is missing and none extra; no email is recorded as sent in
the state store that is not in the outbox; no e-commerce account is suspended without its fifth email in the
outbox; every webhook event is recorded as processed and the sequences end as in the reference.

    python -m sandbox.chaos --days 30 --companies 150 --kills 20        # make chaos
    python -m sandbox.chaos --days 4 --companies 60 --kills 4           # the short run in make test
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sandbox.generator import GeneratedPortal

ROME = ZoneInfo("Europe/Rome")
ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "functions" / "main.py"
START = date(2026, 11, 2)  # a Monday: a fixed start, so a chaos run plays the same days whenever it runs
API_TOKEN = "chaos-api-token-for-the-sandbox-only"
CLIENT_SECRET = "chaos-client-secret"
COUPON_SECRET = "chaos-coupon-secret-of-at-least-32-chars"
UNSUBSCRIBE_SECRET = "chaos-unsubscribe-secret-of-at-least-32-chars"
# later deliveries move the clock past the 600 s lease, so a killed holder's keys can be taken over
RETRY_STEP = timedelta(minutes=11)
MAX_ATTEMPTS = 12


@dataclass
class Plan:
    days: int = 30
    companies: int = 150
    seed: int = 7
    kills: int = 20
    kill_chance: float = 0.2
    throttle_rate: float = 0.05
    fault_rate: float = 0.02
    reset_rate: float = 0.02
    latency_ms: int = 2
    workdir: Path = Path(".flywheel/chaos")
    start: date = START


@dataclass
class World:
    """What one play left behind."""

    deals: Counter[str] = field(default_factory=Counter)
    tasks: Counter[str] = field(default_factory=Counter)
    emails: Counter[str] = field(default_factory=Counter)
    email_companies: dict[str, str] = field(default_factory=dict)
    suspended: set[str] = field(default_factory=set)
    sequences: dict[str, tuple[str, int]] = field(default_factory=dict)
    recorded_sent: dict[str, str] = field(default_factory=dict)
    outbox_ids: set[str] = field(default_factory=set)
    webhook_events: set[str] = field(default_factory=set)
    webhook_keys_done: set[str] = field(default_factory=set)
    processes: int = 0
    deliveries: int = 0
    redeliveries: int = 0
    kills: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)


def at(day: date, moment: clock_time) -> datetime:
    return datetime.combine(day, moment, ROME)


# --- the worker: one function invocation in its own process ------------------------------------------------------


def worker(target: str, instant: str, body: str, headers: str) -> int:
    """Serve one request with the deployed app, on a clock standing at `instant`; print the answer."""
    from functions_framework import create_app

    from flywheel.bootstrap import reset_instance
    from flywheel.clock import FixedClock
    from flywheel.logs import configure as configure_logs

    reset_instance(clock=FixedClock(datetime.fromisoformat(instant)))
    client = create_app(target=target, source=str(MAIN)).test_client()  # type: ignore[no-untyped-call]
    # stdout is this worker's answer to the harness, read only at the end: the function's log entries (which its
    # entry module sends to stdout) go to the workers' log, so a full pipe never blocks a worker mid-run
    configure_logs(stream="stderr", default="json")
    print("ready", flush=True)  # the harness may kill from here on: the request is about to run
    response = client.post("/", data=body.encode(), headers=json.loads(headers))
    print(json.dumps({"status": response.status_code, "body": response.get_json(silent=True)}), flush=True)
    return 0


# --- the harness ---------------------------------------------------------------------------------------------


class Play:
    def __init__(self, plan: Plan, *, chaos: bool) -> None:
        from sandbox.server import SandboxServer

        self.plan = plan
        self.chaos = chaos
        self.folder = plan.workdir / ("chaos" if chaos else "reference")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.state_path = (self.folder / "state.db").resolve()
        self.outbox = (self.folder / "outbox").resolve()
        self.random = random.Random(f"chaos:{plan.seed}")
        self.world = World()
        self.server = SandboxServer(
            port=0,
            companies=plan.companies,
            seed=plan.seed,
            rate_limit=0,
            today=plan.start,
            now=at(plan.start, clock_time(5, 0)),
        ).start()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "HUBSPOT_"))},
            "HUBSPOT_API_BASE": self.server.url,
            "HUBSPOT_ACCESS_TOKEN": self.server.token,
            "HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
            "HUBSPOT_RATE_LIMIT": "0",
            "FLYWHEEL_API_TOKEN": API_TOKEN,
            "FLYWHEEL_STATE": f"sqlite:///{self.state_path}",
            "FLYWHEEL_MAILER": f"outbox://{self.outbox}",
            "FLYWHEEL_NURTURE__COUPON_SECRET": COUPON_SECRET,
            "FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET,
            "FLYWHEEL_MAIL__UNSUBSCRIBE_URL": "https://europe-west1-flywheel-chaos.cloudfunctions.net/unsubscribe",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        self.event_serial = 0
        self.deal_keys: dict[str, str] = {}
        # accounts the generated portal shows suspended already: not Flywheel's doing
        self.suspended_before = {
            r.id
            for r in self.server.store.all_records("companies")
            if r.properties.get("ecommerce_account_status") == "suspended"
        }

    def close(self) -> None:
        self.server.stop()

    def play(self) -> World:
        from flywheel.config import load_settings
        from flywheel.services.registry import due_on
        from sandbox.activity import orders_for_day, place

        settings = load_settings()
        portal = cast("GeneratedPortal", self.server.store.generated)  # the harness's portal is a generated one
        placed: dict[str, date] = {}
        if self.chaos:
            self.server.store.configure(
                throttle_rate=self.plan.throttle_rate,
                fault_rate=self.plan.fault_rate,
                reset_rate=self.plan.reset_rate,
                latency_ms=self.plan.latency_ms,
            )
        for offset in range(self.plan.days):
            day = self.plan.start + timedelta(days=offset)
            self.server.store.clock.pin(at(day, clock_time(0, 5)))
            for order in orders_for_day(portal, day, self.plan.seed, placed):
                deal_id = place(self.server.store, order)
                placed[order.company_id] = day
                self.event_serial += 1
                event = {
                    "eventId": self.event_serial,
                    "subscriptionId": 1,
                    "portalId": 1,
                    "occurredAt": int(at(day, clock_time(0, 5)).timestamp() * 1000),
                    "subscriptionType": "deal.creation",
                    "objectId": int(deal_id),
                }
                self.world.webhook_events.add(str(self.event_serial))
                self._deliver_webhook("nurture_step_webhook", [event], at(day, clock_time(0, 10)))
            for spec, schedule in due_on(day, settings):
                self._deliver_scheduled(spec.name, schedule, day)
            progress = f"{'chaos' if self.chaos else 'reference'}: day {offset + 1}/{self.plan.days}"
            print(f"{progress}, {self.world.processes} processes, {self.world.kills} killed", file=sys.stderr)
        self.server.store.configure(throttle_rate=0, fault_rate=0, reset_rate=0, latency_ms=0)
        self.world.faults = dict(self.server.store.stats().get("faults_injected", {}))
        self._collect()
        return self.world

    # --- deliveries ------------------------------------------------------------------------------------------

    def _deliver_scheduled(self, function: str, schedule: Any, day: date) -> None:
        scheduled = at(day, schedule.at)
        headers = {
            "Content-Type": "application/json",
            "X-Flywheel-Token": API_TOKEN,
            "X-CloudScheduler-JobName": f"flywheel-{function.replace('_', '-')}-{schedule.job}",
            "X-CloudScheduler-ScheduleTime": scheduled.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
        body = json.dumps({"as_of": day.isoformat(), **schedule.body})
        self._deliver(function, body, lambda _moment: headers, scheduled)

    def _deliver_webhook(self, target: str, events: list[dict[str, Any]], moment: datetime) -> None:
        from flywheel.webhooks import sign_v3

        body = json.dumps(events)

        def signed(instant: datetime) -> dict[str, str]:
            timestamp = int(instant.timestamp() * 1000)
            return {
                "Content-Type": "application/json",
                "X-HubSpot-Signature-v3": sign_v3(CLIENT_SECRET, "POST", "http://localhost/", body.encode(), timestamp),
                "X-HubSpot-Request-Timestamp": str(timestamp),
            }

        self._deliver(target, body, signed, moment)

    def _deliver(self, target: str, body: str, headers_at: Any, first: datetime) -> None:
        """Deliver until a 200, as the scheduler and HubSpot retry; in chaos, twice from the start."""
        answered = False
        for attempt in range(MAX_ATTEMPTS):
            moment = first + attempt * RETRY_STEP
            self.server.store.clock.pin(moment)
            copies = 2 if self.chaos and attempt == 0 else 1
            together = copies == 2 and self.random.random() < 0.5
            statuses = self._spawn(target, body, headers_at(moment), moment, copies, together)
            self.world.deliveries += copies
            self.world.redeliveries += attempt > 0
            answered = answered or 200 in statuses
            if answered:
                return
        raise RuntimeError(f"{target}: no delivery answered 200 after {MAX_ATTEMPTS} attempts: a lost trigger")

    def _spawn(
        self, target: str, body: str, headers: dict[str, str], moment: datetime, copies: int, together: bool
    ) -> list[int]:
        command = [
            sys.executable,
            "-m",
            "sandbox.chaos",
            "worker",
            target,
            moment.isoformat(),
            body,
            json.dumps(headers),
        ]
        statuses: list[int] = []
        if together:
            processes = [self._start(command) for _ in range(copies)]
            statuses = [self._finish(process) for process in processes]
        else:
            for _ in range(copies):
                statuses.append(self._finish(self._start(command)))
        return statuses

    def _start(self, command: Sequence[str]) -> subprocess.Popen[str]:
        self.world.processes += 1
        log = (self.folder / "workers.log").open("a")
        return subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=log, text=True, env=self.env, cwd=ROOT)

    def _finish(self, process: subprocess.Popen[str]) -> int:
        """Wait for the worker's answer, or kill it with SIGKILL at a random moment after it starts working."""
        assert process.stdout is not None
        ready = process.stdout.readline().strip() == "ready"
        if self.chaos and ready and self.random.random() < self.plan.kill_chance:
            time.sleep(self.random.uniform(0.0, 0.25))
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                self.world.kills += 1
                self.world.statuses[-9] += 1
                return -9
        # read through the same buffered stream as the "ready" line (communicate() with a timeout reads the raw
        # pipe and would lose what that stream already holds)
        output = process.stdout.read()
        process.wait()
        try:
            status = int(json.loads(output.strip().splitlines()[-1])["status"])
        except (ValueError, IndexError, KeyError) as error:
            status = -1  # died on its own: counts as no answer, the caller delivers again
            with (self.folder / "workers.log").open("a") as log:
                log.write(f"no answer (exit {process.returncode}, {error!r}): {output[-300:]!r}\n")
        self.world.statuses[status] += 1
        return status

    # --- what the play left behind -----------------------------------------------------------------------------

    def _stable(self, key: str) -> str:
        return ":".join(f"deal[{self.deal_keys[part]}]" if part in self.deal_keys else part for part in key.split(":"))

    def _collect(self) -> None:
        from flywheel.adapters.mailers import deliveries

        store = self.server.store
        key_name = "flywheel_key"
        # HubSpot numbers records in the order it creates them, which faults and retries reshuffle: a key naming a
        # deal Flywheel created is compared by that deal's own key, not by its id
        self.deal_keys = {
            r.id: r.properties[key_name] for r in store.all_records("deals") if r.properties.get(key_name)
        }
        for object_type, counter in (("deals", self.world.deals), ("tasks", self.world.tasks)):
            for record in store.all_records(object_type):
                key = record.properties.get(key_name)
                if key:
                    counter[self._stable(key)] += 1
        for delivery in deliveries(self.outbox):
            self.world.emails[self._stable(delivery["key"])] += 1
        for path in self.outbox.glob("msg-*.json"):
            message = json.loads(path.read_text(encoding="utf-8"))
            self.world.outbox_ids.add(message["message_id"])
            self.world.email_companies[self._stable(message["key"])] = f"{message['company_id']}:{message['template']}"
        for record in store.all_records("companies"):
            if (
                record.properties.get("ecommerce_account_status") == "suspended"
                and record.id not in self.suspended_before
            ):
                self.world.suspended.add(record.id)
        with sqlite3.connect(self.state_path) as db:
            for key, status, result in db.execute("SELECT key, status, result FROM effects"):
                if status == "done" and result:
                    message_id = json.loads(result).get("message_id")
                    if message_id:
                        self.world.recorded_sent[key] = message_id
                if key.startswith("webhook:") and status == "done":
                    self.world.webhook_keys_done.add(key)
            for kind, sequence_id, status, step in db.execute("SELECT kind, id, status, step FROM sequences"):
                self.world.sequences[f"{kind}:{sequence_id}"] = (status, step)


def check(reference: World, chaos: World) -> dict[str, Any]:
    """The guarantees, as counts; `problems` lists every breach."""
    problems: list[str] = []
    duplicates = 0
    lost = 0
    for what, ours, theirs in (
        ("deal", chaos.deals, reference.deals),
        ("task", chaos.tasks, reference.tasks),
        ("email", chaos.emails, reference.emails),
    ):
        for key, count in sorted(ours.items()):
            if count > 1:
                duplicates += count - 1
                problems.append(f"{what} {key} exists {count} times")
        for key in sorted(set(theirs) - set(ours)):
            lost += 1
            problems.append(f"{what} {key} of the reference is missing")
        for key in sorted(set(ours) - set(theirs)):
            problems.append(f"{what} {key} exists but not in the reference")
        for key, count in sorted(theirs.items()):
            if count > 1:
                problems.append(f"the reference has {what} {key} {count} times")
    phantom = sorted(key for key, message in chaos.recorded_sent.items() if message not in chaos.outbox_ids)
    problems += [f"email {key} recorded as sent but not in the outbox" for key in phantom]
    fifth = {value.split(":", 1)[0] for value in chaos.email_companies.values() if value.endswith(":nurture_5")}
    unnoticed = sorted(chaos.suspended - fifth)
    problems += [f"company {c} suspended without its fifth email" for c in unnoticed]
    if chaos.suspended != reference.suspended:
        problems.append(f"suspended companies differ: {sorted(chaos.suspended ^ reference.suspended)}")
    lost_events = sorted(e for e in chaos.webhook_events if f"webhook:nurture_step:{e}" not in chaos.webhook_keys_done)
    problems += [f"webhook event {e} never processed" for e in lost_events]
    differing = sorted(k for k in reference.sequences if reference.sequences[k] != chaos.sequences.get(k))
    problems += [f"sequence {k}: {chaos.sequences.get(k)} instead of {reference.sequences[k]}" for k in differing]
    return {
        "effects_in_reference": {
            "deals": len(reference.deals),
            "tasks": len(reference.tasks),
            "emails": len(reference.emails),
        },
        "duplicates": duplicates,
        "lost_effects": lost + len(lost_events),
        "emails_recorded_not_in_outbox": len(phantom),
        "suspended_without_fifth_email": len(unnoticed),
        "webhook_events": len(chaos.webhook_events),
        "webhook_events_lost": len(lost_events),
        "processes": chaos.processes,
        "deliveries": chaos.deliveries,
        "redeliveries": chaos.redeliveries,
        "kills": chaos.kills,
        "faults_injected": chaos.faults,
        "answers": {str(k): v for k, v in sorted(chaos.statuses.items())},
        "problems": problems,
    }


def run(plan: Plan) -> dict[str, Any]:
    started = time.monotonic()
    worlds = []
    for chaos in (False, True):
        play = Play(plan, chaos=chaos)
        try:
            worlds.append(play.play())
        finally:
            play.close()
    report = check(*worlds)
    report["seconds"] = round(time.monotonic() - started, 1)
    report["plan"] = {
        "days": plan.days,
        "companies": plan.companies,
        "seed": plan.seed,
        "throttle_rate": plan.throttle_rate,
        "fault_rate": plan.fault_rate,
        "reset_rate": plan.reset_rate,
        "latency_ms": plan.latency_ms,
        "kill_chance": plan.kill_chance,
    }
    if worlds[1].kills < plan.kills:
        report["problems"].append(f"only {worlds[1].kills} kills, fewer than the {plan.kills} asked for")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["worker"]:
        return worker(*arguments[1:5])
    parser = argparse.ArgumentParser(prog="python -m sandbox.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--companies", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kills", type=int, default=20, help="at least this many SIGKILLs, or the run fails")
    parser.add_argument("--kill-chance", type=float, default=0.2)
    parser.add_argument("--workdir", default=".flywheel/chaos")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = parser.parse_args(arguments)
    plan = Plan(
        days=args.days,
        companies=args.companies,
        seed=args.seed,
        kills=args.kills,
        kill_chance=args.kill_chance,
        workdir=Path(args.workdir),
    )
    report = run(plan)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, value in report.items():
            if name != "problems":
                print(f"{name}: {value}")
        for problem in report["problems"]:
            print(f"PROBLEM: {problem}")
        print("chaos: OK" if not report["problems"] else f"chaos: {len(report['problems'])} problems")
    return 0 if not report["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
