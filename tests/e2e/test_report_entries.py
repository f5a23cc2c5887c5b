"""The report as its users reach it: `flywheel report` in a separate process, and the `report` HTTP entry of the
deployed module, guarded like the run endpoints."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.http_kit import api_calls, client_for, with_token
from tests.e2e.test_cli import flywheel, writes

pytestmark = pytest.mark.sandbox


def test_the_cli_writes_the_page_and_the_json_of_the_report(
    portal: Any, flywheel_env: dict[str, str], yesterday: str, now: datetime, tmp_path: Path
) -> None:
    before = portal.store.stats()
    out = tmp_path / "report"

    done = flywheel("report", "--as-of", yesterday, "--out", str(out), env=flywheel_env, now=now)

    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["as_of"] == yesterday
    assert len(report["companies"]) == portal.store.counts()["companies"]
    assert len(report["months"]) == 12
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.lstrip().lower().startswith("<!doctype html")
    assert str(out / "index.html") in done.stderr
    assert writes(portal.store.stats()) == writes(before)


def test_the_cli_prints_the_json_of_one_owner(
    portal: Any, flywheel_env: dict[str, str], yesterday: str, now: datetime
) -> None:
    owner = next(o for o in portal.store.owners() if o["email"] != "assistente.commerciale@sicomputer.it")

    done = flywheel("report", "--as-of", yesterday, "--owner", owner["email"], "--json", env=flywheel_env, now=now)

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["owner"] == owner["email"]
    assert {row["owner_id"] for row in report["companies"]} <= {str(owner["id"])}


def test_the_cli_refuses_an_unknown_owner_with_exit_code_2(
    portal: Any, flywheel_env: dict[str, str], now: datetime
) -> None:
    done = flywheel("report", "--owner", "nessuno@example.it", "--json", env=flywheel_env, now=now)

    assert done.returncode == 2
    assert "nessuno@example.it" in done.stderr
    assert done.stdout == ""


def test_the_endpoint_answers_the_json_with_a_token(portal: Any, flywheel_env: dict[str, str], yesterday: str) -> None:
    response = client_for("report").get(f"/?format=json&as_of={yesterday}", headers=with_token(flywheel_env))

    assert response.status_code == 200
    body = response.get_json()
    assert body["as_of"] == yesterday
    assert len(body["companies"]) == portal.store.counts()["companies"]
    assert set(body["attribution"]["flows"]) == {
        "nurture",
        "riattivazione",
        "cashback",
        "dp",
        "cart",
        "wakeup",
        "recontact",
    }


def test_the_endpoint_answers_the_page_by_default(portal: Any, flywheel_env: dict[str, str]) -> None:
    response = client_for("report").get("/", headers=with_token(flywheel_env))

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("headers", [{}, {"X-Flywheel-Token": "wrong"}], ids=["no token", "wrong token"])
def test_the_endpoint_refuses_a_caller_without_the_token_and_reads_nothing(
    portal: Any, flywheel_env: dict[str, str], headers: dict[str, str]
) -> None:
    before = api_calls(portal)

    response = client_for("report").get("/?format=json", headers=headers)

    assert response.status_code == 401
    assert "companies" not in (response.get_json() or {})
    assert api_calls(portal) == before


@pytest.mark.parametrize(
    "query", ["as_of=29/11/2026", "format=pdf", "surprise=1", "as_of=1990-01-01", "owner=a@b.it&owner=c@d.it"]
)
def test_a_bad_query_gets_400(portal: Any, flywheel_env: dict[str, str], query: str) -> None:
    response = client_for("report").get(f"/?{query}", headers=with_token(flywheel_env))

    assert response.status_code == 400
    assert response.get_json()["error"]


def test_the_endpoint_takes_only_get(flywheel_env: dict[str, str]) -> None:
    assert client_for("report").post("/", json={}, headers=with_token(flywheel_env)).status_code == 405
