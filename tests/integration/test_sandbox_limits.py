"""HubSpot's limits and the sandbox-only endpoints: token, rate limit, fault injection, stats, config, reset."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import hubspot
import pytest
from hubspot.crm.objects import PublicObjectSearchRequest, SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import ApiException
from hubspot.crm.owners.exceptions import ApiException as OwnersApiException

pytestmark = pytest.mark.sandbox


def sandbox_call(server: Any, method: str, path: str, body: Any = None) -> dict[str, Any]:
    request = urllib.request.Request(
        server.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def test_a_call_without_the_bearer_token_gets_401_and_changes_nothing(sandbox: Any) -> None:
    stranger = hubspot.Client.create(access_token="wrong-token", host=sandbox.url)

    with pytest.raises(ApiException) as refused:
        stranger.crm.objects.basic_api.get_page("companies")
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(sandbox.url + "/crm/v3/objects/companies", timeout=10)

    assert refused.value.status == 401
    assert json.loads(refused.value.body)["category"] == "INVALID_AUTHENTICATION"
    assert anonymous.value.code == 401


def test_a_burst_above_the_rate_limit_gets_429_with_retry_after(sandbox_factory: Any) -> None:
    server = sandbox_factory(rate_limit=5)
    # A search (POST): urllib3 would wait out Retry-After and repeat a GET by itself.
    searches = hubspot.Client.create(access_token=server.token, host=server.url).crm.objects.search_api

    for _ in range(5):
        searches.do_search("companies", PublicObjectSearchRequest(limit=1))
    with pytest.raises(ApiException) as limited:
        searches.do_search("companies", PublicObjectSearchRequest(limit=1))

    assert limited.value.status == 429
    assert int(limited.value.headers["Retry-After"]) >= 1
    body = json.loads(limited.value.body)
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert server.store.stats()["rate_limited"] == 1
    assert server.store.stats()["calls"]["total"] == 6


def test_a_rate_limit_of_zero_means_no_limit(sandbox_factory: Any) -> None:
    server = sandbox_factory(rate_limit=0)
    owners = hubspot.Client.create(access_token=server.token, host=server.url).crm.owners.owners_api

    answers = [owners.get_page() for _ in range(250)]

    assert len(answers) == 250
    assert server.store.stats()["rate_limited"] == 0


def test_stats_count_every_api_call_by_endpoint_template(sandbox: Any) -> None:
    client = hubspot.Client.create(access_token=sandbox.token, host=sandbox.url)
    company = sandbox.store.create_object("companies", {"name": "C"})

    client.crm.objects.basic_api.get_by_id("companies", company)
    client.crm.objects.basic_api.get_by_id("companies", company)
    client.crm.objects.search_api.do_search("deals", PublicObjectSearchRequest(limit=1))
    with pytest.raises(ApiException):
        client.crm.objects.basic_api.get_by_id("companies", "404404")
    with pytest.raises(ApiException):
        hubspot.Client.create(access_token="nope", host=sandbox.url).crm.objects.basic_api.get_page("deals")
    sandbox_call(sandbox, "GET", "/_sandbox/outbox")

    stats = sandbox_call(sandbox, "GET", "/_sandbox/stats")

    assert stats["calls"]["total"] == 5
    assert stats["calls"]["by_endpoint"] == {
        "GET /crm/v3/objects/{objectType}/{objectId}": 3,
        "POST /crm/v3/objects/{objectType}/search": 1,
        "GET /crm/v3/objects/{objectType}": 1,
    }
    assert stats["rate_limited"] == 0


def test_fault_injection_answers_5xx_and_config_turns_it_off(sandbox: Any) -> None:
    owners = hubspot.Client.create(access_token=sandbox.token, host=sandbox.url).crm.owners.owners_api
    sandbox_call(sandbox, "POST", "/_sandbox/config", {"fault_rate": 1.0})

    with pytest.raises(OwnersApiException) as failed:
        owners.get_page()
    settings = sandbox_call(sandbox, "POST", "/_sandbox/config", {"fault_rate": 0.0})

    assert failed.value.status in (502, 503, 504)
    assert settings["fault_rate"] == 0.0
    assert owners.get_page().results


def test_config_refuses_unknown_settings(sandbox: Any) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        sandbox_call(sandbox, "POST", "/_sandbox/config", {"rate_limt": 5})

    assert refused.value.code == 400
    assert sandbox.store.settings()["rate_limit"] == 0


def test_reset_brings_back_the_initial_portal_and_clears_stats_and_outbox(sandbox: Any) -> None:
    client = hubspot.Client.create(access_token=sandbox.token, host=sandbox.url)
    sandbox.store.create_object("companies", {"name": "Temporanea"})
    client.crm.objects.basic_api.get_page("companies")
    sandbox.store.single_send({"emailId": 1, "message": {"to": "a@example.it"}})

    answer = sandbox_call(sandbox, "POST", "/_sandbox/reset")

    assert answer["counts"]["companies"] == 0
    assert sandbox.store.counts()["companies"] == 0
    assert sandbox_call(sandbox, "GET", "/_sandbox/stats")["calls"]["total"] == 0
    assert sandbox_call(sandbox, "GET", "/_sandbox/outbox")["results"] == []


def test_an_unknown_object_type_is_refused_like_hubspot(sandbox: Any) -> None:
    client = hubspot.Client.create(access_token=sandbox.token, host=sandbox.url)

    with pytest.raises(ApiException) as missing:
        client.crm.objects.basic_api.get_page("unicorns")

    assert missing.value.status == 400  # HubSpot: "Unable to infer object type from: unicorns"
    assert json.loads(missing.value.body)["category"] == "VALIDATION_ERROR"


def test_a_gateway_timeout_may_hide_work_done_while_refused_calls_change_nothing(sandbox: Any) -> None:
    """502/503 refuse a call before the portal sees it; a 504 answers after the portal did the work, the reason
    callers must never blindly repeat a create."""
    api = hubspot.Client.create(access_token=sandbox.token, host=sandbox.url).crm.objects.basic_api
    sandbox.store.configure(fault_rate=1.0)
    statuses = []
    for index in range(30):
        with pytest.raises(ApiException) as failed:
            api.create("companies", SimplePublicObjectInputForCreate(properties={"name": f"C{index}"}))
        statuses.append(failed.value.status)

    assert set(statuses) <= {502, 503, 504} and 504 in statuses and len(set(statuses)) > 1
    assert sandbox.store.counts()["companies"] == statuses.count(504)


def test_concurrent_creates_get_distinct_ids_and_all_land(sandbox: Any) -> None:
    def create_many(worker: int) -> list[str]:
        api = hubspot.Client.create(access_token=sandbox.token, host=sandbox.url).crm.objects.basic_api
        return [
            api.create("companies", SimplePublicObjectInputForCreate(properties={"name": f"W{worker}-{index}"})).id
            for index in range(20)
        ]

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = [object_id for batch in pool.map(create_many, range(6)) for object_id in batch]

    assert len(ids) == len(set(ids)) == 120
    assert sandbox.store.counts()["companies"] == 120
