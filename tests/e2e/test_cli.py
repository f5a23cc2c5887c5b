"""The `flywheel` command as a user runs it: a separate process, configured by the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox


def flywheel(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flywheel.cli", *args],
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
    portal: Any, flywheel_env: dict[str, str], yesterday: str
) -> None:
    before = portal.store.stats()

    done = flywheel("run", "sirank_recalc", "--as-of", yesterday, "--dry-run", "--json", env=flywheel_env)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["function"] == "sirank_recalc"
    assert result["as_of"] == yesterday
    assert result["dry_run"] is True
    updates = [a for a in result["actions"] if a["type"] == "update_company"]
    assert updates, "a freshly generated portal has no SiRank yet: every company with orders needs one"
    assert {"sirank", "last_purchase_date", "retention_segment"} & set(updates[0]["properties"])
    assert writes(portal.store.stats()) == writes(before)


def test_every_body_field_is_an_option(flywheel_env: dict[str, str]) -> None:
    done = flywheel("run", "sirank_recalc", "--help", env=flywheel_env)

    assert done.returncode == 0
    for option in ("--as-of", "--dry-run", "--mode"):
        assert option in done.stdout


def test_an_unknown_function_is_a_clear_error(flywheel_env: dict[str, str]) -> None:
    done = flywheel("run", "no_such_function", env=flywheel_env)

    assert done.returncode == 2
    assert "unknown function 'no_such_function'" in done.stderr


def test_a_bad_option_value_is_refused_before_anything_runs(portal: Any, flywheel_env: dict[str, str]) -> None:
    before = portal.store.stats()["calls"]["total"]

    done = flywheel("run", "sirank_recalc", "--mode", "sometimes", env=flywheel_env)

    assert done.returncode == 2
    assert portal.store.stats()["calls"]["total"] == before


def test_a_wrong_token_is_reported_as_a_hubspot_failure(flywheel_env: dict[str, str]) -> None:
    done = flywheel("run", "cold_segment", "--json", env={**flywheel_env, "HUBSPOT_ACCESS_TOKEN": "wrong"})

    assert done.returncode == 1
    assert "HubSpot" in done.stderr
    assert done.stdout == ""
