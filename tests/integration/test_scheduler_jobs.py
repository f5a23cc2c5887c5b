"""Cloud Scheduler jobs as code, applied through google-cloud-scheduler's real REST transport.

The transport's own test seam (`url_scheme="http"`, a host of our choosing) points it at a small in-process
stand-in of the Cloud Scheduler v1 REST API that keeps jobs in a dict.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlparse

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import scheduler_v1
from google.cloud.scheduler_v1.services.cloud_scheduler.transports.rest import CloudSchedulerRestTransport

from flywheel.config import Settings
from infra.scheduler import apply, build_job, job_specs, main
from tests.google_stand_in import JsonApiHandler


class SchedulerApi(JsonApiHandler):
    jobs: ClassVar[dict[str, dict[str, Any]]] = {}
    writes: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        name = urlparse(self.path).path.removeprefix("/v1/")
        if name not in self.jobs:
            self._send(404, {"error": {"code": 404, "message": "Job not found.", "status": "NOT_FOUND"}})
        else:
            self._send(200, self.jobs[name])

    def do_POST(self) -> None:
        job = self._body()
        self.jobs[job["name"]] = job
        self.writes.append(f"create {job['name']}")
        self._send(200, job)

    def do_PATCH(self) -> None:
        name = urlparse(self.path).path.removeprefix("/v1/")
        job = {**self.jobs[name], **self._body()}
        self.jobs[name] = job
        self.writes.append(f"update {name}")
        self._send(200, job)


@pytest.fixture
def scheduler_client() -> Iterator[scheduler_v1.CloudSchedulerClient]:
    SchedulerApi.jobs, SchedulerApi.writes = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SchedulerApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    transport = CloudSchedulerRestTransport(
        host=f"127.0.0.1:{server.server_address[1]}", url_scheme="http", credentials=AnonymousCredentials()
    )
    yield scheduler_v1.CloudSchedulerClient(transport=transport)
    server.shutdown()


def jobs_for(settings: Settings) -> list[scheduler_v1.Job]:
    return [
        build_job(
            spec,
            project="sicomputer-flywheel",
            region="europe-west1",
            function_base_url="https://europe-west1-sicomputer-flywheel.cloudfunctions.net",
            service_account="invoker@sicomputer-flywheel.iam.gserviceaccount.com",
            lease_seconds=settings.effect_lease_seconds,
            api_token=settings.api_token,
        )
        for spec in job_specs(settings)
    ]


def test_first_apply_creates_every_job_in_rome_time(scheduler_client: scheduler_v1.CloudSchedulerClient) -> None:
    outcome = apply(scheduler_client, jobs_for(Settings()))

    assert set(outcome.values()) == {"created"}
    # one job per schedule of every function in the registry
    assert len(SchedulerApi.jobs) == len(job_specs(Settings())) >= 4
    assert {job["timeZone"] for job in SchedulerApi.jobs.values()} == {"Europe/Rome"}


def test_a_second_apply_changes_nothing(scheduler_client: scheduler_v1.CloudSchedulerClient) -> None:
    apply(scheduler_client, jobs_for(Settings()))
    writes_after_first = list(SchedulerApi.writes)

    outcome = apply(scheduler_client, jobs_for(Settings()))

    assert set(outcome.values()) == {"unchanged"}
    assert SchedulerApi.writes == writes_after_first


def test_a_changed_schedule_updates_only_that_job(scheduler_client: scheduler_v1.CloudSchedulerClient) -> None:
    apply(scheduler_client, jobs_for(Settings()))
    settings = Settings()
    settings.sirank.full_run_weekday = 5  # Saturday

    outcome = apply(scheduler_client, jobs_for(settings))

    changed = [name for name, what in outcome.items() if what == "updated"]
    assert [name.rsplit("/", 1)[1] for name in changed] == ["flywheel-sirank-recalc-weekly-full"]
    assert SchedulerApi.jobs[changed[0]]["schedule"] == "0 1 * * 6"


def test_the_weekly_job_asks_for_a_full_run_and_retries_after_the_lease(
    scheduler_client: scheduler_v1.CloudSchedulerClient,
) -> None:
    settings = Settings()
    weekly = next(j for j in jobs_for(settings) if j.name.endswith("weekly-full"))

    assert json.loads(weekly.http_target.body) == {"mode": "full"}
    assert weekly.retry_config.min_backoff_duration.total_seconds() > settings.effect_lease_seconds
    assert weekly.http_target.oidc_token.audience == weekly.http_target.uri


def test_with_an_api_token_configured_every_job_sends_it_beside_its_oidc_token(
    scheduler_client: scheduler_v1.CloudSchedulerClient,
) -> None:
    apply(scheduler_client, jobs_for(Settings(api_token="app-token-from-secret-manager")))

    targets = [job["httpTarget"] for job in SchedulerApi.jobs.values()]
    assert {target["headers"].get("X-Flywheel-Token") for target in targets} == {"app-token-from-secret-manager"}
    assert all(target["oidcToken"]["audience"] == target["uri"] for target in targets)


def test_without_an_api_token_the_jobs_rely_on_their_oidc_token_alone(
    scheduler_client: scheduler_v1.CloudSchedulerClient,
) -> None:
    apply(scheduler_client, jobs_for(Settings(api_token="")))

    assert not any("X-Flywheel-Token" in job["httpTarget"].get("headers", {}) for job in SchedulerApi.jobs.values())


def test_a_dry_run_prints_the_jobs_with_the_token_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLYWHEEL_API_TOKEN", "app-token-from-secret-manager")
    arguments = [
        "--project",
        "p",
        "--region",
        "europe-west1",
        "--function-base-url",
        "https://x",
        "--service-account",
        "s",
    ]

    assert main([*arguments, "--dry-run"]) == 0

    printed = capsys.readouterr().out
    assert '"X-Flywheel-Token": "***"' in printed
    assert "app-token-from-secret-manager" not in printed
