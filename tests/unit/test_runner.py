"""The run's as_of window and the one mapping of errors to HTTP statuses and exit codes."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from flywheel.adapters.mailers import OutboxMailer
from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.memory_crm import MemoryCrm
from flywheel.clock import FixedClock
from flywheel.config import ConfigurationError, Settings
from flywheel.domain.models import RunRequest
from flywheel.ports import CrmError
from flywheel.runner import AsOfOutOfRange, bounded, failure_of
from flywheel.services.context import Ports
from flywheel.services.registry import UnknownFunction
from flywheel.webhooks import InvalidSignature


def ports_on(today: date, tmp_path: Path, settings: Settings | None = None) -> Ports:
    clock = FixedClock.on(today)
    return Ports(
        MemoryCrm.with_default_schema(), MemoryStateStore(), OutboxMailer(tmp_path), clock, settings or Settings()
    )


def request(as_of: date | None, *, dry_run: bool = False) -> RunRequest:
    return RunRequest(as_of=as_of, dry_run=dry_run)


@pytest.mark.parametrize("offset", [-31, 0, 1])
def test_a_run_that_changes_things_may_stand_from_31_days_ago_to_tomorrow(
    today: date, tmp_path: Path, offset: int
) -> None:
    as_of = today + timedelta(days=offset)

    assert bounded(request(as_of), ports_on(today, tmp_path)).as_of == as_of


@pytest.mark.parametrize("offset", [-32, 2, 15])
def test_a_run_that_changes_things_may_not_stand_further_away(today: date, tmp_path: Path, offset: int) -> None:
    with pytest.raises(AsOfOutOfRange, match="outside the range"):
        bounded(request(today + timedelta(days=offset)), ports_on(today, tmp_path))


def test_the_year_one_is_refused_naming_the_allowed_range(today: date, tmp_path: Path) -> None:
    earliest, latest = today - timedelta(days=31), today + timedelta(days=1)

    with pytest.raises(AsOfOutOfRange, match=f"0001-01-01 .* {earliest.isoformat()} to {latest.isoformat()}"):
        bounded(request(date(1, 1, 1)), ports_on(today, tmp_path))


def test_without_an_as_of_a_run_stands_on_today(today: date, tmp_path: Path) -> None:
    assert bounded(request(None), ports_on(today, tmp_path)).as_of == today


@pytest.mark.parametrize(("as_of", "allowed"), [(date(2000, 1, 1), True), (date(1999, 12, 31), False)])
def test_a_dry_run_may_look_back_to_2000(today: date, tmp_path: Path, as_of: date, allowed: bool) -> None:
    if allowed:
        assert bounded(request(as_of, dry_run=True), ports_on(today, tmp_path)).as_of == as_of
    else:
        with pytest.raises(AsOfOutOfRange):
            bounded(request(as_of, dry_run=True), ports_on(today, tmp_path))


def test_a_dry_run_may_look_a_year_ahead_and_no_further(today: date, tmp_path: Path) -> None:
    ports = ports_on(today, tmp_path)

    bounded(request(today + timedelta(days=366), dry_run=True), ports)
    with pytest.raises(AsOfOutOfRange):
        bounded(request(today + timedelta(days=367), dry_run=True), ports)


def test_the_window_of_a_run_that_changes_things_is_configurable(today: date, tmp_path: Path) -> None:
    ports = ports_on(today, tmp_path, Settings(as_of_past_days=90, as_of_future_days=0))

    bounded(request(today - timedelta(days=90)), ports)
    with pytest.raises(AsOfOutOfRange):
        bounded(request(today + timedelta(days=1)), ports)


def test_errors_map_once_to_a_status_and_an_exit_code() -> None:
    try:
        RunRequest.model_validate({"dry_run": "yes"})
    except ValidationError as error:
        invalid = error

    mapped = {
        name: failure_of(error)
        for name, error in {
            "configuration": ConfigurationError("FLYWHEEL_STATE: expected sqlite:///PATH"),
            "validation": invalid,
            "as_of": AsOfOutOfRange("as_of out of range"),
            "signature": InvalidSignature("stale timestamp"),
            "unknown": UnknownFunction("unknown function 'x'"),
            "hubspot_down": CrmError("503", status=503, transient=True),
            "hubspot_refused": CrmError("403", status=403),
        }.items()
    }

    assert {name: (f.status, f.exit_code) for name, f in mapped.items() if f} == {
        "configuration": (500, 2),
        "validation": (400, 2),
        "as_of": (400, 2),
        "signature": (401, 2),
        "unknown": (404, 2),
        "hubspot_down": (503, 1),
        "hubspot_refused": (502, 1),
    }
    assert mapped["configuration"] and mapped["configuration"].message.startswith("configuration error: ")
    assert failure_of(RuntimeError("a bug")) is None
