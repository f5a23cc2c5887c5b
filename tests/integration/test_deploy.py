"""`python -m infra.deploy`, proven offline through Google's client libraries and their own transport seams.

One in-process stand-in holds an in-memory project and serves the REST paths the libraries call (Service Usage,
Firestore admin, Secret Manager, Resource Manager, Cloud Functions v2, Cloud Run v2, Cloud Scheduler; each REST
transport takes `url_scheme="http"` and a host), plus IAM admin over gRPC on an insecure channel (that library has
no REST transport). Like the real APIs, it refuses calls to an API that is not enabled and IAM grants to accounts
that do not exist, so a plan in the wrong order fails here too.

The one seam that is ours is the gcloud runner: `gcloud functions deploy` builds and uploads source, which no test
can do offline, so the fake runner applies the command to the stand-in (the function, its Cloud Run service, its
labels, allUsers for --allow-unauthenticated), after checking what the real deploy needs (the runtime account, the
secrets with a version and the account's access to them).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent import futures
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import grpc
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import functions_v2, iam_admin_v1, run_v2, scheduler_v1, secretmanager_v1, service_usage_v1
from google.cloud.firestore_admin_v1 import FirestoreAdminClient
from google.cloud.firestore_admin_v1.services.firestore_admin.transports.rest import FirestoreAdminRestTransport
from google.cloud.functions_v2.services.function_service.transports.rest import FunctionServiceRestTransport
from google.cloud.iam_admin_v1.services.iam.transports.grpc import IAMGrpcTransport
from google.cloud.resourcemanager_v3 import ProjectsClient
from google.cloud.resourcemanager_v3.services.projects.transports.rest import ProjectsRestTransport
from google.cloud.run_v2.services.services.transports.rest import ServicesRestTransport
from google.cloud.scheduler_v1.services.cloud_scheduler.transports.rest import CloudSchedulerRestTransport
from google.cloud.secretmanager_v1.services.secret_manager_service.transports.rest import (
    SecretManagerServiceRestTransport,
)
from google.cloud.service_usage_v1.services.service_usage.transports.rest import ServiceUsageRestTransport

from flywheel.config import Settings
from flywheel.services.registry import entry_points, functions, public_entry_points
from infra import deploy
from infra.bundle import SECRETS, Bundle, build
from infra.deploy import APIS, Gcloud, Target, execute, plan, source_hash, target_for
from infra.gcp_state import Clients, Database, ProjectState, discover
from infra.scheduler import job_specs
from tests.google_stand_in import JsonApiHandler

PROJECT = "sicomputer-flywheel"
REGION = "europe-west1"
RUNTIME = f"serviceAccount:flywheel-runtime@{PROJECT}.iam.gserviceaccount.com"
INVOKER = f"serviceAccount:flywheel-invoker@{PROJECT}.iam.gserviceaccount.com"
ENV = {
    "HUBSPOT_ACCESS_TOKEN": "pat-eu1-token-value",
    "HUBSPOT_CLIENT_SECRET": "client-secret-value",
    "FLYWHEEL_NURTURE__COUPON_SECRET": "coupon-secret-value-of-32-characters!",
    "FLYWHEEL_API_TOKEN": "api-token-value",
    "FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET": "unsubscribe-secret-value-32-characters",
}

# the API each REST path belongs to, so that a call to a disabled API is refused as Google refuses it
_API_OF = (
    (re.compile(r"^/v1/projects/[^/]+/databases"), "firestore.googleapis.com"),
    (re.compile(r"^/v1/projects/[^/]+/secrets"), "secretmanager.googleapis.com"),
    (re.compile(r"^/v3/projects/"), "cloudresourcemanager.googleapis.com"),
    (re.compile(r"^/v2/projects/[^/]+/locations/[^/]+/functions"), "cloudfunctions.googleapis.com"),
    (re.compile(r"^/v2/projects/[^/]+/locations/[^/]+/services"), "run.googleapis.com"),
    (re.compile(r"^/v1/projects/[^/]+/locations/[^/]+/jobs"), "cloudscheduler.googleapis.com"),
)


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


class Project:
    """One Google Cloud project, in memory: what the stand-in serves and the fake gcloud changes."""

    def __init__(self, project: str) -> None:
        self.project = project
        # on by default in every new project, as in Google Cloud
        self.enabled: set[str] = {"serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com"}
        self.databases: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, list[bytes]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {
            f"projects/{project}": {"bindings": [{"role": "roles/owner", "members": ["user:owner@sicomputer.it"]}]}
        }
        self.functions: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []
        self.lock = threading.Lock()

    # -- IAM policies, with etags as Google keeps them
    def policy(self, resource: str) -> dict[str, Any]:
        policy = self.policies.setdefault(resource, {})
        policy.setdefault("etag", base64.b64encode(b"0").decode())
        policy.setdefault("version", 1)
        return policy

    def set_policy(self, resource: str, policy: dict[str, Any]) -> dict[str, Any]:
        current = self.policy(resource)
        if policy.get("etag") and policy["etag"] != current["etag"]:
            raise ApiError(409, "ABORTED", "There were concurrent policy changes.")
        for binding in policy.get("bindings", []):
            for member in binding.get("members", []):
                email = member.removeprefix("serviceAccount:")
                ours = member.startswith("serviceAccount:") and email.endswith(".iam.gserviceaccount.com")
                if ours and email not in self.accounts:
                    raise ApiError(400, "INVALID_ARGUMENT", f"Service account {email} does not exist.")
        stored = {
            "bindings": policy.get("bindings", []),
            "version": policy.get("version", 1),
            "etag": base64.b64encode(str(int(base64.b64decode(current["etag"])) + 1).encode()).decode(),
        }
        self.policies[resource] = stored
        self.writes.append(f"setIamPolicy {resource}")
        return stored

    def invokers(self, service: str) -> set[str]:
        return {
            member
            for binding in self.policy(service).get("bindings", [])
            if binding["role"] == "roles/run.invoker"
            for member in binding["members"]
        }

    def add_job(self, job_id: str, region: str = REGION) -> str:
        name = f"projects/{self.project}/locations/{region}/jobs/{job_id}"
        self.jobs[name] = {
            "name": name,
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Rome",
            "httpTarget": {"uri": f"https://{region}-{self.project}.cloudfunctions.net/old_function"},
        }
        return name


def _operation(name: str, type_url: str, response: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "done": True, "response": {"@type": type_url, **response}}


class RestApi(JsonApiHandler):
    project: Project

    def _handle(self, method: str) -> None:
        url = urlparse(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        body = self._body() if method in ("POST", "PATCH") else {}
        try:
            with self.project.lock:
                for pattern, api in _API_OF:
                    if pattern.match(path) and api not in self.project.enabled:
                        raise ApiError(403, "PERMISSION_DENIED", f"SERVICE_DISABLED: {api} has not been used")
                self._send(200, self.route(method, path, query, body))
        except ApiError as error:
            self._send(
                error.status, {"error": {"code": error.status, "message": error.message, "status": error.reason}}
            )

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def route(self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        p = self.project
        root = f"/v1/projects/{p.project}"
        not_found = ApiError(404, "NOT_FOUND", f"{path} not found")
        # Service Usage
        if method == "GET" and path == f"{root}/services:batchGet":
            return {
                "services": [
                    {
                        "name": name.replace(p.project, "123456789"),
                        "state": "ENABLED" if name.rsplit("/", 1)[1] in p.enabled else "DISABLED",
                    }
                    for name in query["names"]
                ]
            }
        if method == "POST" and path == f"{root}/services:batchEnable":
            p.enabled.update(body["serviceIds"])
            p.writes.append("batchEnable " + ",".join(body["serviceIds"]))
            return _operation(
                "operations/enable-1", "type.googleapis.com/google.api.serviceusage.v1.BatchEnableServicesResponse", {}
            )
        # Firestore admin
        if path.startswith(f"{root}/databases"):
            if method == "GET":
                if path.removeprefix("/v1/") not in p.databases:
                    raise not_found
                return p.databases[path.removeprefix("/v1/")]
            name = f"projects/{p.project}/databases/{query['databaseId'][0]}"
            p.databases[name] = {**body, "name": name}
            p.writes.append(f"createDatabase {name}")
            return _operation(
                f"{name}/operations/1", "type.googleapis.com/google.firestore.admin.v1.Database", p.databases[name]
            )
        # Secret Manager
        if path.startswith(f"{root}/secrets"):
            return self.secret_route(method, path, query, body)
        # Resource Manager: the project's IAM policy
        if path == f"/v3/projects/{p.project}:getIamPolicy":
            return p.policy(f"projects/{p.project}")
        if path == f"/v3/projects/{p.project}:setIamPolicy":
            return p.set_policy(f"projects/{p.project}", body["policy"])
        # Cloud Functions v2
        match = re.fullmatch(r"/v2/(projects/[^/]+/locations/[^/]+)/functions(?:/([^/]+))?", path)
        if match and method == "GET":
            if match.group(2) is None:
                return {"functions": [f for n, f in sorted(p.functions.items()) if n.startswith(match.group(1))]}
            if path.removeprefix("/v2/") not in p.functions:
                raise not_found
            return p.functions[path.removeprefix("/v2/")]
        # Cloud Run v2: the IAM policy of a function's service
        match = re.fullmatch(r"/v2/(projects/[^/]+/locations/[^/]+/services/[^/:]+):(getIamPolicy|setIamPolicy)", path)
        if match:
            service = match.group(1)
            if not any(f["serviceConfig"]["service"] == service for f in p.functions.values()):
                raise not_found
            if match.group(2) == "getIamPolicy":
                return p.policy(service)
            return p.set_policy(service, body["policy"])
        # Cloud Scheduler
        match = re.fullmatch(rf"{root}/locations/[^/]+/jobs(?:/([^/]+))?", path)
        if match:
            name = path.removeprefix("/v1/")
            if method == "GET" and match.group(1) is None:
                return {"jobs": [job for job_name, job in sorted(p.jobs.items()) if job_name.startswith(name)]}
            if method == "POST":
                p.jobs[body["name"]] = body
                p.writes.append(f"createJob {body['name']}")
                return body
            if name not in p.jobs:
                raise not_found
            if method == "PATCH":
                p.jobs[name] = {**p.jobs[name], **body}
                p.writes.append(f"updateJob {name}")
                return p.jobs[name]
            if method == "DELETE":
                del p.jobs[name]
                p.writes.append(f"deleteJob {name}")
                return {}
            return p.jobs[name]
        raise ApiError(404, "NOT_FOUND", f"the stand-in does not serve {method} {path}")

    def secret_route(self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
        p = self.project
        name, _, verb = path.removeprefix("/v1/").partition(":")
        if method == "POST" and name == f"projects/{p.project}/secrets":
            name = f"{name}/{query['secretId'][0]}"
            if name in p.secrets:
                raise ApiError(409, "ALREADY_EXISTS", f"{name} exists")
            p.secrets[name] = {**body, "name": name}
            p.versions[name] = []
            p.writes.append(f"createSecret {name}")
            return p.secrets[name]
        secret = name.removesuffix("/versions").removesuffix("/versions/latest")
        if secret not in p.secrets:
            raise ApiError(404, "NOT_FOUND", f"Secret [{secret}] not found or has no versions.")
        if verb == "addVersion":
            p.versions[secret].append(base64.b64decode(body["payload"]["data"]))
            p.writes.append(f"addVersion {secret}")
            number = len(p.versions[secret])
            return {"name": f"{secret}/versions/{number}", "state": "ENABLED"}
        if verb == "access":
            if not p.versions[secret]:
                raise ApiError(404, "NOT_FOUND", "no versions")
            data = base64.b64encode(p.versions[secret][-1]).decode()
            return {"name": f"{secret}/versions/{len(p.versions[secret])}", "payload": {"data": data}}
        if verb == "getIamPolicy":
            return p.policy(secret)
        if verb == "setIamPolicy":
            return p.set_policy(secret, body["policy"])
        if name.endswith("/versions"):
            return {
                "versions": [
                    {"name": f"{secret}/versions/{number}", "state": "ENABLED"}
                    for number in range(1, len(p.versions[secret]) + 1)
                ]
            }
        return p.secrets[secret]


def iam_service(project: Project) -> grpc.GenericRpcHandler:
    """IAM admin's two RPCs the deploy calls, over gRPC."""

    def get(request: iam_admin_v1.GetServiceAccountRequest, context: grpc.ServicerContext) -> Any:
        email = request.name.rsplit("/", 1)[1]
        with project.lock:
            if "iam.googleapis.com" not in project.enabled:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, "SERVICE_DISABLED")
            if email not in project.accounts:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Unknown service account {email}")
            return iam_admin_v1.ServiceAccount(**project.accounts[email])

    def create(request: iam_admin_v1.CreateServiceAccountRequest, context: grpc.ServicerContext) -> Any:
        email = f"{request.account_id}@{project.project}.iam.gserviceaccount.com"
        with project.lock:
            if "iam.googleapis.com" not in project.enabled:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, "SERVICE_DISABLED")
            project.accounts[email] = {
                "name": f"projects/{project.project}/serviceAccounts/{email}",
                "email": email,
                "display_name": request.service_account.display_name,
            }
            project.writes.append(f"createServiceAccount {email}")
            return iam_admin_v1.ServiceAccount(**project.accounts[email])

    return grpc.method_handlers_generic_handler(
        "google.iam.admin.v1.IAM",
        {
            "GetServiceAccount": grpc.unary_unary_rpc_method_handler(
                get,
                request_deserializer=iam_admin_v1.GetServiceAccountRequest.deserialize,
                response_serializer=iam_admin_v1.ServiceAccount.serialize,
            ),
            "CreateServiceAccount": grpc.unary_unary_rpc_method_handler(
                create,
                request_deserializer=iam_admin_v1.CreateServiceAccountRequest.deserialize,
                response_serializer=iam_admin_v1.ServiceAccount.serialize,
            ),
        },
    )


class FakeGcloud:
    """`gcloud functions deploy`, applied to the stand-in: the seam that is ours (no test can build source)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.deployed: list[str] = []

    def __call__(self, argv: Sequence[str]) -> None:
        assert list(argv[:3]) == ["gcloud", "functions", "deploy"]
        name = argv[3]
        flags = dict(part.removeprefix("--").split("=", 1) for part in argv[4:] if "=" in part)
        switches = {part.removeprefix("--") for part in argv[4:] if "=" not in part}
        p = self.project
        with p.lock:
            assert {"cloudfunctions.googleapis.com", "run.googleapis.com", "cloudbuild.googleapis.com"} <= p.enabled
            account = flags["service-account"]
            assert account in p.accounts, f"{account} does not exist"
            for mount in flags["set-secrets"].split(","):
                secret = f"projects/{flags['project']}/secrets/{mount.split('=')[1].split(':')[0]}"
                assert p.versions.get(secret), f"{secret} has no version"
                accessors = {
                    member
                    for binding in p.policy(secret).get("bindings", [])
                    if binding["role"] == "roles/secretmanager.secretAccessor"
                    for member in binding["members"]
                }
                assert f"serviceAccount:{account}" in accessors, f"{account} cannot read {secret}"
            location = f"projects/{flags['project']}/locations/{flags['region']}"
            service = f"{location}/services/{name.replace('_', '-')}"
            p.functions[f"{location}/functions/{name}"] = {
                "name": f"{location}/functions/{name}",
                "state": "ACTIVE",
                "environment": "GEN_2",
                "url": f"https://{flags['region']}-{flags['project']}.cloudfunctions.net/{name}",
                "labels": dict(pair.split("=", 1) for pair in flags["update-labels"].split(",")),
                "buildConfig": {"runtime": flags["runtime"], "entryPoint": flags["entry-point"]},
                "serviceConfig": {
                    "service": service,
                    "uri": f"https://{name.replace('_', '-')}-abc123-ew.a.run.app",
                    "availableMemory": flags["memory"],
                    "timeoutSeconds": int(flags["timeout"].removesuffix("s")),
                    "serviceAccountEmail": account,
                },
            }
            policy = p.policy(service)
            if "allow-unauthenticated" in switches:
                invokers = [b for b in policy.setdefault("bindings", []) if b["role"] == "roles/run.invoker"]
                if not invokers:
                    policy["bindings"].append({"role": "roles/run.invoker", "members": []})
                    invokers = policy["bindings"][-1:]
                if "allUsers" not in invokers[0]["members"]:
                    invokers[0]["members"].append("allUsers")
            p.writes.append(f"deploy {name}")
            self.deployed.append(name)


@dataclasses.dataclass
class StandIn:
    project: Project
    clients: Clients
    gcloud: FakeGcloud


@pytest.fixture
def standin() -> Iterator[StandIn]:
    project = Project(PROJECT)
    handler = type("ProjectApi", (RestApi,), {"project": project})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    grpc_server.add_generic_rpc_handlers((iam_service(project),))
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    host = f"127.0.0.1:{server.server_address[1]}"
    rest = {"host": host, "url_scheme": "http", "credentials": AnonymousCredentials()}
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    clients = Clients(
        service_usage=service_usage_v1.ServiceUsageClient(transport=ServiceUsageRestTransport(**rest)),
        firestore_admin=FirestoreAdminClient(transport=FirestoreAdminRestTransport(**rest)),
        secrets=secretmanager_v1.SecretManagerServiceClient(transport=SecretManagerServiceRestTransport(**rest)),
        iam=iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel)),
        projects=ProjectsClient(transport=ProjectsRestTransport(**rest)),
        functions=functions_v2.FunctionServiceClient(transport=FunctionServiceRestTransport(**rest)),
        run=run_v2.ServicesClient(transport=ServicesRestTransport(**rest)),
        scheduler=scheduler_v1.CloudSchedulerClient(transport=CloudSchedulerRestTransport(**rest)),
    )
    yield StandIn(project, clients, FakeGcloud(project))
    channel.close()
    grpc_server.stop(None)
    server.shutdown()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return build(tmp_path_factory.mktemp("deploy") / "functions-bundle")


@pytest.fixture
def target(bundle: Bundle) -> Target:
    return target_for(PROJECT, REGION, bundle, Settings(api_token=""))


def state_of(standin: StandIn) -> ProjectState:
    return discover(
        standin.clients,
        project=PROJECT,
        region=REGION,
        apis=APIS,
        secret_ids=SECRETS.values(),
        service_accounts=(f"flywheel-runtime@{PROJECT}.iam.gserviceaccount.com", INVOKER.split(":")[1]),
        token_secret="flywheel-api-token",
    )


def deployed(standin: StandIn, target: Target) -> None:
    execute(plan(target, state_of(standin), ENV), standin.clients, standin.gcloud, echo=lambda line: None)
    standin.project.writes.clear()
    standin.gcloud.deployed.clear()


# ---- an empty project ------------------------------------------------------------------------------------------


def test_an_empty_project_is_read_as_empty_whatever_api_is_off(standin: StandIn) -> None:
    state = state_of(standin)

    assert state.enabled_apis == {"cloudresourcemanager.googleapis.com"}
    assert (state.database, dict(state.secrets), state.service_accounts) == (None, {}, frozenset())
    assert (dict(state.functions), dict(state.jobs)) == ({}, {})
    assert standin.project.writes == []


def test_the_plan_for_an_empty_project_lists_every_resource_in_order(standin: StandIn, target: Target) -> None:
    lines = [step.describe() for step in plan(target, state_of(standin), ENV)]

    wanted_apis = sorted(set(APIS) - {"cloudresourcemanager.googleapis.com"})
    assert lines[0] == (
        'serviceusage.googleapis.com BatchEnableServices {"parent":"projects/sicomputer-flywheel",'
        f'"serviceIds":{json.dumps(wanted_apis, separators=(",", ":"))}}}'
    )
    assert lines[1] == (
        'firestore.googleapis.com CreateDatabase {"database":{"locationId":"europe-west1","type":"FIRESTORE_NATIVE"},'
        '"databaseId":"(default)","parent":"projects/sicomputer-flywheel"}'
    )
    assert lines[2:4] == [
        'iam.googleapis.com CreateServiceAccount {"accountId":"flywheel-runtime","name":"projects/sicomputer-flywheel",'
        '"serviceAccount":{"displayName":"Flywheel functions (runtime)"}}',
        'iam.googleapis.com CreateServiceAccount {"accountId":"flywheel-invoker","name":"projects/sicomputer-flywheel",'
        '"serviceAccount":{"displayName":"Flywheel Cloud Scheduler jobs (invoker)"}}',
    ]
    secret_lines = lines[4:14]
    for index, secret_id in enumerate(SECRETS.values()):
        assert secret_lines[2 * index] == (
            'secretmanager.googleapis.com CreateSecret {"parent":"projects/sicomputer-flywheel","secret":'
            f'{{"labels":{{"app":"flywheel"}},"replication":{{"automatic":{{}}}}}},"secretId":"{secret_id}"}}'
        )
        assert secret_lines[2 * index + 1] == (
            "secretmanager.googleapis.com AddSecretVersion "
            f'{{"parent":"projects/sicomputer-flywheel/secrets/{secret_id}","payload":{{"data":"***"}}}}'
        )
    assert lines[14:20] == [
        *(
            f"secretmanager.googleapis.com SetIamPolicy projects/sicomputer-flywheel/secrets/{secret_id} "
            f"roles/secretmanager.secretAccessor +{RUNTIME}"
            for secret_id in SECRETS.values()
        ),
        "cloudresourcemanager.googleapis.com SetIamPolicy projects/sicomputer-flywheel "
        f"roles/datastore.user +{RUNTIME}",
    ]
    deploys = [line for line in lines if line.startswith("gcloud ")]
    assert [line.split()[3] for line in deploys] == entry_points()
    assert lines[20 : 20 + len(deploys)] == deploys
    scheduled = [name for name, spec in functions().items() if spec.schedules(Settings())]
    grants = lines[20 + len(deploys) : 20 + len(deploys) + len(scheduled)]
    assert grants == [
        "run.googleapis.com SetIamPolicy (the Cloud Run service of "
        f"projects/sicomputer-flywheel/locations/europe-west1/functions/{name}) roles/run.invoker +{INVOKER}"
        for name in scheduled
    ]
    jobs = lines[20 + len(deploys) + len(scheduled) :]
    assert len(jobs) == len(job_specs(Settings())) and all(
        line.startswith('cloudscheduler.googleapis.com CreateJob {"job":{"attemptDeadline":"540s","description":')
        for line in jobs
    )
    base = "https://europe-west1-sicomputer-flywheel.cloudfunctions.net"
    body = base64.b64encode(json.dumps({"mode": "full"}).encode()).decode()
    assert (
        'cloudscheduler.googleapis.com CreateJob {"job":{"attemptDeadline":"540s",'
        '"description":"SiRank, full run that rebuilds the order ledger","httpTarget":'
        f'{{"body":"{body}",'
        '"headers":{"Content-Type":"application/json","X-Flywheel-Token":"***"},"httpMethod":"POST",'
        f'"oidcToken":{{"audience":"{base}/sirank_recalc","serviceAccountEmail":"{INVOKER.split(":")[1]}"}},'
        f'"uri":"{base}/sirank_recalc"}},'
        '"name":"projects/sicomputer-flywheel/locations/europe-west1/jobs/flywheel-sirank-recalc-weekly-full",'
        '"retryConfig":{"maxBackoffDuration":"3600s","maxDoublings":2,'
        f'"minBackoffDuration":"{Settings().effect_lease_seconds + 60}s","retryCount":5}},'
        '"schedule":"0 1 * * 0","timeZone":"Europe/Rome"},'
        '"parent":"projects/sicomputer-flywheel/locations/europe-west1"}'
    ) in jobs
    for secret in ENV.values():
        assert not any(secret in line for line in lines)


def test_the_exact_deploy_command_of_a_scheduled_function(standin: StandIn, target: Target, bundle: Bundle) -> None:
    [step] = [s for s in plan(target, state_of(standin), ENV) if isinstance(s, Gcloud) and s.argv[3] == "sirank_recalc"]

    *command, labels, quiet = step.argv
    assert command == [
        "gcloud",
        "functions",
        "deploy",
        "sirank_recalc",
        "--gen2",
        "--runtime=python311",
        "--region=europe-west1",
        "--project=sicomputer-flywheel",
        f"--source={bundle.path}",
        "--entry-point=sirank_recalc",
        "--trigger-http",
        "--no-allow-unauthenticated",
        "--timeout=540s",
        "--memory=512Mi",
        "--service-account=flywheel-runtime@sicomputer-flywheel.iam.gserviceaccount.com",
        "--set-env-vars=GOOGLE_CLOUD_PROJECT=sicomputer-flywheel,FLYWHEEL_STATE=firestore://sicomputer-flywheel,"
        "FLYWHEEL_MAILER=hubspot,"
        "FLYWHEEL_PUBLIC_URL=https://europe-west1-sicomputer-flywheel.cloudfunctions.net",
        "--set-secrets=HUBSPOT_ACCESS_TOKEN=hubspot-access-token:latest,"
        "HUBSPOT_CLIENT_SECRET=hubspot-client-secret:latest,"
        "FLYWHEEL_NURTURE__COUPON_SECRET=flywheel-coupon-secret:latest,"
        "FLYWHEEL_API_TOKEN=flywheel-api-token:latest,"
        "FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET=flywheel-unsubscribe-secret:latest",
    ]
    assert re.fullmatch(
        rf"--update-labels=flywheel-source={source_hash(bundle)},flywheel-config=[0-9a-f]{{16}}", labels
    )
    assert quiet == "--quiet"


def test_only_the_webhooks_and_public_entries_are_deployed_without_authentication(
    standin: StandIn, target: Target
) -> None:
    commands = {s.argv[3]: s.argv for s in plan(target, state_of(standin), ENV) if isinstance(s, Gcloud)}

    public = {name for name, argv in commands.items() if "--allow-unauthenticated" in argv}
    assert public == public_entry_points() == {name for name in commands if name.endswith("_webhook")} | {"unsubscribe"}
    assert all("--no-allow-unauthenticated" in argv for name, argv in commands.items() if name not in public)


# ---- carrying it out -------------------------------------------------------------------------------------------


def test_after_the_plan_is_carried_out_a_second_plan_is_empty(standin: StandIn, target: Target) -> None:
    steps = plan(target, state_of(standin), ENV)
    execute(steps, standin.clients, standin.gcloud, echo=lambda line: None)
    p = standin.project

    assert plan(target, state_of(standin), ENV) == []
    assert set(APIS) <= p.enabled
    assert state_of(standin).database == Database("FIRESTORE_NATIVE", REGION)
    assert {name.rsplit("/", 1)[1]: versions[-1].decode() for name, versions in p.versions.items()} == {
        secret_id: ENV[variable] for variable, secret_id in SECRETS.items()
    }
    assert standin.gcloud.deployed == entry_points()
    for name in entry_points():
        service = p.functions[f"projects/{PROJECT}/locations/{REGION}/functions/{name}"]["serviceConfig"]["service"]
        expected = {"allUsers"} if name in public_entry_points() else set()
        if name in functions() and functions()[name].schedules(Settings()):
            expected.add(INVOKER)
        assert p.invokers(service) == expected, name
    owner_kept = p.policy(f"projects/{PROJECT}")["bindings"]
    assert {"role": "roles/owner", "members": ["user:owner@sicomputer.it"]} in owner_kept
    assert {"role": "roles/datastore.user", "members": [RUNTIME]} in owner_kept
    assert len(p.jobs) == len(job_specs(Settings()))
    for job in p.jobs.values():
        target_ = job["httpTarget"]
        assert target_["uri"].startswith(f"https://{REGION}-{PROJECT}.cloudfunctions.net/")
        assert target_["oidcToken"] == {"serviceAccountEmail": INVOKER.split(":")[1], "audience": target_["uri"]}
        assert target_["headers"]["X-Flywheel-Token"] == ENV["FLYWHEEL_API_TOKEN"]


def test_the_command_on_a_deployed_project_plans_nothing_and_changes_nothing(
    standin: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a bundle of its own, built just before the command builds its own from the same tree elsewhere: the source
    # label depends on the files' content, not on where the bundle is
    deployed(standin, target_for(PROJECT, REGION, build(tmp_path / "first"), Settings(api_token="")))

    code = deploy.main(
        ["--project", PROJECT, "--region", REGION, "--out", str(tmp_path / "bundle")],
        clients=standin.clients,
        runner=standin.gcloud,
        env={},  # nothing is created, so no value is needed
        settings=Settings(api_token=""),
    )

    assert code == 0
    assert capsys.readouterr().out.strip() == f"nothing to change: {PROJECT} ({REGION}) is up to date"
    assert standin.project.writes == [] and standin.gcloud.deployed == []


def test_a_dry_run_prints_the_plan_and_changes_nothing(
    standin: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = deploy.main(
        ["--project", PROJECT, "--region", REGION, "--dry-run", "--out", str(tmp_path / "bundle")],
        clients=standin.clients,
        runner=standin.gcloud,
        env=ENV,
        settings=Settings(api_token=""),
    )

    printed = capsys.readouterr().out
    assert code == 0
    assert standin.project.writes == [] and standin.gcloud.deployed == []
    assert "BatchEnableServices" in printed and "gcloud functions deploy sirank_recalc" in printed
    assert not any(value in printed for value in ENV.values())


def test_a_missing_secret_value_fails_before_any_change(
    standin: StandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {variable: value for variable, value in ENV.items() if variable != "HUBSPOT_CLIENT_SECRET"}

    code = deploy.main(
        ["--project", PROJECT, "--region", REGION, "--out", str(tmp_path / "bundle")],
        clients=standin.clients,
        runner=standin.gcloud,
        env=env,
        settings=Settings(api_token=""),
    )

    assert code == 2
    assert "HUBSPOT_CLIENT_SECRET" in capsys.readouterr().err
    assert standin.project.writes == [] and standin.gcloud.deployed == []


def test_a_leftover_flywheel_job_is_removed_and_other_jobs_are_left_alone(standin: StandIn, target: Target) -> None:
    deployed(standin, target)
    old = standin.project.add_job("flywheel-old-function-daily")
    theirs = standin.project.add_job("nightly-backup")

    steps = plan(target, state_of(standin), ENV)

    assert [step.describe() for step in steps] == [f'cloudscheduler.googleapis.com DeleteJob {{"name":"{old}"}}']
    execute(steps, standin.clients, standin.gcloud, echo=lambda line: None)
    assert old not in standin.project.jobs and theirs in standin.project.jobs
    assert standin.project.writes == [f"deleteJob {old}"]


def test_a_changed_memory_redeploys_only_that_function(standin: StandIn, target: Target) -> None:
    deployed(standin, target)
    bigger = dataclasses.replace(target, resources={**target.resources, "cart_watch": ("1Gi", 540)})

    steps = plan(bigger, state_of(standin), ENV)

    assert [(type(step), step.argv[3]) for step in steps if isinstance(step, Gcloud)] == [(Gcloud, "cart_watch")]
    assert len(steps) == 1 and "--memory=1Gi" in steps[0].describe()
    execute(steps, standin.clients, standin.gcloud, echo=lambda line: None)
    assert plan(bigger, state_of(standin), ENV) == []


def test_rotating_the_api_token_adds_a_version_and_updates_every_job(standin: StandIn, target: Target) -> None:
    deployed(standin, target)
    rotated = {**ENV, "FLYWHEEL_API_TOKEN": "the-new-api-token"}

    assert plan(target, state_of(standin), rotated) == []  # a different value alone is not a rotation
    steps = plan(target, state_of(standin), rotated, rotate=["flywheel-api-token"])
    execute(steps, standin.clients, standin.gcloud, echo=lambda line: None)

    p = standin.project
    assert p.writes[0] == f"addVersion projects/{PROJECT}/secrets/flywheel-api-token"
    assert sorted(p.writes[1:]) == sorted(f"updateJob {name}" for name in p.jobs)
    assert {job["httpTarget"]["headers"]["X-Flywheel-Token"] for job in p.jobs.values()} == {"the-new-api-token"}
    assert plan(target, state_of(standin), rotated) == []


def test_a_scheduled_function_made_public_by_hand_loses_allusers(standin: StandIn, target: Target) -> None:
    deployed(standin, target)
    p = standin.project
    service = p.functions[f"projects/{PROJECT}/locations/{REGION}/functions/fido_push"]["serviceConfig"]["service"]
    p.set_policy(service, {"bindings": [{"role": "roles/run.invoker", "members": ["allUsers", INVOKER]}]})

    steps = plan(target, state_of(standin), ENV)

    assert [step.describe() for step in steps] == [
        f"run.googleapis.com SetIamPolicy {service} roles/run.invoker -allUsers"
    ]
    execute(steps, standin.clients, standin.gcloud, echo=lambda line: None)
    assert p.invokers(service) == {INVOKER}


def test_a_failing_step_stops_the_run_naming_it_and_the_steps_before_it_stay_done(standin: StandIn) -> None:
    ghost = f"serviceAccount:ghost@{PROJECT}.iam.gserviceaccount.com"
    steps = [
        deploy.ApiCall(
            "service_usage",
            "batch_enable_services",
            "serviceusage.googleapis.com",
            "BatchEnableServices",
            service_usage_v1.BatchEnableServicesRequest(
                parent=f"projects/{PROJECT}", service_ids=["iam.googleapis.com"]
            ),
        ),
        deploy.Grant(
            "projects", "cloudresourcemanager.googleapis.com", "roles/viewer", f"projects/{PROJECT}", add=(ghost,)
        ),
        deploy.ApiCall(
            "service_usage",
            "batch_enable_services",
            "serviceusage.googleapis.com",
            "BatchEnableServices",
            service_usage_v1.BatchEnableServicesRequest(
                parent=f"projects/{PROJECT}", service_ids=["run.googleapis.com"]
            ),
        ),
    ]

    with pytest.raises(deploy.DeployFailed, match=r"step 2 failed: .*ghost@"):
        execute(steps, standin.clients, standin.gcloud, echo=lambda line: None, grant_retry_seconds=0.2)

    assert standin.project.writes == ["batchEnable iam.googleapis.com"]
