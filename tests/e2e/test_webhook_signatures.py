"""Workflow custom-code and app-defined actions sign with v2: the webhook entries accept them as they accept v3,
through functions-framework as deployed, and refuse v1 and forgeries before any HubSpot call."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from flywheel.webhooks import sign_v2
from tests.e2e.http_kit import api_calls, client_for, state_rows

URL = "http://localhost/"


def v2(body: bytes, secret: str, *, version: str = "v2", signature: str | None = None) -> dict[str, str]:
    return {
        "X-HubSpot-Signature": signature or sign_v2(secret, "POST", URL, body),
        "X-HubSpot-Signature-Version": version,
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize("target", ["nurture_step_webhook", "cart_watch_webhook"])
def test_a_v2_signed_workflow_action_is_processed_and_its_redelivery_recognised(
    portal: Any, flywheel_env: dict[str, str], target: str
) -> None:
    client = client_for(target)
    deal_id = portal.store.create_object("deals", {"dealname": "Ordine web", "amount": "120"}, [])
    # an app-defined action's request, as HubSpot sends it
    action = {
        "callbackId": "ap-102-84-7",
        "origin": {"portalId": 42, "actionDefinitionId": 7, "actionDefinitionVersion": 1},
        "context": {"source": "WORKFLOWS", "workflowId": 3},
        "object": {"objectId": int(deal_id), "objectType": "DEAL"},
        "inputFields": {},
    }
    body = json.dumps(action).encode()
    secret = flywheel_env["HUBSPOT_CLIENT_SECRET"]

    first = client.post("/", data=body, headers=v2(body, secret))
    again = client.post("/", data=body, headers=v2(body, secret))

    assert first.status_code == 200, first.get_json()
    assert again.status_code == 200 and again.get_json()["deduplicated"] is True


def test_v1_and_forged_v2_signatures_get_401_and_change_nothing(portal: Any, flywheel_env: dict[str, str]) -> None:
    client = client_for("nurture_step_webhook")
    body = json.dumps({"callbackId": "ap-1", "objectId": 1}).encode()
    secret = flywheel_env["HUBSPOT_CLIENT_SECRET"]
    calls, rows = api_calls(portal), state_rows(flywheel_env)

    v1 = hashlib.sha256(secret.encode() + body).hexdigest()
    answers = [
        client.post("/", data=body, headers=v2(body, secret, version="v1", signature=v1)),
        client.post("/", data=body, headers=v2(body, "not-the-secret")),
        client.post("/", data=body + b" ", headers=v2(body, secret)),
        client.post("/", data=body, headers=v2(body, secret, version="")),
    ]

    assert [a.status_code for a in answers] == [401, 401, 401, 401]
    assert api_calls(portal) == calls and state_rows(flywheel_env) == rows
