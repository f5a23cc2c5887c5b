"""The deploy's planning, pure: a project's state and the wanted state in, the ordered steps out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from google.cloud import scheduler_v1
from google.iam.v1 import policy_pb2
from google.type import expr_pb2
from hypothesis import given
from hypothesis import strategies as st

from flywheel.config import Settings
from flywheel.errors import BadInput, ConfigurationError
from infra.bundle import SECRETS, resources
from infra.deploy import (
    APIS,
    ApiCall,
    Gcloud,
    Grant,
    Target,
    deploy_command,
    plain_settings,
    plan,
    with_members,
)
from infra.gcp_state import Database, Function, ProjectState, Secret
from infra.scheduler import build_job, job_specs

PROJECT, REGION = "acme-flywheel", "europe-west8"
RUNTIME = f"serviceAccount:flywheel-runtime@{PROJECT}.iam.gserviceaccount.com"
INVOKER = f"serviceAccount:flywheel-invoker@{PROJECT}.iam.gserviceaccount.com"
ENV = {variable: f"value-of-{secret_id}" for variable, secret_id in SECRETS.items()}


def make_target(**changes: object) -> Target:
    settings = Settings(api_token="")
    names = ("sirank_recalc", "cold_segment", "cold_segment_webhook", "unsubscribe", "coupon_check")
    target = Target(
        project=PROJECT,
        region=REGION,
        source=Path("/build/functions-bundle"),
        source_hash="0123456789abcdef",
        entry_points=names,
        scheduled=frozenset({"sirank_recalc", "cold_segment"}),
        public=frozenset({"cold_segment_webhook", "unsubscribe"}),
        job_specs=tuple(spec for spec in job_specs(settings) if spec.function in {"sirank_recalc", "cold_segment"}),
        lease_seconds=settings.effect_lease_seconds,
        resources={name: resources(name) for name in names},
    )
    return dataclasses.replace(target, **changes)  # type: ignore[arg-type]


def labels_of(argv: list[str]) -> dict[str, str]:
    [value] = [part.split("=", 1)[1] for part in argv if part.startswith("--update-labels=")]
    return dict(pair.split("=", 1) for pair in value.split(","))


def converged(target: Target, api_token: str = ENV["FLYWHEEL_API_TOKEN"]) -> ProjectState:
    """A project where everything the target wants is already there."""
    functions = {
        name: Function(
            labels=labels_of(deploy_command(target, name)),
            state="ACTIVE",
            service=f"projects/{PROJECT}/locations/{REGION}/services/{name.replace('_', '-')}",
            invokers=frozenset(
                ({"allUsers"} if name in target.public else set()) | ({INVOKER} if name in target.scheduled else set())
            ),
        )
        for name in target.entry_points
    }
    jobs = [
        build_job(
            spec,
            project=PROJECT,
            region=REGION,
            function_base_url=f"https://{REGION}-{PROJECT}.cloudfunctions.net",
            service_account=INVOKER.split(":")[1],
            lease_seconds=target.lease_seconds,
            api_token=api_token,
        )
        for spec in target.job_specs
    ]
    return ProjectState(
        enabled_apis=frozenset(APIS),
        database=Database("FIRESTORE_NATIVE", REGION),
        secrets={secret_id: Secret(True, frozenset({RUNTIME})) for secret_id in SECRETS.values()},
        service_accounts=frozenset({RUNTIME.split(":")[1], INVOKER.split(":")[1]}),
        project_roles={"roles/datastore.user": frozenset({RUNTIME}), "roles/owner": frozenset({"user:me@acme.it"})},
        functions=functions,
        jobs={job.name: job for job in jobs},
        api_token=api_token,
    )


def test_a_project_that_has_everything_needs_no_step_and_no_secret_value() -> None:
    target = make_target()

    assert plan(target, converged(target), env={}) == []


def test_only_the_apis_that_are_off_are_enabled() -> None:
    target = make_target()
    state = dataclasses.replace(converged(target), enabled_apis=frozenset(APIS) - {"run.googleapis.com"})

    [step] = plan(target, state, ENV)

    assert isinstance(step, ApiCall) and list(step.request.service_ids) == ["run.googleapis.com"]


def test_a_datastore_mode_database_stops_the_plan_naming_the_mode() -> None:
    target = make_target()
    state = dataclasses.replace(converged(target), database=Database("DATASTORE_MODE", REGION))

    with pytest.raises(ConfigurationError, match="DATASTORE_MODE"):
        plan(target, state, ENV)


def test_a_secret_with_a_version_is_left_alone_whatever_the_environment_says() -> None:
    target = make_target()
    different = {variable: "another value" for variable in ENV}

    assert plan(target, converged(target), different) == []


def test_rotation_adds_a_version_from_the_environment_and_only_that() -> None:
    target = make_target()

    [step] = plan(target, converged(target), ENV, rotate=["hubspot-access-token"])

    assert isinstance(step, ApiCall) and step.rpc == "AddSecretVersion"
    assert step.request.parent == f"projects/{PROJECT}/secrets/hubspot-access-token"
    assert bytes(step.request.payload.data) == b"value-of-hubspot-access-token"
    assert "value-of" not in step.describe()


def test_rotation_without_a_value_or_of_an_unknown_secret_is_refused() -> None:
    target = make_target()

    with pytest.raises(ConfigurationError, match="HUBSPOT_ACCESS_TOKEN"):
        plan(target, converged(target), {}, rotate=["hubspot-access-token"])
    with pytest.raises(BadInput, match="hubspot-token"):
        plan(target, converged(target), ENV, rotate=["hubspot-token"])


def test_a_secret_without_a_version_gets_one_and_every_missing_value_is_named_at_once() -> None:
    target = make_target()
    secrets = {**converged(target).secrets, "flywheel-coupon-secret": Secret(False, frozenset({RUNTIME}))}
    state = dataclasses.replace(converged(target), secrets=secrets)

    [step] = plan(target, state, ENV)
    assert isinstance(step, ApiCall) and (step.rpc, step.request.parent) == (
        "AddSecretVersion",
        f"projects/{PROJECT}/secrets/flywheel-coupon-secret",
    )

    empty = dataclasses.replace(state, secrets={})
    with pytest.raises(ConfigurationError) as refused:
        plan(target, empty, {"HUBSPOT_ACCESS_TOKEN": "x"})
    assert all(variable in str(refused.value) for variable in set(SECRETS) - {"HUBSPOT_ACCESS_TOKEN"})


def test_a_changed_source_redeploys_every_function_and_nothing_else() -> None:
    target = make_target()
    state = converged(target)

    steps = plan(dataclasses.replace(target, source_hash="fedcba9876543210"), state, ENV)

    assert [step.argv[3] for step in steps if isinstance(step, Gcloud)] == list(target.entry_points)
    assert all(isinstance(step, Gcloud) for step in steps)


def test_a_function_whose_last_deploy_failed_is_deployed_again() -> None:
    target = make_target()
    state = converged(target)
    failed = {**state.functions, "coupon_check": dataclasses.replace(state.functions["coupon_check"], state="FAILED")}

    steps = plan(target, dataclasses.replace(state, functions=failed), ENV)

    assert [step.describe().split()[3] for step in steps] == ["coupon_check"]


def test_the_config_label_follows_every_setting_of_the_command_but_not_the_source_folder() -> None:
    target = make_target()
    base = labels_of(deploy_command(target, "sirank_recalc"))["flywheel-config"]

    moved = make_target(source=Path("/elsewhere/bundle"))
    longer = make_target(resources={**target.resources, "sirank_recalc": ("512Mi", 600)})
    other_region = make_target(region="europe-west1")

    assert labels_of(deploy_command(moved, "sirank_recalc"))["flywheel-config"] == base
    assert labels_of(deploy_command(longer, "sirank_recalc"))["flywheel-config"] != base
    assert labels_of(deploy_command(other_region, "sirank_recalc"))["flywheel-config"] != base


def test_a_new_scheduled_function_is_granted_to_the_invoker_through_its_service_after_its_deploy() -> None:
    target = make_target()
    state = converged(target)
    functions = {name: f for name, f in state.functions.items() if name != "cold_segment"}

    steps = plan(target, dataclasses.replace(state, functions=functions), ENV)

    assert [type(step) for step in steps] == [Gcloud, Grant]
    grant = steps[1]
    assert isinstance(grant, Grant)
    assert (grant.resource, grant.function, grant.add) == (
        "",
        f"projects/{PROJECT}/locations/{REGION}/functions/cold_segment",
        (INVOKER,),
    )


def test_a_public_member_on_a_private_function_is_removed_and_a_missing_invoker_added_by_service_name() -> None:
    target = make_target()
    state = converged(target)
    functions = {
        **state.functions,
        "coupon_check": dataclasses.replace(state.functions["coupon_check"], invokers=frozenset({"allUsers"})),
        "sirank_recalc": dataclasses.replace(state.functions["sirank_recalc"], invokers=frozenset()),
    }

    steps = plan(target, dataclasses.replace(state, functions=functions), ENV)

    assert [step.describe() for step in steps] == [
        f"run.googleapis.com SetIamPolicy projects/{PROJECT}/locations/{REGION}/services/sirank-recalc "
        f"roles/run.invoker +{INVOKER}",
        f"run.googleapis.com SetIamPolicy projects/{PROJECT}/locations/{REGION}/services/coupon-check "
        "roles/run.invoker -allUsers",
    ]


def test_the_jobs_send_the_token_the_functions_mount_not_a_different_one_from_the_environment() -> None:
    target = make_target()
    state = converged(target, api_token="the-token-in-secret-manager")

    assert plan(target, state, {**ENV, "FLYWHEEL_API_TOKEN": "a-different-token"}) == []

    steps = plan(target, state, {**ENV, "FLYWHEEL_API_TOKEN": "a-new-token"}, rotate=["flywheel-api-token"])
    updates = [step for step in steps if isinstance(step, ApiCall) and step.rpc == "UpdateJob"]
    assert len(updates) == len(target.job_specs)
    assert {step.request.job.http_target.headers["X-Flywheel-Token"] for step in updates} == {"a-new-token"}
    assert not any("a-new-token" in step.describe() for step in steps)


def test_only_flywheel_jobs_the_registry_lost_are_deleted() -> None:
    target = make_target()
    state = converged(target)
    location = f"projects/{PROJECT}/locations/{REGION}"
    extra = {
        f"{location}/jobs/flywheel-old-function-daily": scheduler_v1.Job(
            name=f"{location}/jobs/flywheel-old-function-daily"
        ),
        f"{location}/jobs/backup-nightly": scheduler_v1.Job(name=f"{location}/jobs/backup-nightly"),
    }

    steps = plan(target, dataclasses.replace(state, jobs={**state.jobs, **extra}), ENV)

    assert [step.describe() for step in steps] == [
        f'cloudscheduler.googleapis.com DeleteJob {{"name":"{location}/jobs/flywheel-old-function-daily"}}'
    ]


def test_a_changed_schedule_updates_that_job_only() -> None:
    target = make_target()
    state = converged(target)
    name = next(iter(state.jobs))
    changed = scheduler_v1.Job(state.jobs[name])
    changed.schedule = "0 4 * * *"

    steps = plan(target, dataclasses.replace(state, jobs={**state.jobs, name: changed}), ENV)

    assert [(step.rpc, step.request.job.name) for step in steps if isinstance(step, ApiCall)] == [("UpdateJob", name)]
    assert len(steps) == 1


def test_a_plain_setting_reaches_every_function_through_gcloud_alternate_delimiter_when_it_has_commas() -> None:
    target = make_target()
    ids = '{"nurture_1": 123, "riattivazione": 130}'
    with_ids = make_target(env=plain_settings([f"FLYWHEEL_HUBSPOT_EMAIL_IDS={ids}"]))

    steps = plan(with_ids, converged(target), ENV)

    assert [step.argv[3] for step in steps if isinstance(step, Gcloud)] == list(target.entry_points)
    [flag] = [part for part in deploy_command(with_ids, "nurture_step") if part.startswith("--set-env-vars=")]
    assert flag == (
        f"--set-env-vars=^|^GOOGLE_CLOUD_PROJECT={PROJECT}|FLYWHEEL_STATE=firestore://{PROJECT}"
        "|FLYWHEEL_MAILER=hubspot"
        f"|FLYWHEEL_PUBLIC_URL=https://{REGION}-{PROJECT}.cloudfunctions.net|FLYWHEEL_HUBSPOT_EMAIL_IDS={ids}"
    )


@pytest.mark.parametrize("assignment", ["HUBSPOT_ACCESS_TOKEN=pat-1", "flywheel_state=x", "FLYWHEEL_STATE", "=x"])
def test_a_secret_or_a_malformed_plain_setting_is_refused(assignment: str) -> None:
    with pytest.raises(BadInput):
        plain_settings([assignment])


# ---- IAM read-modify-write -------------------------------------------------------------------------------------

ROLES = ("roles/run.invoker", "roles/viewer")
MEMBERS = ("allUsers", "user:a@x.it", "serviceAccount:b@x.iam.gserviceaccount.com", "group:c@x.it")


@st.composite
def policies(draw: st.DrawFn) -> policy_pb2.Policy:
    policy = policy_pb2.Policy(version=3, etag=draw(st.binary(min_size=1, max_size=4)))
    for _ in range(draw(st.integers(0, 4))):
        binding = policy.bindings.add(
            role=draw(st.sampled_from(ROLES)), members=draw(st.lists(st.sampled_from(MEMBERS), min_size=1, unique=True))
        )
        if draw(st.booleans()):
            binding.condition.CopyFrom(expr_pb2.Expr(expression="request.time < timestamp('2030-01-01T00:00:00Z')"))
    return policy


def unconditional(policy: policy_pb2.Policy, role: str) -> set[str]:
    return {m for b in policy.bindings if b.role == role and not b.HasField("condition") for m in b.members}


@given(policies(), st.sampled_from(ROLES), st.sets(st.sampled_from(MEMBERS)), st.sets(st.sampled_from(MEMBERS)))
def test_a_grant_changes_only_its_role_unconditionally_and_twice_is_once(
    policy: policy_pb2.Policy, role: str, add: set[str], remove: set[str]
) -> None:
    remove -= add  # a member both added and removed is not a change anyone asks for

    changed = with_members(policy, role, add, remove)

    assert unconditional(changed, role) == (unconditional(policy, role) - remove) | add
    untouched = [b for b in policy.bindings if b.role != role or b.HasField("condition")]
    assert [b for b in changed.bindings if b.role != role or b.HasField("condition")] == untouched
    assert (changed.etag, changed.version) == (policy.etag, policy.version)
    assert all(binding.members for binding in changed.bindings)
    assert with_members(changed, role, add, remove) == changed
