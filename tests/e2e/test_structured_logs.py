"""What a deployed function writes to Cloud Logging: the real `functions-framework` server (gunicorn) serving
functions/main.py in its own process, on a sandbox portal. Every line it prints on stdout is a JSON entry with a
severity Cloud Logging knows; each run leaves one summary entry with its counts and labels; the trace header of a
request reaches its entries; no address of the portal's contacts or owners appears anywhere."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flywheel.config import NurtureRules
from flywheel.logs import LABELS_FIELD, SAMPLED_FIELD, SEVERITIES, SPAN_FIELD, SUMMARY_EVENT, TRACE_FIELD
from tests.e2e.http_kit import MAIN

pytestmark = pytest.mark.sandbox

PROJECT = "flywheel-e2e"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLOUD_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
# functions-framework's own command line, in a process whose Flywheel instance stands on the test's clock
_SERVE_ON_THE_TESTS_CLOCK = (
    "import sys; from datetime import datetime; from flywheel.bootstrap import reset_instance; "
    "from flywheel.clock import FixedClock; reset_instance(clock=FixedClock(datetime.fromisoformat(sys.argv.pop(1)))); "
    "from functions_framework._cli import _cli; _cli()"
)


@pytest.fixture
def portal(sandbox_factory: Any, today: date) -> Any:
    """A generated portal, plus one company that turns lukewarm today with a consenting contact: the real run
    emails that contact, so its address passes through the run."""
    portal = sandbox_factory(companies=60, seed=3)
    last_order = today - timedelta(days=NurtureRules().start_days)
    company = portal.store.create_object(
        "companies", {"name": "Galli Informatica S.r.l.", "last_purchase_date": last_order.isoformat()}
    )
    portal.store.create_object(
        "contacts",
        {
            "email": "laura.galli@galli-informatica.it",
            "firstname": "Laura",
            "lastname": "Galli",
            "hs_email_optout": "false",
            "hs_legal_basis": "Legitimate interest – existing customer",
        },
        [("companies", company)],
    )
    return portal


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]

    def post(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request("POST", "/", json.dumps(body), {"Content-Type": "application/json", **headers})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["", "true"], ids=["plain", "LOG_EXECUTION_ID"])
def execution_id_logging(request: pytest.FixtureRequest) -> str:
    """Cloud Functions may set LOG_EXECUTION_ID: functions-framework then wraps stdout during each request."""
    return str(request.param)


@pytest.fixture
def output(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "stdout.log", tmp_path / "stderr.log"


@pytest.fixture
def served(
    flywheel_env: dict[str, str], now: datetime, output: tuple[Path, Path], execution_id_logging: str
) -> Iterator[Served]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("FLYWHEEL_LOG_FORMAT", "LOG_EXECUTION_ID")}
    env |= {**flywheel_env, "GOOGLE_CLOUD_PROJECT": PROJECT, "PYTHONUNBUFFERED": "1"}
    if execution_id_logging:
        env["LOG_EXECUTION_ID"] = execution_id_logging
    stdout_path, stderr_path = output
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        command = [sys.executable, "-c", _SERVE_ON_THE_TESTS_CLOCK, now.isoformat()]
        command += ["--target", "nurture_step", "--source", MAIN, "--host", "127.0.0.1", "--port", str(port)]
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    try:
        wait_until_listening(port, process, stderr_path)
        yield Served(port, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_listening(port: int, process: subprocess.Popen[bytes], stderr: Path) -> None:
    # a readiness poll, not a timing assertion: the bound only ends a server that never starts
    for _ in range(600):
        if process.poll() is not None:
            pytest.fail(f"functions-framework exited ({process.returncode}): {stderr.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail("functions-framework did not start listening")


def entries_of(stdout: Path) -> list[dict[str, Any]]:
    lines = stdout.read_text(encoding="utf-8").splitlines()
    assert lines, "the function wrote nothing to stdout"
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line, not only the ones that look like JSON
        assert isinstance(entry, dict), line
        assert entry.get("severity") in SEVERITIES, line
        assert isinstance(entry.get("message"), str), line
        entries.append(entry)
    return entries


def of_run(entries: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    return [e for e in entries if e.get(LABELS_FIELD, {}).get("run_id") == run_id]


def personal_data(portal: Any) -> set[str]:
    """Every address and full name of the portal's contacts and owners."""
    found: set[str] = set()
    for contact in portal.store.all_records("contacts"):
        properties = contact.properties
        found.add(properties.get("email") or "")
        found.add(f"{properties.get('firstname') or ''} {properties.get('lastname') or ''}".strip())
    for owner in portal.store.owners():
        found.add(owner.get("email") or "")
        found.add(f"{owner.get('firstName') or ''} {owner.get('lastName') or ''}".strip())
    return {value for value in found if value}


def test_a_function_served_by_functions_framework_writes_only_cloud_logging_entries(
    portal: Any,
    served: Served,
    flywheel_env: dict[str, str],
    output: tuple[Path, Path],
    today: date,
    execution_id_logging: str,
) -> None:
    token = {"X-Flywheel-Token": flywheel_env["FLYWHEEL_API_TOKEN"]}
    as_of = today.isoformat()

    dry_status, dry = served.post(
        {"as_of": as_of, "dry_run": True},
        {**token, "Function-Execution-Id": "e2e-dry-run", "X-Cloud-Trace-Context": f"{CLOUD_TRACE_ID}/74;o=1"},
    )
    real_status, real = served.post(
        {"as_of": as_of},
        {**token, "Function-Execution-Id": "e2e-real-run", "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
    )
    refused_status, refused = served.post({"as_of": "1999-01-01"}, {**token, "Function-Execution-Id": "e2e-refused"})
    served.process.send_signal(signal.SIGTERM)
    served.process.wait(timeout=30)

    assert (dry_status, real_status, refused_status) == (200, 200, 400), (dry, real, refused)
    outbox = Path(flywheel_env["FLYWHEEL_MAILER"].removeprefix("outbox://"))
    assert list(outbox.glob("*.eml")), "the real run emailed the lukewarm company's contact"
    stdout, stderr = output
    entries = entries_of(stdout)

    summaries = [e for e in entries if e.get("event") == SUMMARY_EVENT]
    assert [e[LABELS_FIELD]["run_id"] for e in summaries] == ["e2e-dry-run", "e2e-real-run"]
    for summary, answer in zip(summaries, (dry, real), strict=True):
        assert summary["severity"] == "INFO"
        assert summary["summary"] == answer["summary"]
        assert (summary["as_of"], summary["dry_run"]) == (as_of, answer["dry_run"])
        assert summary[LABELS_FIELD]["function"] == summary[LABELS_FIELD]["entry"] == "nurture_step"

    real_entries = of_run(entries, "e2e-real-run")
    assert any(e["logger"] == "flywheel.progress" and e["severity"] == "INFO" for e in real_entries)
    assert {e.get(TRACE_FIELD) for e in real_entries} == {f"projects/{PROJECT}/traces/{TRACE_ID}"}
    assert {e.get(SPAN_FIELD) for e in real_entries} == {"00f067aa0ba902b7"}
    assert all(e.get(SAMPLED_FIELD) is True for e in real_entries)
    dry_entries = of_run(entries, "e2e-dry-run")
    assert {e.get(TRACE_FIELD) for e in dry_entries} == {f"projects/{PROJECT}/traces/{CLOUD_TRACE_ID}"}

    refusals = of_run(entries, "e2e-refused")
    assert [e["severity"] for e in refusals] == ["WARNING"]
    assert "refused (400)" in refusals[0]["message"] and refused["status"] == 400
    assert TRACE_FIELD not in refusals[0]
    if execution_id_logging:
        # functions-framework's own label agrees with ours
        assert all(e[LABELS_FIELD]["execution_id"] == e[LABELS_FIELD]["run_id"] for e in real_entries)

    text = stdout.read_text(encoding="utf-8") + stderr.read_text(encoding="utf-8")
    leaked = sorted(value for value in personal_data(portal) if value in text)
    assert leaked == [], "personal data in the logs"
    assert "Logging error" not in text
