"""The deployed shape: functions-framework serving functions/main.py, called as Scheduler and HubSpot call it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from flywheel.clock import FixedClock
from tests.e2e.http_kit import api_calls, client_for, scheduler_headers, signed, with_token

pytestmark = pytest.mark.sandbox


def test_a_manual_dry_run_answers_the_run_summary(portal: Any, flywheel_env: dict[str, str], yesterday: str) -> None:
    response = client_for("sirank_recalc").post(
        "/", json={"as_of": yesterday, "dry_run": True}, headers=with_token(flywheel_env)
    )

    assert response.status_code == 200
    body = response.get_json()
    assert (body["function"], body["as_of"], body["dry_run"]) == ("sirank_recalc", yesterday, True)
    assert isinstance(body["summary"], dict)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        b'{"as_of": "29/11/2026"}',
        b'{"dry_run": "perhaps"}',
        b'{"surprise": 1}',
        b'{"as_of": ' + b"9" * 5000 + b"}",
    ],
)
def test_a_bad_body_gets_400_and_touches_nothing(portal: Any, flywheel_env: dict[str, str], payload: bytes) -> None:
    before = api_calls(portal)

    response = client_for("sirank_recalc").post(
        "/", data=payload, content_type="application/json", headers=with_token(flywheel_env)
    )

    assert response.status_code == 400
    assert response.get_json()["error"]
    assert api_calls(portal) == before


def test_only_post_runs_a_function(flywheel_env: dict[str, str]) -> None:
    assert client_for("cold_segment").get("/", headers=with_token(flywheel_env)).status_code == 405


def test_with_an_api_token_configured_a_call_without_it_gets_401(
    portal: Any, flywheel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, now: datetime
) -> None:
    from flywheel.bootstrap import reset_instance

    monkeypatch.setenv("FLYWHEEL_API_TOKEN", "s3cret")
    reset_instance(clock=FixedClock(now))
    client = client_for("sirank_recalc")

    refused = client.post("/", json={"dry_run": True})
    accepted = client.post("/", json={"dry_run": True}, headers={"X-Flywheel-Token": "s3cret"})

    assert refused.status_code == 401
    assert accepted.status_code == 200


def test_a_redelivered_scheduler_trigger_runs_once(portal: Any, flywheel_env: dict[str, str], yesterday: str) -> None:
    client = client_for("sirank_recalc")
    headers = with_token(flywheel_env, **scheduler_headers("flywheel-sirank-recalc-daily", f"{yesterday}T01:30:00Z"))

    first = client.post("/", json={"as_of": yesterday}, headers=headers)
    calls_after_first = api_calls(portal)
    second = client.post("/", json={"as_of": yesterday}, headers=headers)

    assert first.status_code == 200
    assert second.status_code == 200
    assert second.get_json()["deduplicated"] is True
    assert api_calls(portal) == calls_after_first


@pytest.mark.parametrize("target", ["cold_segment_webhook", "nurture_step_webhook", "cart_watch_webhook"])
def test_a_webhook_with_a_bad_or_stale_signature_gets_401(
    portal: Any, flywheel_env: dict[str, str], target: str, now: datetime
) -> None:
    client = client_for(target)
    body = json.dumps([{"eventId": 1, "objectId": 1}]).encode()
    url = "http://localhost/"
    before = api_calls(portal)

    forged = client.post("/", data=body, headers=signed(body, url, "not-the-secret", at=now))
    stale = client.post(
        "/", data=body, headers=signed(body, url, flywheel_env["HUBSPOT_CLIENT_SECRET"], age_seconds=600, at=now)
    )
    unsigned = client.post("/", data=body, content_type="application/json")

    assert [forged.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
    assert api_calls(portal) == before


@pytest.mark.parametrize("target", ["cold_segment_webhook", "nurture_step_webhook", "cart_watch_webhook"])
def test_a_validly_signed_webhook_is_processed_and_a_redelivery_is_recognised(
    portal: Any, flywheel_env: dict[str, str], target: str, now: datetime
) -> None:
    client = client_for(target)
    deal_id = portal.store.create_object("deals", {"dealname": "Ordine web", "amount": "120"}, [])
    body = json.dumps([{"eventId": 99, "objectId": int(deal_id), "subscriptionType": "deal.propertyChange"}]).encode()
    url = "http://localhost/"
    secret = flywheel_env["HUBSPOT_CLIENT_SECRET"]

    first = client.post("/", data=body, headers=signed(body, url, secret, at=now))
    again = client.post("/", data=body, headers=signed(body, url, secret, at=now))

    assert first.status_code == 200, first.get_json()
    assert again.status_code == 200
    assert again.get_json()["deduplicated"] is True


def test_when_hubspot_keeps_failing_the_scheduler_is_told_to_retry(
    portal: Any, flywheel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, yesterday: str, now: datetime
) -> None:
    from flywheel.bootstrap import reset_instance

    monkeypatch.setenv("FLYWHEEL_HUBSPOT_MAX_RETRIES", "1")  # fail fast: the retry policy has tests of its own
    reset_instance(clock=FixedClock(now))
    client = client_for("cold_segment")
    headers = with_token(flywheel_env, **scheduler_headers("flywheel-cold-segment-daily", f"{yesterday}T05:00:00Z"))
    portal.store.configure(fault_rate=1.0)

    failing = client.post("/", json={"as_of": yesterday}, headers=headers)
    portal.store.configure(fault_rate=0.0)
    retried = client.post("/", json={"as_of": yesterday}, headers=headers)

    assert failing.status_code == 503
    assert retried.status_code == 200
    assert "deduplicated" not in retried.get_json(), "a failed delivery must not count as done"


def test_a_webhook_signed_for_the_public_https_url_is_accepted_behind_the_tls_proxy(
    portal: Any, flywheel_env: dict[str, str], now: datetime
) -> None:
    client = client_for("nurture_step_webhook")
    deal_id = portal.store.create_object("deals", {"dealname": "Ordine web", "amount": "80"}, [])
    body = json.dumps([{"eventId": 7, "objectId": int(deal_id)}]).encode()
    headers = signed(body, "https://localhost/", flywheel_env["HUBSPOT_CLIENT_SECRET"], at=now)

    behind_proxy = client.post("/", data=body, headers={**headers, "X-Forwarded-Proto": "https"})

    assert behind_proxy.status_code == 200, behind_proxy.get_json()
