"""The short chaos run of `make test` (`make chaos` plays 30 days): a faulty portal, every trigger delivered twice,
functions killed with SIGKILL, and afterwards every effect exactly once, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.chaos import Plan, run

pytestmark = pytest.mark.sandbox


def test_a_short_chaos_run_ends_with_every_effect_exactly_once(tmp_path: Path) -> None:
    plan = Plan(days=4, companies=120, seed=11, kills=3, kill_chance=0.35, workdir=tmp_path)

    report = run(plan)

    assert report["problems"] == []
    assert report["duplicates"] == 0 and report["lost_effects"] == 0
    assert report["kills"] >= 3
    assert sum(report["faults_injected"].values()) > 0
    assert sum(report["effects_in_reference"].values()) > 0, "a chaos run with no effects proves nothing"
