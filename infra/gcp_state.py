"""What a Google Cloud project holds today, read through Google's client libraries, as plain data for the planner.

Every client is injectable (`Clients`): production builds them on Application Default Credentials, the tests on each
library's own transport seam (REST with `url_scheme="http"` against an in-process stand-in; gRPC on an insecure
channel for IAM admin, the one library here without a REST transport). Nothing in this module changes anything.

An API that is not enabled yet is read as "nothing of its kind exists": a project from zero answers
SERVICE_DISABLED to every read of Secret Manager, Firestore, Cloud Functions, ..., and the plan enables the API
before it creates anything there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.api_core.exceptions import NotFound
from google.cloud import (
    functions_v2,
    iam_admin_v1,
    resourcemanager_v3,
    run_v2,
    scheduler_v1,
    secretmanager_v1,
    service_usage_v1,
)
from google.cloud.firestore_admin_v1 import FirestoreAdminClient
from google.cloud.firestore_admin_v1.types import database as firestore_database
from google.iam.v1 import iam_policy_pb2, options_pb2, policy_pb2  # type: ignore[import-untyped]

# The API of each kind of resource: reads of a kind are skipped while its API is off.
SERVICE_USAGE = "serviceusage.googleapis.com"
RESOURCE_MANAGER = "cloudresourcemanager.googleapis.com"
FIRESTORE = "firestore.googleapis.com"
SECRET_MANAGER = "secretmanager.googleapis.com"
IAM = "iam.googleapis.com"
FUNCTIONS = "cloudfunctions.googleapis.com"
RUN = "run.googleapis.com"
SCHEDULER = "cloudscheduler.googleapis.com"

DEFAULT_DATABASE = "(default)"


@dataclass
class Clients:
    """One client per Google API the deploy reads or changes."""

    service_usage: Any
    firestore_admin: Any
    secrets: Any
    iam: Any
    projects: Any
    functions: Any
    run: Any
    scheduler: Any

    @classmethod
    def default(cls) -> Clients:
        """Clients on Application Default Credentials (`gcloud auth application-default login`)."""
        return cls(
            service_usage=service_usage_v1.ServiceUsageClient(),
            firestore_admin=FirestoreAdminClient(),
            secrets=secretmanager_v1.SecretManagerServiceClient(),
            iam=iam_admin_v1.IAMClient(),
            projects=resourcemanager_v3.ProjectsClient(),
            functions=functions_v2.FunctionServiceClient(),
            run=run_v2.ServicesClient(),
            scheduler=scheduler_v1.CloudSchedulerClient(),
        )


@dataclass(frozen=True)
class Database:
    type: str  # FIRESTORE_NATIVE or DATASTORE_MODE
    location: str


@dataclass(frozen=True)
class Secret:
    has_version: bool  # an enabled version exists: the functions can mount :latest
    accessors: frozenset[str] = frozenset()  # members holding roles/secretmanager.secretAccessor on it


@dataclass(frozen=True)
class Function:
    labels: Mapping[str, str]
    state: str  # ACTIVE, FAILED, DEPLOYING, ...
    service: str  # projects/P/locations/R/services/S: the Cloud Run service behind a 2nd gen function
    invokers: frozenset[str] = frozenset()  # members holding roles/run.invoker on that service


@dataclass(frozen=True)
class ProjectState:
    enabled_apis: frozenset[str] = frozenset()
    database: Database | None = None
    secrets: Mapping[str, Secret] = field(default_factory=dict)  # by secret id
    service_accounts: frozenset[str] = frozenset()  # emails
    project_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)  # role -> members
    functions: Mapping[str, Function] = field(default_factory=dict)  # by function name
    jobs: Mapping[str, scheduler_v1.Job] = field(default_factory=dict)  # by full job name
    api_token: str = ""  # the latest version of the API token secret, when asked for and readable


def members(policy: policy_pb2.Policy, role: str) -> frozenset[str]:
    """Members granted `role` without a condition (a conditional grant is not the grant the functions need)."""
    return frozenset(
        member
        for binding in policy.bindings
        if binding.role == role and not binding.HasField("condition")
        for member in binding.members
    )


def policy_request(resource: str) -> iam_policy_pb2.GetIamPolicyRequest:
    # version 3 so that conditional bindings come back whole and survive our read-modify-write
    return iam_policy_pb2.GetIamPolicyRequest(
        resource=resource, options=options_pb2.GetPolicyOptions(requested_policy_version=3)
    )


def _enabled(clients: Clients, project: str, apis: Iterable[str]) -> frozenset[str]:
    request = service_usage_v1.BatchGetServicesRequest(
        parent=f"projects/{project}", names=[f"projects/{project}/services/{api}" for api in sorted(apis)]
    )
    response = clients.service_usage.batch_get_services(request=request)
    return frozenset(
        service.name.rsplit("/", 1)[-1]
        for service in response.services
        if service.state == service_usage_v1.State.ENABLED
    )


def _database(clients: Clients, project: str) -> Database | None:
    try:
        database = clients.firestore_admin.get_database(name=f"projects/{project}/databases/{DEFAULT_DATABASE}")
    except NotFound:
        return None
    return Database(firestore_database.Database.DatabaseType(database.type_).name, database.location_id)


def _secret(clients: Clients, project: str, secret_id: str) -> Secret | None:
    name = f"projects/{project}/secrets/{secret_id}"
    try:
        clients.secrets.get_secret(name=name)
    except NotFound:
        return None
    versions = clients.secrets.list_secret_versions(
        request=secretmanager_v1.ListSecretVersionsRequest(parent=name, filter="state:ENABLED")
    )
    has_version = any(True for _ in versions)
    policy = clients.secrets.get_iam_policy(request=policy_request(name))
    return Secret(has_version, members(policy, "roles/secretmanager.secretAccessor"))


def _service_account_exists(clients: Clients, project: str, email: str) -> bool:
    try:
        clients.iam.get_service_account(
            request=iam_admin_v1.GetServiceAccountRequest(name=f"projects/{project}/serviceAccounts/{email}")
        )
    except NotFound:
        return False
    return True


def _functions(clients: Clients, project: str, region: str, run_enabled: bool) -> dict[str, Function]:
    found: dict[str, Function] = {}
    for function in clients.functions.list_functions(
        request=functions_v2.ListFunctionsRequest(parent=f"projects/{project}/locations/{region}")
    ):
        service = function.service_config.service
        invokers: frozenset[str] = frozenset()
        if run_enabled and service:
            try:
                invokers = members(clients.run.get_iam_policy(request=policy_request(service)), "roles/run.invoker")
            except NotFound:  # a function whose build failed has no service yet
                invokers = frozenset()
        found[function.name.rsplit("/", 1)[-1]] = Function(
            labels=dict(function.labels),
            state=functions_v2.Function.State(function.state).name,
            service=service,
            invokers=invokers,
        )
    return found


def _latest_value(clients: Clients, project: str, secret_id: str) -> str:
    version = clients.secrets.access_secret_version(
        request=secretmanager_v1.AccessSecretVersionRequest(
            name=f"projects/{project}/secrets/{secret_id}/versions/latest"
        )
    )
    return bytes(version.payload.data).decode()


def discover(
    clients: Clients,
    *,
    project: str,
    region: str,
    apis: Iterable[str],
    secret_ids: Iterable[str],
    service_accounts: Iterable[str],
    token_secret: str | None = None,
) -> ProjectState:
    """Read what the plan compares against. `token_secret`: read that secret's latest value (the API token the
    Scheduler jobs send), for a deploy whose environment does not carry it."""
    enabled = _enabled(clients, project, apis)
    database = _database(clients, project) if FIRESTORE in enabled else None
    secrets: dict[str, Secret] = {}
    if SECRET_MANAGER in enabled:
        for secret_id in secret_ids:
            secret = _secret(clients, project, secret_id)
            if secret is not None:
                secrets[secret_id] = secret
    accounts = (
        frozenset(email for email in service_accounts if _service_account_exists(clients, project, email))
        if IAM in enabled
        else frozenset()
    )
    project_roles: dict[str, frozenset[str]] = {}
    if RESOURCE_MANAGER in enabled:
        policy = clients.projects.get_iam_policy(request=policy_request(f"projects/{project}"))
        project_roles = {binding.role: members(policy, binding.role) for binding in policy.bindings}
    functions = _functions(clients, project, region, RUN in enabled) if FUNCTIONS in enabled else {}
    jobs: dict[str, scheduler_v1.Job] = {}
    if SCHEDULER in enabled:
        parent = f"projects/{project}/locations/{region}"
        jobs = {
            job.name: job for job in clients.scheduler.list_jobs(request=scheduler_v1.ListJobsRequest(parent=parent))
        }
    api_token = ""
    if token_secret is not None and secrets.get(token_secret, Secret(False)).has_version:
        api_token = _latest_value(clients, project, token_secret)
    return ProjectState(
        enabled_apis=enabled,
        database=database,
        secrets=secrets,
        service_accounts=accounts,
        project_roles=project_roles,
        functions=functions,
        jobs=jobs,
        api_token=api_token,
    )
