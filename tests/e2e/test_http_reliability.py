"""Nothing lost, nothing twice, nobody in: the HTTP entries as Cloud Scheduler, HubSpot and strangers call them.

Each test names the defect of issue 8 it proves fixed; every one of them failed on the code before the fix.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.bootstrap import reset_instance
from flywheel.clock import FixedClock
from flywheel.services.registry import functions
from tests.e2e.http_kit import (
    RUN_TARGETS,
    WEBHOOK_TARGETS,
    api_calls,
    client_for,
    effect_keys,
    scheduler_headers,
    signed,
    state_rows,
    with_token,
)

pytestmark = pytest.mark.sandbox

LOCAL_URL = "http://localhost/"
LEASE = timedelta(seconds=600)


def restart_with(monkeypatch: pytest.MonkeyPatch, now: datetime, **env: str | None) -> None:
    """The function instance started afresh with a changed environment (None unsets a variable)."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    reset_instance(clock=FixedClock(now))


def state_store(env: dict[str, str]) -> SqliteStateStore:
    """The state file as another function instance sees it."""
    return SqliteStateStore(env["FLYWHEEL_STATE"].removeprefix("sqlite:///"))


def order_event(portal: Any, event_id: int) -> dict[str, Any]:
    deal_id = portal.store.create_object("deals", {"dealname": f"Ordine web {event_id}", "amount": "150"}, [])
    return {"eventId": event_id, "objectId": int(deal_id), "subscriptionType": "deal.creation"}


def deliver(env: dict[str, str], target: str, events: list[dict[str, Any]], now: datetime) -> Any:
    body = json.dumps(events).encode()
    return client_for(target).post(
        "/", data=body, headers=signed(body, LOCAL_URL, env["HUBSPOT_CLIENT_SECRET"], at=now)
    )


# --- defect 3: a webhook event is never lost -------------------------------------------------------------------


def test_a_webhook_delivery_that_fails_with_any_error_is_processed_on_hubspots_retry(
    portal: Any, flywheel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, now: datetime
) -> None:
    spec = functions()["nurture_step"]
    assert spec.webhook is not None
    real_handler = spec.webhook
    failures = iter([RuntimeError("the instance ran out of memory")])

    def handler_failing_once(events: list[dict[str, Any]], ports: Any) -> Any:
        for failure in failures:
            raise failure
        return real_handler(events, ports)

    monkeypatch.setitem(functions(), "nurture_step", dataclasses.replace(spec, webhook=handler_failing_once))
    event = order_event(portal, 501)

    failed = deliver(flywheel_env, "nurture_step_webhook", [event], now)
    keys_after_failure = effect_keys(flywheel_env)
    retried = deliver(flywheel_env, "nurture_step_webhook", [event], now)

    assert failed.status_code == 500
    assert "webhook:nurture_step:501" not in keys_after_failure, "the failed delivery must give its event up"
    assert retried.status_code == 200, retried.get_json()
    assert "deduplicated" not in retried.get_json(), "the retry must process the event, not call it done"
    assert effect_keys(flywheel_env)["webhook:nurture_step:501"] == "done"


def test_a_webhook_whose_effect_failed_transiently_is_answered_503_and_processed_on_the_retry(
    portal: Any, flywheel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, now: datetime
) -> None:
    spec = functions()["nurture_step"]
    assert spec.webhook is not None
    real_handler = spec.webhook
    calls: list[int] = []

    def handler_with_an_unsure_effect_once(events: list[dict[str, Any]], ports: Any) -> Any:
        result = real_handler(events, ports)
        calls.append(1)
        if len(calls) == 1:
            result.report.outcomes["failed_transient:create_task"] += 1  # HubSpot kept answering 5xx to a create
        return result

    monkeypatch.setitem(
        functions(), "nurture_step", dataclasses.replace(spec, webhook=handler_with_an_unsure_effect_once)
    )
    event = order_event(portal, 503)

    unsure = deliver(flywheel_env, "nurture_step_webhook", [event], now)
    keys_after = effect_keys(flywheel_env)
    retried = deliver(flywheel_env, "nurture_step_webhook", [event], now)

    assert unsure.status_code == 503
    assert "webhook:nurture_step:503" not in keys_after, "HubSpot's retry must find the event free"
    assert retried.status_code == 200 and len(calls) == 2
    assert effect_keys(flywheel_env)["webhook:nurture_step:503"] == "done"


def test_a_webhook_event_another_delivery_is_processing_is_answered_with_a_retry_never_deduplicated(
    portal: Any, flywheel_env: dict[str, str], now: datetime
) -> None:
    event = order_event(portal, 502)
    state_store(flywheel_env).reserve("webhook:nurture_step:502", now=now, lease=LEASE)

    while_held = deliver(flywheel_env, "nurture_step_webhook", [event], now)

    assert while_held.status_code == 429
    assert int(while_held.headers["Retry-After"]) > 0
    assert "deduplicated" not in while_held.get_json()
    assert effect_keys(flywheel_env)["webhook:nurture_step:502"] == "pending", "the other delivery still holds it"


def test_a_redelivery_is_deduplicated_only_once_every_event_in_it_is_done(
    portal: Any, flywheel_env: dict[str, str], now: datetime
) -> None:
    held_event, fresh_event = order_event(portal, 503), order_event(portal, 504)
    other_store = state_store(flywheel_env)
    other = other_store.reserve("webhook:nurture_step:503", now=now, lease=LEASE)
    assert other.token is not None

    partly_held = deliver(flywheel_env, "nurture_step_webhook", [held_event, fresh_event], now)
    other_store.complete("webhook:nurture_step:503", {"processed": True}, now=now, token=other.token)
    calls_before_redelivery = api_calls(portal)
    redelivered = deliver(flywheel_env, "nurture_step_webhook", [held_event, fresh_event], now)

    assert partly_held.status_code == 429
    assert partly_held.get_json()["processed"] == 1, "the event nobody else held is processed at once"
    assert redelivered.status_code == 200
    assert redelivered.get_json()["deduplicated"] is True
    assert api_calls(portal) == calls_before_redelivery


def test_a_scheduled_run_that_fails_with_any_error_runs_again_on_the_schedulers_retry(
    portal: Any, flywheel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, yesterday: str
) -> None:
    spec = functions()["cold_segment"]
    failures = iter([OSError("connection to the state store reset")])

    def run_failing_once(request: Any, ports: Any) -> Any:
        for failure in failures:
            raise failure
        return spec.run(request, ports)

    monkeypatch.setitem(functions(), "cold_segment", dataclasses.replace(spec, run=run_failing_once))
    client = client_for("cold_segment")
    headers = with_token(flywheel_env, **scheduler_headers("flywheel-cold-segment-daily", f"{yesterday}T05:00:00Z"))

    failed = client.post("/", json={"as_of": yesterday}, headers=headers)
    retried = client.post("/", json={"as_of": yesterday}, headers=headers)

    assert failed.status_code == 500
    assert retried.status_code == 200, retried.get_json()
    assert "deduplicated" not in retried.get_json()
    trigger = f"trigger:cold_segment:flywheel-cold-segment-daily:{yesterday}T05:00:00Z"
    assert effect_keys(flywheel_env)[trigger] == "done"


def test_a_scheduled_run_still_in_progress_answers_409_to_the_redelivery(
    portal: Any, flywheel_env: dict[str, str], now: datetime, yesterday: str
) -> None:
    trigger = f"trigger:sirank_recalc:flywheel-sirank-recalc-daily:{yesterday}T01:30:00Z"
    state_store(flywheel_env).reserve(trigger, now=now, lease=LEASE)
    before = api_calls(portal)

    redelivered = client_for("sirank_recalc").post(
        "/",
        json={"as_of": yesterday},
        headers=with_token(flywheel_env, **scheduler_headers("flywheel-sirank-recalc-daily", f"{yesterday}T01:30:00Z")),
    )

    assert redelivered.status_code == 409
    assert api_calls(portal) == before


# --- defect 4: as_of is bounded --------------------------------------------------------------------------------


@pytest.mark.parametrize("offset_days", [-32, 2, 15], ids=["32-days-ago", "2-days-ahead", "15-days-ahead"])
def test_a_run_that_changes_things_refuses_an_as_of_far_from_today_and_changes_nothing(
    portal: Any, flywheel_env: dict[str, str], today: date, offset_days: int
) -> None:
    as_of = (today + timedelta(days=offset_days)).isoformat()
    before, rows_before = api_calls(portal), state_rows(flywheel_env)

    refused = client_for("nurture_step").post(
        "/",
        json={"as_of": as_of},
        headers=with_token(flywheel_env, **scheduler_headers("flywheel-nurture-step-daily", f"{as_of}T07:00:00Z")),
    )

    assert refused.status_code == 400
    message = refused.get_json()["error"]
    allowed = f"{(today - timedelta(days=31)).isoformat()} to {(today + timedelta(days=1)).isoformat()}"
    assert as_of in message and allowed in message
    assert api_calls(portal) == before
    assert state_rows(flywheel_env) == rows_before


def test_the_year_one_as_of_that_cleared_every_last_purchase_date_is_refused(
    portal: Any, flywheel_env: dict[str, str]
) -> None:
    before = api_calls(portal)

    refused = client_for("sirank_recalc").post("/", json={"as_of": "0001-01-01"}, headers=with_token(flywheel_env))

    assert refused.status_code == 400
    assert api_calls(portal) == before


@pytest.mark.parametrize(
    ("as_of", "status"),
    [("2000-01-01", 200), ("1999-12-31", 400), ("+366", 200), ("+367", 400)],
    ids=["2000-01-01", "1999-12-31", "a-year-ahead", "past-a-year-ahead"],
)
def test_a_dry_run_may_look_from_2000_to_a_year_ahead(
    portal: Any, flywheel_env: dict[str, str], today: date, as_of: str, status: int
) -> None:
    day = (today + timedelta(days=int(as_of))).isoformat() if as_of.startswith("+") else as_of

    answered = client_for("cold_segment").post(
        "/", json={"as_of": day, "dry_run": True}, headers=with_token(flywheel_env)
    )

    assert answered.status_code == status, answered.get_json()


# --- defect 5: nobody in ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", RUN_TARGETS)
def test_without_a_token_or_iam_the_run_endpoints_refuse_everyone(
    portal: Any, flywheel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, now: datetime, target: str
) -> None:
    restart_with(monkeypatch, now, FLYWHEEL_API_TOKEN=None)
    client = client_for(target)
    before, rows_before = api_calls(portal), state_rows(flywheel_env)

    anonymous = client.post("/", json={"as_of": "0001-01-01"})
    with_some_bearer = client.post("/", json={"dry_run": True}, headers={"Authorization": "Bearer anything"})
    with_some_token = client.post("/", json={"dry_run": True}, headers={"X-Flywheel-Token": ""})

    assert [anonymous.status_code, with_some_bearer.status_code, with_some_token.status_code] == [401, 401, 401]
    assert "FLYWHEEL_AUTH=iam" in anonymous.get_json()["error"]
    assert api_calls(portal) == before
    assert state_rows(flywheel_env) == rows_before


def test_with_flywheel_auth_iam_the_platform_guards_the_run_endpoints(
    portal: Any, flywheel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, now: datetime, yesterday: str
) -> None:
    restart_with(monkeypatch, now, FLYWHEEL_API_TOKEN=None, FLYWHEEL_AUTH="iam")

    answered = client_for("sirank_recalc").post("/", json={"as_of": yesterday, "dry_run": True})

    assert answered.status_code == 200, answered.get_json()


def test_the_app_token_travels_beside_cloud_schedulers_oidc_bearer(
    portal: Any, flywheel_env: dict[str, str], yesterday: str
) -> None:
    client = client_for("sirank_recalc")
    oidc = {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJmbHl3aGVlbCJ9.c2lnbmF0dXJl"}
    body = {"as_of": yesterday, "dry_run": True}

    scheduled = client.post("/", json=body, headers=with_token(flywheel_env, **oidc))
    token_as_bearer = client.post(
        "/", json=body, headers={"Authorization": f"Bearer {flywheel_env['FLYWHEEL_API_TOKEN']}"}
    )
    wrong_token = client.post("/", json=body, headers={**oidc, "X-Flywheel-Token": "e2e-api-tokeN"})

    assert scheduled.status_code == 200, scheduled.get_json()
    assert token_as_bearer.status_code == 401, "the token has a header of its own"
    assert wrong_token.status_code == 401


def test_scheduler_headers_on_an_unauthenticated_call_leave_no_trace(
    portal: Any, flywheel_env: dict[str, str], yesterday: str
) -> None:
    client = client_for("sirank_recalc")
    trigger = scheduler_headers("flywheel-sirank-recalc-daily", f"{yesterday}T01:30:00Z")
    rows_before = state_rows(flywheel_env)

    forged = client.post("/", json={"as_of": yesterday}, headers=trigger)
    rows_after_forgery = state_rows(flywheel_env)
    scheduled = client.post("/", json={"as_of": yesterday}, headers=with_token(flywheel_env, **trigger))

    assert forged.status_code == 401
    assert rows_after_forgery == rows_before
    assert scheduled.status_code == 200
    assert "deduplicated" not in scheduled.get_json()


# --- defect 9: the webhook URL behind Cloud Functions ----------------------------------------------------------

PUBLIC_BASE = "https://europe-west1-sicomputer-flywheel.cloudfunctions.net"


@pytest.mark.parametrize("query", ["", "?portal=sicomputer"], ids=["plain", "with-query"])
def test_a_webhook_registered_at_the_cloud_functions_url_is_accepted_though_the_platform_strips_the_name(
    portal: Any, flywheel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, now: datetime, query: str
) -> None:
    restart_with(monkeypatch, now, FLYWHEEL_PUBLIC_URL=PUBLIC_BASE)
    body = json.dumps([order_event(portal, 901)]).encode()
    registered = f"{PUBLIC_BASE}/nurture_step_webhook{query}"

    # the app sees "/" (and the query): Cloud Functions routed on the function's name
    answered = client_for("nurture_step_webhook").post(
        f"/{query}", data=body, headers=signed(body, registered, flywheel_env["HUBSPOT_CLIENT_SECRET"], at=now)
    )

    assert answered.status_code == 200, answered.get_json()


def test_a_signature_made_for_another_functions_url_is_refused(
    portal: Any, flywheel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, now: datetime
) -> None:
    restart_with(monkeypatch, now, FLYWHEEL_PUBLIC_URL=PUBLIC_BASE)
    body = json.dumps([order_event(portal, 902)]).encode()
    elsewhere = f"{PUBLIC_BASE}/cold_segment_webhook"
    before = api_calls(portal)

    answered = client_for("nurture_step_webhook").post(
        "/", data=body, headers=signed(body, elsewhere, flywheel_env["HUBSPOT_CLIENT_SECRET"], at=now)
    )

    assert answered.status_code == 401
    assert api_calls(portal) == before


# --- defect 10: bad headers and bodies are 4xx, never 500 ------------------------------------------------------


def signed_headers(env: dict[str, str], now: datetime, body: bytes, **override: str) -> dict[str, str]:
    return {**signed(body, LOCAL_URL, env["HUBSPOT_CLIENT_SECRET"], at=now), **override}


BAD_WEBHOOK_HEADERS: dict[str, Callable[[dict[str, str], datetime, bytes], dict[str, str]]] = {
    "400-digit-timestamp": lambda env, now, body: signed_headers(
        env, now, body, **{"X-HubSpot-Request-Timestamp": "9" * 400}
    ),
    "non-ascii-signature": lambda env, now, body: signed_headers(env, now, body, **{"X-HubSpot-Signature-v3": "firmà"}),
    "arabic-digit-timestamp": lambda env, now, body: signed_headers(
        env, now, body, **{"X-HubSpot-Request-Timestamp": "١٧٠٠٠٠٠٠٠٠٠٠٠"}
    ),
}


@pytest.mark.parametrize("target", WEBHOOK_TARGETS)
@pytest.mark.parametrize("case", list(BAD_WEBHOOK_HEADERS))
def test_malformed_signature_headers_are_refused_with_401(
    portal: Any, flywheel_env: dict[str, str], now: datetime, target: str, case: str
) -> None:
    body = json.dumps([{"eventId": 1, "objectId": 1}]).encode()
    before = api_calls(portal)

    answered = client_for(target).post("/", data=body, headers=BAD_WEBHOOK_HEADERS[case](flywheel_env, now, body))

    assert answered.status_code == 401
    assert api_calls(portal) == before


def test_deeply_nested_json_is_a_400_on_a_run(portal: Any, flywheel_env: dict[str, str]) -> None:
    nested = b'{"as_of": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    answered = client_for("cold_segment").post(
        "/", data=nested, content_type="application/json", headers=with_token(flywheel_env)
    )

    assert answered.status_code == 400


@pytest.mark.parametrize("target", WEBHOOK_TARGETS)
def test_deeply_nested_json_is_a_400_on_a_signed_webhook(
    portal: Any, flywheel_env: dict[str, str], now: datetime, target: str
) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    before, rows_before = api_calls(portal), state_rows(flywheel_env)

    answered = client_for(target).post("/", data=nested, headers=signed_headers(flywheel_env, now, nested))

    assert answered.status_code == 400
    assert api_calls(portal) == before
    assert state_rows(flywheel_env) == rows_before


@pytest.mark.parametrize("target", RUN_TARGETS + WEBHOOK_TARGETS)
def test_a_body_over_one_megabyte_is_a_413(
    portal: Any, flywheel_env: dict[str, str], now: datetime, target: str
) -> None:
    big = b'{"padding": "' + b"x" * (1024 * 1024) + b'"}'
    headers = with_token(flywheel_env, **signed_headers(flywheel_env, now, big))
    before = api_calls(portal)

    answered = client_for(target).post("/", data=big, headers=headers)

    assert answered.status_code == 413
    assert api_calls(portal) == before


def test_a_chunked_body_over_one_megabyte_is_a_413(portal: Any, flywheel_env: dict[str, str]) -> None:
    environ = EnvironBuilder(
        method="POST", input_stream=io.BytesIO(b"[" + b" " * (2 * 1024 * 1024) + b"]"), headers=with_token(flywheel_env)
    ).get_environ()
    # a chunked request declares no length: the app finds out by reading
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True

    answered = client_for("sirank_recalc").open(environ)

    assert answered.status_code == 413


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("sirank_recalc", {"dry_run": "yes"}),
        ("cold_segment", {"dry_run": 1}),
        ("nurture_step", {"dry_run": True, "backfill": "true"}),
    ],
    ids=["dry_run-yes", "dry_run-1", "backfill-string"],
)
def test_a_flag_that_is_not_a_json_boolean_is_a_400(
    portal: Any, flywheel_env: dict[str, str], target: str, body: dict[str, Any]
) -> None:
    before = api_calls(portal)

    answered = client_for(target).post("/", json=body, headers=with_token(flywheel_env))

    assert answered.status_code == 400
    assert "true or false" in answered.get_json()["error"]
    assert api_calls(portal) == before


# --- configuration errors: 500 naming the setting, never its value ---------------------------------------------


def test_a_short_coupon_secret_is_a_configuration_error_naming_the_setting_never_its_value(
    portal: Any, flywheel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, now: datetime, yesterday: str
) -> None:
    restart_with(monkeypatch, now, FLYWHEEL_NURTURE__COUPON_SECRET="too-short-a-secret")
    before = api_calls(portal)

    answered = client_for("nurture_step").post("/", json={"as_of": yesterday}, headers=with_token(flywheel_env))

    assert answered.status_code == 500
    error = answered.get_json()["error"]
    assert error.startswith("configuration error: ") and "FLYWHEEL_NURTURE__COUPON_SECRET" in error
    assert "too-short-a-secret" not in answered.get_data(as_text=True)
    assert api_calls(portal) == before


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("FLYWHEEL_AUTH", "iam-please", "FLYWHEEL_AUTH"),
        ("FLYWHEEL_HUBSPOT_EMAIL_IDS", "{nurture_1: 123", "hubspot_email_ids"),
    ],
    ids=["not-a-choice", "not-json"],
)
def test_a_setting_that_does_not_parse_is_a_configuration_error_naming_the_variable(
    portal: Any,
    flywheel_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    now: datetime,
    variable: str,
    value: str,
    named: str,
) -> None:
    restart_with(monkeypatch, now, **{variable: value})

    answered = client_for("cold_segment").post("/", json={"dry_run": True}, headers=with_token(flywheel_env))

    assert answered.status_code == 500
    error = answered.get_json()["error"]
    assert error.startswith("configuration error: ") and named in error
    assert value not in answered.get_data(as_text=True)
