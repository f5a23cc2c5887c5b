"""Deploy Flywheel into a Google Cloud project from zero, in one command, and again with no change.

    python -m infra.deploy --project P --region europe-west1 [--dry-run] [--rotate SECRET ...]

How it works: read, plan, then carry out.

1. Read (infra/gcp_state.py): what the project holds, through Google's own client libraries (Service Usage,
   Firestore admin, Secret Manager, IAM admin, Resource Manager, Cloud Functions v2, Cloud Run v2, Cloud Scheduler).
2. Plan (`plan`, pure: the project's state and the wanted state in, an ordered list of steps out). A step is one
   concrete change: an API request made through the client library (printed as API, RPC and request), an IAM
   grant (a read-modify-write of one resource's policy, printed as resource, role and members), or, for a
   function's source, the exact `gcloud functions deploy` command. gcloud is kept for that one step because it
   zips, uploads and builds the source (signed upload URL, Cloud Build, Artifact Registry) and waits for the
   rollout: doing that by hand through the Functions API would re-implement the CLI. Everything else goes through
   the libraries, so that the plan can be compared with the project exactly and tested offline through the
   libraries' transport seams.
3. Carry out, in order, unless --dry-run (which prints the plan and changes nothing). Nothing changes before the
   whole plan is made: a missing secret value fails the plan, not a half-done deploy.

Idempotent: what exists and matches is not in the plan, so a second run plans nothing. A function is redeployed
only when its gcloud command (runtime, memory, timeout, account, env vars, secrets, access) or the bundle's source
differs from what it was deployed with: both are hashed into labels (`flywheel-config`, `flywheel-source`) set by
the deploy and compared with the deployed function's labels, so no format Google normalises (memory units, say)
can make an unchanged function look changed. A function whose last deploy failed is deployed again.

Secrets (infra.bundle.SECRETS, the one list): values come from the environment variables of the same names, never
from files. A missing secret is created with that value; a secret without an enabled version gets one; a secret
that has a version is left alone, whatever the environment says (its value is not compared: the deploy has no
reason to read secrets), unless `--rotate NAME` asks for a new version from the environment. A value the plan needs
and the environment lacks stops everything before any change.

Access: the functions run as `flywheel-runtime` (roles/datastore.user on the project, secretAccessor on those
secrets only); Cloud Scheduler calls as `flywheel-invoker`, granted roles/run.invoker on the Cloud Run service of
each scheduled function only. That grant goes through the Cloud Run API (2nd gen functions are Run services, and
the invoker role lives on the service): unlike `gcloud functions add-invoker-policy-binding`, the same library
reads the policy, so the plan knows whether the grant is already there. Public entries (HubSpot's webhooks, the
unsubscribe link) are deployed --allow-unauthenticated; any other function holding allUsers loses it.

Scheduler jobs come from infra/scheduler.py (the same jobs, compared field by field): created or updated to point
at the functions' URLs with the invoker account's OIDC token, and flywheel-* jobs the registry no longer has are
deleted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from google.api_core import operation
from google.api_core.exceptions import Aborted, GoogleAPICallError, InvalidArgument, NotFound, RetryError
from google.api_core.retry import Retry, if_exception_type
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import iam_admin_v1, scheduler_v1, secretmanager_v1, service_usage_v1
from google.cloud.firestore_admin_v1.types import database as firestore_database
from google.cloud.firestore_admin_v1.types import firestore_admin as firestore_requests
from google.iam.v1 import iam_policy_pb2, policy_pb2  # type: ignore[import-untyped]

from flywheel.config import Settings
from flywheel.errors import BadInput, ConfigurationError, FlywheelError
from flywheel.services.registry import entry_points, functions, public_entry_points
from infra import gcp_state
from infra.bundle import DEFAULT_OUT, SECRETS, Bundle, BundleError, build, deploy_argv, env_vars, resources
from infra.gcp_state import Clients, ProjectState
from infra.scheduler import UPDATE_MASK, JobSpec, build_job, differs, job_specs, masked, stale

APIS = (
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "firestore.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    # the project's IAM policy is read and written through it; usually on already, but not in every project
    "cloudresourcemanager.googleapis.com",
)
RUNTIME_ACCOUNT = "flywheel-runtime"
INVOKER_ACCOUNT = "flywheel-invoker"
SOURCE_LABEL = "flywheel-source"
CONFIG_LABEL = "flywheel-config"
API_TOKEN_VARIABLE = "FLYWHEEL_API_TOKEN"
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
DATASTORE_USER = "roles/datastore.user"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
RUN_INVOKER = "roles/run.invoker"


class DeployFailed(FlywheelError):
    """A step of the plan failed; the steps before it are done, and a new run plans only what is left."""


def account_email(account: str, project: str) -> str:
    return f"{account}@{project}.iam.gserviceaccount.com"


def source_hash(bundle: Bundle) -> str:
    """A digest of every file of the bundle (names and bytes), short enough for a label value."""
    digest = hashlib.sha256()
    for relative in sorted(bundle.files):
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update((bundle.path / relative).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


# ---- the wanted state --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What the project should hold, from the registry, the bundle and the settings."""

    project: str
    region: str
    source: Path
    source_hash: str
    entry_points: tuple[str, ...]
    scheduled: frozenset[str]  # entry points Cloud Scheduler calls
    public: frozenset[str]  # entry points anyone may call (they check a signature instead)
    job_specs: tuple[JobSpec, ...]
    lease_seconds: int
    # entry point -> (memory, timeout seconds); from the registry unless a caller overrides one
    resources: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    # plain settings added to (or replacing) the bundle's, e.g. FLYWHEEL_HUBSPOT_EMAIL_IDS; never a secret
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}"

    @property
    def location(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def runtime_account(self) -> str:
        return account_email(RUNTIME_ACCOUNT, self.project)

    @property
    def invoker_account(self) -> str:
        return account_email(INVOKER_ACCOUNT, self.project)

    @property
    def base_url(self) -> str:
        return f"https://{self.region}-{self.project}.cloudfunctions.net"


def plain_settings(assignments: Sequence[str]) -> dict[str, str]:
    """`NAME=VALUE` options as a map, refusing a secret (its place is Secret Manager) and a malformed name."""
    settings: dict[str, str] = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
            raise BadInput(f"--env {assignment.split('=')[0]}: expected NAME=VALUE, NAME in capitals")
        if name in SECRETS:
            raise BadInput(f"--env {name}: a secret, mounted from Secret Manager ({SECRETS[name]}); see --rotate")
        settings[name] = value
    return settings


def target_for(
    project: str, region: str, bundle: Bundle, settings: Settings, env: Mapping[str, str] | None = None
) -> Target:
    names = tuple(entry_points())
    return Target(
        project=project,
        region=region,
        source=bundle.path,
        source_hash=source_hash(bundle),
        entry_points=names,
        scheduled=frozenset(spec.name for spec in functions().values() if spec.schedules(settings)),
        public=public_entry_points(),
        job_specs=tuple(job_specs(settings)),
        lease_seconds=settings.effect_lease_seconds,
        resources={name: resources(name) for name in names},
        env=dict(env or {}),
    )


# ---- steps -------------------------------------------------------------------------------------------------------


def _compact(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _readable(message: Any) -> dict[str, Any]:
    """A request as its REST JSON, with enum names: what the library sends, in the words of the API reference."""
    shown: dict[str, Any] = type(message).to_dict(
        message,
        use_integers_for_enums=False,
        preserving_proto_field_name=False,
        always_print_fields_with_no_presence=False,
    )
    return shown


@dataclass(frozen=True)
class ApiCall:
    """One request through a client library: `getattr(clients.<client>, <method>)(request=...)`."""

    client: str
    method: str
    api: str
    rpc: str
    request: Any

    def describe(self) -> str:
        request = self.request
        if isinstance(request, scheduler_v1.CreateJobRequest | scheduler_v1.UpdateJobRequest):
            shown: dict[str, Any] = {"job": _readable(masked(request.job))}
            if isinstance(request, scheduler_v1.CreateJobRequest):
                shown["parent"] = request.parent
            else:
                shown["updateMask"] = ",".join(request.update_mask.paths)
        else:
            shown = _readable(request)
            if isinstance(request, secretmanager_v1.AddSecretVersionRequest):
                shown["payload"] = {"data": "***"}  # a secret's value never reaches a terminal or a CI log
        return f"{self.api} {self.rpc} {_compact(shown)}"


@dataclass(frozen=True)
class Grant:
    """Members added to (or removed from) one role on one resource's IAM policy, as a read-modify-write at run
    time so that nobody else's grants are lost. `function` names a function whose Cloud Run service is the
    resource, for a service that only the deploy before this step creates."""

    client: str
    api: str
    role: str
    resource: str = ""
    function: str = ""
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def describe(self) -> str:
        resource = self.resource or f"(the Cloud Run service of {self.function})"
        changes = [f"+{member}" for member in self.add] + [f"-{member}" for member in self.remove]
        return f"{self.api} SetIamPolicy {resource} {self.role} {' '.join(changes)}"


@dataclass(frozen=True)
class Gcloud:
    argv: tuple[str, ...]

    def describe(self) -> str:
        return shlex.join(self.argv)


Step = ApiCall | Grant | Gcloud


def with_members(
    policy: policy_pb2.Policy, role: str, add: Collection[str], remove: Collection[str]
) -> policy_pb2.Policy:
    """A copy of `policy` where `role`, unconditionally, has the members of `add` and none of `remove`; every other
    binding (conditional ones included) is kept as it is, and the etag guards against a concurrent writer."""
    changed = policy_pb2.Policy()
    changed.CopyFrom(policy)
    target = None
    for binding in changed.bindings:
        if binding.role != role or binding.HasField("condition"):
            continue
        kept = [member for member in binding.members if member not in remove]
        del binding.members[:]
        binding.members.extend(kept)
        if target is None:
            target = binding
    if add:
        if target is None:
            target = changed.bindings.add(role=role)
        target.members.extend(sorted(set(add) - set(target.members)))
    kept_bindings = [binding for binding in changed.bindings if binding.members]
    del changed.bindings[:]
    changed.bindings.extend(kept_bindings)
    return changed


# ---- planning (pure) ---------------------------------------------------------------------------------------------


def deploy_command(target: Target, entry_point: str) -> list[str]:
    """The function's gcloud command with its labels: the config label hashes the command itself (the source folder
    aside, which differs between machines while the source label stands for its content)."""
    memory, timeout_seconds = target.resources.get(entry_point) or resources(entry_point)
    argv = deploy_argv(
        entry_point,
        target.source,
        project=target.project,
        region=target.region,
        service_account=target.runtime_account,
        memory=memory,
        timeout_seconds=timeout_seconds,
        env={**env_vars(target.project, target.region), **target.env},
    )
    configuration = " ".join(part for part in argv if not part.startswith("--source="))
    labels = {SOURCE_LABEL: target.source_hash, CONFIG_LABEL: hashlib.sha256(configuration.encode()).hexdigest()[:16]}
    return [*argv, "--update-labels=" + ",".join(f"{key}={value}" for key, value in labels.items()), "--quiet"]


def _labels(argv: Sequence[str]) -> dict[str, str]:
    [value] = [part.removeprefix("--update-labels=") for part in argv if part.startswith("--update-labels=")]
    return dict(pair.split("=", 1) for pair in value.split(","))


def _secret_steps(
    target: Target, state: ProjectState, env: Mapping[str, str], rotate: Collection[str]
) -> tuple[list[Step], dict[str, str]]:
    """Secret creation and versions, and the values the plan will store (by secret id)."""
    unknown = sorted(set(rotate) - set(SECRETS.values()))
    if unknown:
        raise BadInput(f"--rotate {', '.join(unknown)}: not a Flywheel secret (known: {', '.join(SECRETS.values())})")
    steps: list[Step] = []
    stored: dict[str, str] = {}
    missing: list[str] = []
    for variable, secret_id in SECRETS.items():
        current = state.secrets.get(secret_id)
        if current is not None and current.has_version and secret_id not in rotate:
            continue
        value = env.get(variable, "")
        if not value:
            why = "to rotate" if current is not None and current.has_version else "for a secret without a value"
            missing.append(f"{variable} ({why} {secret_id})")
            continue
        name = f"{target.parent}/secrets/{secret_id}"
        if current is None:
            steps.append(
                ApiCall(
                    "secrets",
                    "create_secret",
                    "secretmanager.googleapis.com",
                    "CreateSecret",
                    secretmanager_v1.CreateSecretRequest(
                        parent=target.parent,
                        secret_id=secret_id,
                        secret=secretmanager_v1.Secret(
                            replication=secretmanager_v1.Replication(
                                automatic=secretmanager_v1.Replication.Automatic()
                            ),
                            labels={"app": "flywheel"},
                        ),
                    ),
                )
            )
        steps.append(
            ApiCall(
                "secrets",
                "add_secret_version",
                "secretmanager.googleapis.com",
                "AddSecretVersion",
                secretmanager_v1.AddSecretVersionRequest(
                    parent=name, payload=secretmanager_v1.SecretPayload(data=value.encode())
                ),
            )
        )
        stored[secret_id] = value
    if missing:
        raise ConfigurationError("set these environment variables (nothing was changed): " + "; ".join(missing))
    return steps, stored


def plan(target: Target, state: ProjectState, env: Mapping[str, str], rotate: Collection[str] = ()) -> list[Step]:
    """The ordered changes that bring the project from `state` to `target`; empty when it is there already."""
    steps: list[Step] = []
    # secrets first: a missing value must fail before the plan holds anything at all
    secret_steps, stored = _secret_steps(target, state, env, rotate)

    missing_apis = sorted(set(APIS) - state.enabled_apis)
    if missing_apis:
        steps.append(
            ApiCall(
                "service_usage",
                "batch_enable_services",
                "serviceusage.googleapis.com",
                "BatchEnableServices",
                service_usage_v1.BatchEnableServicesRequest(parent=target.parent, service_ids=missing_apis),
            )
        )

    if state.database is None:
        steps.append(
            ApiCall(
                "firestore_admin",
                "create_database",
                "firestore.googleapis.com",
                "CreateDatabase",
                firestore_requests.CreateDatabaseRequest(
                    parent=target.parent,
                    database_id=gcp_state.DEFAULT_DATABASE,
                    database=firestore_database.Database(
                        location_id=target.region,
                        type_=firestore_database.Database.DatabaseType.FIRESTORE_NATIVE,
                    ),
                ),
            )
        )
    elif state.database.type != "FIRESTORE_NATIVE":
        # a database's mode is fixed at creation: only its owner can decide to delete it
        raise ConfigurationError(
            f"the {gcp_state.DEFAULT_DATABASE} Firestore database of {target.project} is in {state.database.type}; "
            "Flywheel needs native mode (FLYWHEEL_STATE=firestore://PROJECT/DATABASE names another database)"
        )

    for account, title in (
        (RUNTIME_ACCOUNT, "Flywheel functions (runtime)"),
        (INVOKER_ACCOUNT, "Flywheel Cloud Scheduler jobs (invoker)"),
    ):
        if account_email(account, target.project) not in state.service_accounts:
            steps.append(
                ApiCall(
                    "iam",
                    "create_service_account",
                    "iam.googleapis.com",
                    "CreateServiceAccount",
                    iam_admin_v1.CreateServiceAccountRequest(
                        name=target.parent,
                        account_id=account,
                        service_account=iam_admin_v1.ServiceAccount(display_name=title),
                    ),
                )
            )

    steps.extend(secret_steps)
    runtime_member = f"serviceAccount:{target.runtime_account}"
    for secret_id in SECRETS.values():
        current = state.secrets.get(secret_id)
        if current is None or runtime_member not in current.accessors:
            steps.append(
                Grant(
                    "secrets",
                    "secretmanager.googleapis.com",
                    SECRET_ACCESSOR,
                    resource=f"{target.parent}/secrets/{secret_id}",
                    add=(runtime_member,),
                )
            )
    if runtime_member not in state.project_roles.get(DATASTORE_USER, frozenset()):
        steps.append(
            Grant(
                "projects", "cloudresourcemanager.googleapis.com", DATASTORE_USER, target.parent, add=(runtime_member,)
            )
        )

    grants: list[Step] = []
    invoker_member = f"serviceAccount:{target.invoker_account}"
    for entry_point in target.entry_points:
        argv = deploy_command(target, entry_point)
        deployed = state.functions.get(entry_point)
        deploy = (
            deployed is None
            or deployed.state != "ACTIVE"
            or any(deployed.labels.get(key) != value for key, value in _labels(argv).items())
        )
        if deploy:
            steps.append(Gcloud(tuple(argv)))
        public = entry_point in target.public
        # what the function's service will hold once this plan's deploy (if any) is done: gcloud's
        # --allow-unauthenticated grants allUsers; --no-allow-unauthenticated is not counted on to revoke it
        invokers = set(deployed.invokers if deployed is not None else ())
        if deploy and public:
            invokers.add("allUsers")
        wanted = ({"allUsers"} if public else set()) | ({invoker_member} if entry_point in target.scheduled else set())
        add = tuple(sorted(wanted - invokers))
        remove = () if public else tuple(sorted(invokers & PUBLIC_MEMBERS))
        if add or remove:
            # a service that exists and stays is named; one the deploy above makes is looked up when its turn comes
            service = deployed.service if deployed is not None and not deploy else ""
            grants.append(
                Grant(
                    "run",
                    "run.googleapis.com",
                    RUN_INVOKER,
                    resource=service,
                    function="" if service else f"{target.location}/functions/{entry_point}",
                    add=add,
                    remove=remove,
                )
            )
    steps.extend(grants)

    steps.extend(_job_steps(target, state, env, stored))
    return steps


def _job_steps(target: Target, state: ProjectState, env: Mapping[str, str], stored: Mapping[str, str]) -> list[Step]:
    token_secret = SECRETS[API_TOKEN_VARIABLE]
    # the token the functions will mount: the one this plan stores, else the secret's current one; the
    # environment's value alone could differ from it and lock the jobs out
    api_token = stored.get(token_secret) or state.api_token or env.get(API_TOKEN_VARIABLE, "")
    jobs = [
        build_job(
            spec,
            project=target.project,
            region=target.region,
            function_base_url=target.base_url,
            service_account=target.invoker_account,
            lease_seconds=target.lease_seconds,
            api_token=api_token,
        )
        for spec in target.job_specs
    ]
    steps: list[Step] = []
    for job in jobs:
        current = state.jobs.get(job.name)
        if current is None:
            steps.append(
                ApiCall(
                    "scheduler",
                    "create_job",
                    "cloudscheduler.googleapis.com",
                    "CreateJob",
                    scheduler_v1.CreateJobRequest(parent=target.location, job=job),
                )
            )
        elif differs(current, job):
            steps.append(
                ApiCall(
                    "scheduler",
                    "update_job",
                    "cloudscheduler.googleapis.com",
                    "UpdateJob",
                    scheduler_v1.UpdateJobRequest(job=job, update_mask=UPDATE_MASK),
                )
            )
    for name in stale(list(state.jobs), jobs):
        steps.append(
            ApiCall(
                "scheduler",
                "delete_job",
                "cloudscheduler.googleapis.com",
                "DeleteJob",
                scheduler_v1.DeleteJobRequest(name=name),
            )
        )
    return steps


# ---- carrying it out ---------------------------------------------------------------------------------------------

Runner = Callable[[Sequence[str]], None]


def run_gcloud(argv: Sequence[str]) -> None:
    """gcloud deploys and waits for the rollout; a non-zero exit fails the step (its own output says why)."""
    completed = subprocess.run(list(argv), check=False)
    if completed.returncode != 0:
        raise DeployFailed(f"{argv[0]} {argv[1]} {argv[2]} {argv[3]} exited with {completed.returncode}")


def _grant(clients: Clients, step: Grant) -> None:
    client = getattr(clients, step.client)
    resource = step.resource or clients.functions.get_function(name=step.function).service_config.service
    policy = client.get_iam_policy(request=gcp_state.policy_request(resource))
    changed = with_members(policy, step.role, step.add, step.remove)
    client.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=resource, policy=changed))


def execute(
    steps: Sequence[Step],
    clients: Clients,
    runner: Runner = run_gcloud,
    *,
    echo: Callable[[str], None] = print,
    grant_retry_seconds: float = 180.0,
) -> None:
    """Carry the steps out in order; the first failure stops the run (DeployFailed names the step)."""
    # a service account just created takes a while to be visible to IAM (setIamPolicy answers 400 or 404 meanwhile),
    # and a concurrent policy write fails the etag (409): both pass on a retry
    retry = Retry(
        predicate=if_exception_type(InvalidArgument, NotFound, Aborted),
        initial=2.0,
        maximum=20.0,
        timeout=grant_retry_seconds,
    )
    for number, step in enumerate(steps, 1):
        echo(f"[{number}/{len(steps)}] {step.describe()}")
        try:
            if isinstance(step, Gcloud):
                runner(step.argv)
            elif isinstance(step, Grant):
                retry(_grant)(clients, step)
            else:
                result = getattr(getattr(clients, step.client), step.method)(request=step.request)
                if isinstance(result, operation.Operation):
                    cast(Any, result).result(timeout=900)
        except GoogleAPICallError as error:
            raise DeployFailed(f"step {number} failed: {error.message or error}") from error
        except RetryError as error:  # a grant still refused when its retries ran out
            raise DeployFailed(f"step {number} failed: {error.cause or error}") from error


# ---- the command -------------------------------------------------------------------------------------------------


def main(
    argv: Sequence[str] | None = None,
    *,
    clients: Clients | None = None,
    runner: Runner = run_gcloud,
    env: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--project", required=True, help="the Google Cloud project id")
    parser.add_argument("--region", required=True, help="where functions, jobs and the Firestore database live")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument(
        "--rotate",
        action="append",
        default=[],
        metavar="SECRET",
        help="add a new version of this secret from its environment variable (repeatable)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a plain setting for every function, beside the bundle's (repeatable; secrets are refused)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the bundle folder (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    try:
        extra = plain_settings(args.env)
        settings = settings or Settings()
        bundle = build(args.out)
        target = target_for(args.project, args.region, bundle, settings, extra)
        clients = clients or Clients.default()
        state = gcp_state.discover(
            clients,
            project=args.project,
            region=args.region,
            apis=APIS,
            secret_ids=SECRETS.values(),
            service_accounts=(target.runtime_account, target.invoker_account),
            token_secret=SECRETS[API_TOKEN_VARIABLE],
        )
        steps = plan(target, state, env, args.rotate)
        if not steps:
            print(f"nothing to change: {args.project} ({args.region}) is up to date")
            return 0
        if args.dry_run:
            print(f"plan for {args.project} ({args.region}), {len(steps)} steps, not carried out (--dry-run):")
            for number, step in enumerate(steps, 1):
                print(f"{number:>3}. {step.describe()}")
            return 0
        execute(steps, clients, runner)
        print(f"done: {len(steps)} steps carried out in {args.project} ({args.region})")
        return 0
    except FlywheelError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except GoogleAPICallError as error:
        print(f"error: reading {args.project}: {error.message or error}", file=sys.stderr)
        return 1
    except DefaultCredentialsError:
        print(
            "error: no Google credentials: run `gcloud auth application-default login` (and `gcloud auth login` "
            "for the deploy commands)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
