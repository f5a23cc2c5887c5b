"""Calling the deployed shape as its callers do: functions-framework's test client over functions/main.py, the
headers Cloud Scheduler and HubSpot send, and what a call left behind in the portal and the state store."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from functions_framework import create_app

from flywheel.webhooks import sign_v3

MAIN = str(Path(__file__).resolve().parents[2] / "functions" / "main.py")
RUN_TARGETS = ("cold_segment", "nurture_step", "sirank_recalc")
WEBHOOK_TARGETS = ("cold_segment_webhook", "nurture_step_webhook")
ENDPOINT_TARGETS = ("unsubscribe", "coupon_check", "report")


def client_for(target: str) -> Any:
    return create_app(target=target, source=MAIN).test_client()


def api_calls(portal: Any) -> int:
    return int(portal.store.stats()["calls"]["total"])


def with_token(env: dict[str, str], **headers: str) -> dict[str, str]:
    """Headers of a caller that knows the app token."""
    return {"X-Flywheel-Token": env["FLYWHEEL_API_TOKEN"], **headers}


def scheduler_headers(job: str, scheduled: str) -> dict[str, str]:
    return {"X-CloudScheduler-JobName": job, "X-CloudScheduler-ScheduleTime": scheduled}


def signed(body: bytes, url: str, secret: str, *, at: datetime, age_seconds: float = 0) -> dict[str, str]:
    """HubSpot's v3 headers for a request to `url` sent at `at`, `age_seconds` ago."""
    timestamp = int((at.timestamp() - age_seconds) * 1000)
    return {
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, timestamp),
        "X-HubSpot-Request-Timestamp": str(timestamp),
        "Content-Type": "application/json",
    }


def state_rows(env: dict[str, str]) -> set[tuple[Any, ...]]:
    """Every row of the SQLite state file (effect keys, sequences, checkpoints, documents), read directly."""
    path = env["FLYWHEEL_STATE"].removeprefix("sqlite:///")
    if not Path(path).exists():
        return set()
    with closing(sqlite3.connect(path)) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {(table, *row) for table in tables for row in db.execute(f"SELECT * FROM {table}")}


def effect_keys(env: dict[str, str]) -> dict[str, str]:
    """Idempotency key -> its status ("pending" or "done")."""
    return {row[1]: row[2] for row in state_rows(env) if row[0] == "effects"}
