"""`make demo` in miniature: the same command on a small portal and fewer days."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from flywheel.config import Settings
from flywheel.services.registry import due_on, functions

pytestmark = pytest.mark.sandbox


def test_the_demo_runs_every_function_and_ends_with_its_summary(tmp_path: Path, today: date) -> None:
    command = ["demo", "--companies", "250", "--days", "20", "--workdir", str(tmp_path), "--start", str(today)]
    done = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", *command],
        env={k: v for k, v in os.environ.items() if not k.startswith(("FLYWHEEL_", "HUBSPOT_"))},
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.rstrip().endswith("Demo finished.")
    days = [today + timedelta(days=n) for n in range(20)]
    for name in functions():
        # every schedule due on the 20 days: daily (and hourly) ones each day, SiRank's weekly full run on top of its
        # daily one, weekly ones on their weekday
        due = sum(1 for day in days for spec, _ in due_on(day, Settings()) if spec.name == name)
        runs = re.search(rf"^{name}: (\d+) runs", done.stdout, re.MULTILINE)
        assert runs is not None and int(runs.group(1)) == due > 0, f"{name} missing from the summary"
    assert "day  20/20" in done.stderr, "progress is shown while the demo runs"
    emails = len(list((tmp_path / "outbox").glob("*.eml")))
    reported = re.search(r"Emails in the outbox: ([\d,]+)", done.stdout)
    assert reported is not None
    assert emails == int(reported.group(1).replace(",", "")) > 0
    # it ends with the reps' dashboard of the last simulated day, written where it says
    page = re.search(r"dashboard as of the last simulated day: (\S+)", done.stdout)
    assert page is not None and Path(page.group(1)) == (tmp_path / "report" / "index.html").resolve()
    written = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert written["as_of"] == str(days[-1])
    assert written["kpis"]["active_customers"] > 0
    assert sum(flow["last_interaction"]["orders"] for flow in written["attribution"]["flows"].values()) > 0
