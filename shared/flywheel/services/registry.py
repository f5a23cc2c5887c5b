"""The functions Flywheel offers: one explicit list, read by the HTTP layer, the CLI, functions/main.py, the Cloud
Scheduler jobs (infra/scheduler.py), the demo and the chaos run. Nothing else repeats it.

A function is its name, its request model, its run, its webhook (if HubSpot calls it) and its schedules. A
schedule is a real one (hourly, daily at a time, weekly on a weekday, monthly on a day, in Europe/Rome): the
Scheduler jobs are its cron lines, and the demo, playing a day at a time, runs what is due that day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from functools import cache
from typing import Any, Literal

from flywheel.config import Settings
from flywheel.domain.models import RunRequest, RunResult
from flywheel.errors import NotFound
from flywheel.services import cart_watch, cashback, cold, dp_progress, fido_push, nurture, sirank
from flywheel.services.context import Ports

Run = Callable[[Any, Ports], RunResult]
Webhook = Callable[[list[dict[str, Any]], Ports], RunResult]


@dataclass(frozen=True)
class Schedule:
    """When Cloud Scheduler starts a run, on Europe/Rome time."""

    job: str  # the Scheduler job's id suffix: flywheel-<function>-<job>
    every: Literal["hour", "day", "week", "month"]
    at: time = time(6, 0)  # for "hour", only the minute counts
    weekday: int | None = None  # 0 = Monday, for "week"
    day: int | None = None  # 1..28, for "month" (no month lacks it)
    body: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if (self.every == "week") != (self.weekday is not None) or (self.every == "month") != (self.day is not None):
            raise ValueError(f"schedule {self.job}: a weekday goes with 'week', a day with 'month'")
        if self.day is not None and not 1 <= self.day <= 28:
            raise ValueError(f"schedule {self.job}: day {self.day} is not in every month")

    def cron(self) -> str:
        minute, hour = self.at.minute, self.at.hour
        if self.every == "hour":
            return f"{minute} * * * *"
        if self.every == "day":
            return f"{minute} {hour} * * *"
        if self.every == "week":
            assert self.weekday is not None
            return f"{minute} {hour} * * {(self.weekday + 1) % 7}"  # cron counts from Sunday = 0
        return f"{minute} {hour} {self.day} * *"

    def is_due(self, day: date) -> bool:
        """Whether the schedule fires on `day` (hourly and daily ones fire every day)."""
        if self.every == "week":
            return day.weekday() == self.weekday
        if self.every == "month":
            return day.day == self.day
        return True


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    summary: str  # one line, for `flywheel functions`
    request_model: type[RunRequest]
    run: Run
    schedules: Callable[[Settings], tuple[Schedule, ...]]
    webhook: Webhook | None = None
    # summary keys whose counts add up over runs (nested counts included), as opposed to one run's snapshot
    summary_totals: tuple[str, ...] = ()
    # what infra.deploy gives the function and its webhook (Cloud Run units); a run past the timeout resumes from
    # its checkpoint on the next trigger, and the Scheduler attempt deadline matches 540 s
    memory: str = "512Mi"
    timeout_seconds: int = 540


class UnknownFunction(NotFound):
    pass


@dataclass(frozen=True)
class EndpointSpec:
    """An HTTP entry that is not a function run: a page people open from an email, or a question another system
    asks. functions/main.py, the HTTP layer (flywheel.http.ENDPOINT_HANDLERS) and the deploy lines read this."""

    name: str  # the entry point
    summary: str
    # deployed --allow-unauthenticated: opened from an email, so guarded by its signed link instead of IAM
    public: bool
    answers: Literal["html", "json"]
    # an endpoint answers one request at once, without a portal-wide read
    memory: str = "256Mi"
    timeout_seconds: int = 60


def _sirank_schedules(settings: Settings) -> tuple[Schedule, ...]:
    # SiRank runs first each night: the retention functions read what it writes
    return (
        Schedule("daily", "day", time(2, 30), description="SiRank, incremental"),
        Schedule(
            "weekly-full",
            "week",
            time(1, 0),
            weekday=settings.sirank.full_run_weekday,
            body={"mode": "full"},
            description="SiRank, full run that rebuilds the order ledger",
        ),
    )


def _cold_schedules(_: Settings) -> tuple[Schedule, ...]:
    return (Schedule("daily", "day", time(6, 0), description="Wake Up pipeline and recontact tasks"),)


def _nurture_schedules(_: Settings) -> tuple[Schedule, ...]:
    return (Schedule("daily", "day", time(8, 0), description="Lukewarm 5-email sequence"),)


def _cashback_schedules(_: Settings) -> tuple[Schedule, ...]:
    # in office hours, so a customer reading the email can call the owner it names
    return (Schedule("daily", "day", time(9, 30), description="Cashback reminder (on the 21st) and threshold nudge"),)


def _dp_progress_schedules(_: Settings) -> tuple[Schedule, ...]:
    # after sirank_recalc: the progress nudge reads the R12 of its ledger
    return (Schedule("daily", "day", time(10, 0), description="D&P level congratulations and progress nudge"),)


def _cart_watch_schedules(_: Settings) -> tuple[Schedule, ...]:
    return (Schedule("hourly", "hour", time(0, 5), description="Abandoned carts: reminders and owner alerts"),)


def _fido_push_schedules(settings: Settings) -> tuple[Schedule, ...]:
    # before the working day starts, so the digest is waiting on Monday morning
    return (
        Schedule(
            "weekly",
            "week",
            time(7, 30),
            weekday=settings.fido.weekday,
            description="Available credit (fido) digest per owner",
        ),
    )


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name=sirank.FUNCTION,
        summary="SiRank, last purchase date and retention segment of every company",
        request_model=sirank.Request,
        run=sirank.run,
        schedules=_sirank_schedules,
        summary_totals=sirank.SUMMARY_TOTALS,
    ),
    FunctionSpec(
        name=cold.FUNCTION,
        summary="Wake Up pipeline for cold customers, recontact tasks for valuable ones gone quiet",
        request_model=cold.Request,
        run=cold.run,
        schedules=_cold_schedules,
        webhook=cold.webhook,
        summary_totals=cold.SUMMARY_TOTALS,
    ),
    FunctionSpec(
        name=nurture.FUNCTION,
        summary="Five emails 15 days apart to lukewarm customers, ended by their first order",
        request_model=nurture.Request,
        run=nurture.run,
        schedules=_nurture_schedules,
        webhook=nurture.webhook,
        summary_totals=nurture.SUMMARY_TOTALS,
    ),
    FunctionSpec(
        name=cashback.FUNCTION,
        summary="Cashback reminder on the 21st, nudge toward the cashback threshold from 3,500 EUR this month",
        request_model=cashback.Request,
        run=cashback.run,
        schedules=_cashback_schedules,
        summary_totals=cashback.SUMMARY_TOTALS,
    ),
    FunctionSpec(
        name=dp_progress.FUNCTION,
        summary="D&P loyalty: congratulations on a new level, a nudge near the next level's threshold",
        request_model=dp_progress.Request,
        run=dp_progress.run,
        schedules=_dp_progress_schedules,
        summary_totals=dp_progress.SUMMARY_TOTALS,
    ),
    FunctionSpec(
        name=cart_watch.FUNCTION,
        summary="Reminder for carts left 24 hours, an alert to the owner above 2,000 EUR",
        request_model=cart_watch.Request,
        run=cart_watch.run,
        schedules=_cart_watch_schedules,
        webhook=cart_watch.webhook,
        summary_totals=cart_watch.SUMMARY_TOTALS,
    ),
    FunctionSpec(
        name=fido_push.FUNCTION,
        summary="One weekly task per owner: their customers with available credit (fido) to push",
        request_model=fido_push.Request,
        run=fido_push.run,
        schedules=_fido_push_schedules,
        summary_totals=fido_push.SUMMARY_TOTALS,
    ),
)


ENDPOINTS: tuple[EndpointSpec, ...] = (
    EndpointSpec(
        name="unsubscribe",
        summary="The signed link of every email: a confirmation page (GET), the opt-out (POST, RFC 8058 one-click)",
        public=True,
        answers="html",
    ),
    EndpointSpec(
        name="coupon_check",
        summary="Whether a nurture coupon code is valid for a company, and until when (for the e-commerce site)",
        public=False,
        answers="json",
    ),
    EndpointSpec(
        name="report",
        summary="The reps' dashboard: retention KPIs, companies, products, attribution (GET, ?format=json)",
        public=False,
        answers="html",
        # reads every company and deal of the portal, as a full SiRank run does
        memory="512Mi",
        timeout_seconds=540,
    ),
)


@cache
def functions() -> dict[str, FunctionSpec]:
    """The functions by name, in the order of FUNCTIONS (SiRank first: the others read what it writes)."""
    return {spec.name: spec for spec in FUNCTIONS}


def get(name: str) -> FunctionSpec:
    try:
        return functions()[name]
    except KeyError:
        known = ", ".join(functions()) or "none"
        raise UnknownFunction(f"unknown function {name!r} (known: {known})") from None


def entry_points() -> list[str]:
    """The deployed functions' names: one per function, FUNCTION_webhook for each webhook, then the endpoints."""
    names = []
    for spec in FUNCTIONS:
        names.append(spec.name)
        if spec.webhook is not None:
            names.append(f"{spec.name}_webhook")
    return names + [endpoint.name for endpoint in ENDPOINTS]


def public_entry_points() -> frozenset[str]:
    """Entry points reachable without a Google identity: HubSpot's webhooks (signed v3) and the public endpoints
    (signed links). Everything else is IAM-only."""
    webhooks = {f"{spec.name}_webhook" for spec in FUNCTIONS if spec.webhook is not None}
    return frozenset(webhooks | {endpoint.name for endpoint in ENDPOINTS if endpoint.public})


def due_on(day: date, settings: Settings) -> list[tuple[FunctionSpec, Schedule]]:
    """What the schedules start on `day`, in the order of their times (the demo and the chaos run play a day at a
    time)."""
    due = [(spec, s) for spec in functions().values() for s in spec.schedules(settings) if s.is_due(day)]
    return sorted(due, key=lambda pair: pair[1].at)
