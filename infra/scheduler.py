"""Cloud Scheduler jobs as code: one job per scheduled run, created or updated to match this file.

    python -m infra.scheduler --project P --region europe-west1 \
        --function-base-url https://europe-west1-P.cloudfunctions.net \
        --service-account invoker@P.iam.gserviceaccount.com

Each job POSTs the function's JSON body with an OIDC token (for Cloud Functions IAM, in `Authorization`) and, when
FLYWHEEL_API_TOKEN is configured, the app token in `X-Flywheel-Token`. Flywheel dedupes a redelivered trigger on
job name + schedule time, and the retry back-off starts past the effect lease so that a retry after a timeout
resumes the run from its checkpoint instead of finding it still held.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from google.api_core.exceptions import NotFound
from google.cloud import scheduler_v1
from google.protobuf import duration_pb2, field_mask_pb2

from flywheel.config import Settings
from flywheel.http import TOKEN_HEADER
from flywheel.services.registry import functions

TIME_ZONE = "Europe/Rome"


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    function: str
    schedule: str  # cron, in TIME_ZONE
    description: str
    body: dict[str, Any] = field(default_factory=dict)


def job_specs(settings: Settings) -> list[JobSpec]:
    """One job per schedule of each function in the registry."""
    return [
        JobSpec(
            f"flywheel-{spec.name.replace('_', '-')}-{schedule.job}",
            spec.name,
            schedule.cron(),
            schedule.description,
            dict(schedule.body),
        )
        for spec in functions().values()
        for schedule in spec.schedules(settings)
    ]


def build_job(
    spec: JobSpec,
    *,
    project: str,
    region: str,
    function_base_url: str,
    service_account: str,
    lease_seconds: int,
    api_token: str = "",
) -> scheduler_v1.Job:
    uri = f"{function_base_url.rstrip('/')}/{spec.function}"
    headers = {"Content-Type": "application/json"}
    if api_token:
        headers[TOKEN_HEADER] = api_token
    return scheduler_v1.Job(
        name=f"projects/{project}/locations/{region}/jobs/{spec.job_id}",
        description=spec.description,
        schedule=spec.schedule,
        time_zone=TIME_ZONE,
        http_target=scheduler_v1.HttpTarget(
            uri=uri,
            http_method=scheduler_v1.HttpMethod.POST,
            headers=headers,
            body=json.dumps(spec.body).encode(),
            oidc_token=scheduler_v1.OidcToken(service_account_email=service_account, audience=uri),
        ),
        attempt_deadline=duration_pb2.Duration(seconds=540),
        retry_config=scheduler_v1.RetryConfig(
            retry_count=5,
            min_backoff_duration=duration_pb2.Duration(seconds=lease_seconds + 60),
            max_backoff_duration=duration_pb2.Duration(seconds=3600),
            max_doublings=2,
        ),
    )


def masked(job: scheduler_v1.Job) -> scheduler_v1.Job:
    """A copy of the job for a human to read: the app token stays out of terminals and CI logs."""
    shown = scheduler_v1.Job(job)
    if TOKEN_HEADER in shown.http_target.headers:
        shown.http_target.headers[TOKEN_HEADER] = "***"
    return shown


def masked_json(job: scheduler_v1.Job) -> str:
    return str(scheduler_v1.Job.to_json(masked(job)))


_UPDATABLE = ["description", "schedule", "time_zone", "http_target", "attempt_deadline", "retry_config"]
UPDATE_MASK = field_mask_pb2.FieldMask(paths=_UPDATABLE)
JOB_PREFIX = "flywheel-"


def differs(current: scheduler_v1.Job, job: scheduler_v1.Job) -> bool:
    """Whether applying `job` would change `current` (the fields this file manages; state and times are Google's)."""
    return any(getattr(current, f) != getattr(job, f) for f in _UPDATABLE)


def stale(current: Sequence[str], jobs: Sequence[scheduler_v1.Job]) -> list[str]:
    """Names of this file's jobs (flywheel-*) that `jobs` no longer has: a function or schedule removed from the
    registry. Jobs of other names in the same location are someone else's and never touched."""
    wanted = {job.name for job in jobs}
    return sorted(name for name in current if name.rsplit("/", 1)[-1].startswith(JOB_PREFIX) and name not in wanted)


def apply(client: scheduler_v1.CloudSchedulerClient, jobs: Sequence[scheduler_v1.Job]) -> dict[str, str]:
    """Create missing jobs, update changed ones, leave equal ones alone. Returns job name -> what happened."""
    outcome: dict[str, str] = {}
    for job in jobs:
        try:
            current = client.get_job(name=job.name)
        except NotFound:
            parent = job.name.rsplit("/jobs/", 1)[0]
            client.create_job(parent=parent, job=job)
            outcome[job.name] = "created"
            continue
        if not differs(current, job):
            outcome[job.name] = "unchanged"
            continue
        client.update_job(job=job, update_mask=UPDATE_MASK)
        outcome[job.name] = "updated"
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.scheduler", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--function-base-url", required=True)
    parser.add_argument("--service-account", required=True, help="the invoker service account for OIDC tokens")
    parser.add_argument("--dry-run", action="store_true", help="print the jobs, change nothing")
    args = parser.parse_args(argv)
    settings = Settings()
    jobs = [
        build_job(
            spec,
            project=args.project,
            region=args.region,
            function_base_url=args.function_base_url,
            service_account=args.service_account,
            lease_seconds=settings.effect_lease_seconds,
            api_token=settings.api_token,
        )
        for spec in job_specs(settings)
    ]
    if args.dry_run:
        for job in jobs:
            print(masked_json(job))
        return 0
    for name, what in apply(scheduler_v1.CloudSchedulerClient(), jobs).items():
        print(f"{what:<9} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
