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
from flywheel.services import cold, nurture, sirank
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


class UnknownFunction(NotFound):
    pass


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
    """The deployed functions' names: one per function, and FUNCTION_webhook for each webhook."""
    names = []
    for spec in FUNCTIONS:
        names.append(spec.name)
        if spec.webhook is not None:
            names.append(f"{spec.name}_webhook")
    return names


def due_on(day: date, settings: Settings) -> list[tuple[FunctionSpec, Schedule]]:
    """What the schedules start on `day`, in the order of their times (the demo and the chaos run play a day at a
    time)."""
    due = [(spec, s) for spec in functions().values() for s in spec.schedules(settings) if s.is_due(day)]
    return sorted(due, key=lambda pair: pair[1].at)
