"""The `flywheel` command as a user runs it: a separate process, configured by the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox

# `python -m flywheel.cli`, with the process-wide instance standing on the test's clock instead of the real one
_ON_THE_TESTS_CLOCK = (
    "import sys; from datetime import datetime; from flywheel.bootstrap import reset_instance; "
    "from flywheel.clock import FixedClock; reset_instance(clock=FixedClock(datetime.fromisoformat(sys.argv.pop(1)))); "
    "from flywheel.cli import entry; sys.exit(entry())"
)


def flywheel(*args: str, env: dict[str, str], now: datetime) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _ON_THE_TESTS_CLOCK, now.isoformat(), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def writes(stats: dict[str, Any]) -> int:
    by_endpoint = stats["calls"]["by_endpoint"]
    return sum(
        n
        for endpoint, n in by_endpoint.items()
        if not endpoint.startswith("GET") and "search" not in endpoint and "batch/read" not in endpoint
    )


def test_a_dry_run_prints_one_json_object_and_changes_nothing(
    portal: Any, flywheel_env: dict[str, str], yesterday: str, now: datetime
) -> None:
    before = portal.store.stats()

    done = flywheel("run", "sirank_recalc", "--as-of", yesterday, "--dry-run", "--json", env=flywheel_env, now=now)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["function"] == "sirank_recalc"
    assert result["as_of"] == yesterday
    assert result["dry_run"] is True
    updates = [a for a in result["actions"] if a["type"] == "update_company"]
    assert updates, "a freshly generated portal has no SiRank yet: every company with orders needs one"
    assert {"sirank", "last_purchase_date", "retention_segment"} & set(updates[0]["properties"])
    assert writes(portal.store.stats()) == writes(before)


def test_every_body_field_is_an_option(flywheel_env: dict[str, str], now: datetime) -> None:
    done = flywheel("run", "sirank_recalc", "--help", env=flywheel_env, now=now)

    assert done.returncode == 0
    for option in ("--as-of", "--dry-run", "--mode"):
        assert option in done.stdout


def test_an_unknown_function_is_a_clear_error(flywheel_env: dict[str, str], now: datetime) -> None:
    done = flywheel("run", "no_such_function", env=flywheel_env, now=now)

    assert done.returncode == 2
    assert "unknown function 'no_such_function'" in done.stderr


def test_a_bad_option_value_is_refused_before_anything_runs(
    portal: Any, flywheel_env: dict[str, str], now: datetime
) -> None:
    before = portal.store.stats()["calls"]["total"]

    done = flywheel("run", "sirank_recalc", "--mode", "sometimes", env=flywheel_env, now=now)

    assert done.returncode == 2
    assert portal.store.stats()["calls"]["total"] == before


def test_a_wrong_token_is_reported_as_a_hubspot_failure(flywheel_env: dict[str, str], now: datetime) -> None:
    done = flywheel("run", "cold_segment", "--json", env={**flywheel_env, "HUBSPOT_ACCESS_TOKEN": "wrong"}, now=now)

    assert done.returncode == 1
    assert "HubSpot" in done.stderr
    assert done.stdout == ""


def on(today: date, day: str) -> str:
    """An ISO date given as itself or as days from today ("+2", "-31")."""
    return (today + timedelta(days=int(day))).isoformat() if day[0] in "+-" else day


@pytest.mark.parametrize(
    ("as_of", "dry_run", "allowed"),
    [
        ("0001-01-01", False, ("-31", "+1")),
        ("+2", False, ("-31", "+1")),
        ("1999-12-31", True, ("2000-01-01", "+366")),
    ],
    ids=["year-one", "two-days-ahead", "dry-run-before-2000"],
)
def test_an_as_of_out_of_range_exits_2_with_the_allowed_range_and_changes_nothing(
    portal: Any,
    flywheel_env: dict[str, str],
    now: datetime,
    today: date,
    as_of: str,
    dry_run: bool,
    allowed: tuple[str, str],
) -> None:
    before = portal.store.stats()["calls"]["total"]
    options = ["--as-of", on(today, as_of), *(["--dry-run"] if dry_run else [])]

    done = flywheel("run", "sirank_recalc", *options, env=flywheel_env, now=now)

    assert done.returncode == 2
    assert f"{on(today, allowed[0])} to {on(today, allowed[1])}" in done.stderr
    assert portal.store.stats()["calls"]["total"] == before


def test_a_short_coupon_secret_exits_2_naming_the_setting_never_its_value(
    portal: Any, flywheel_env: dict[str, str], now: datetime
) -> None:
    env = {**flywheel_env, "FLYWHEEL_NURTURE__COUPON_SECRET": "too-short-a-secret"}

    done = flywheel("run", "nurture_step", env=env, now=now)

    assert done.returncode == 2
    assert "configuration error" in done.stderr and "FLYWHEEL_NURTURE__COUPON_SECRET" in done.stderr
    assert "too-short-a-secret" not in done.stderr + done.stdout


def test_a_setting_that_does_not_parse_exits_2_naming_the_variable(flywheel_env: dict[str, str], now: datetime) -> None:
    done = flywheel(
        "run", "cold_segment", "--dry-run", env={**flywheel_env, "FLYWHEEL_AS_OF_PAST_DAYS": "a month"}, now=now
    )

    assert done.returncode == 2
    assert "configuration error" in done.stderr and "FLYWHEEL_AS_OF_PAST_DAYS" in done.stderr
    assert "a month" not in done.stderr
