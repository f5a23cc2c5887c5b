"""The sandbox portal's clock: what it stamps follows a pinned instant; the rate limit stays on real time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import hubspot
import pytest
from hubspot.crm.objects import PublicObjectSearchRequest, SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import ApiException

pytestmark = pytest.mark.sandbox


def clock_call(server: Any, body: Any = None) -> tuple[int, dict[str, Any]]:
    """GET (no body) or POST /_sandbox/clock on a server or a base URL."""
    base = server if isinstance(server, str) else server.url
    request = urllib.request.Request(
        base + "/_sandbox/clock",
        method="GET" if body is None else "POST",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(json.loads(response.read()))
    except urllib.error.HTTPError as refused:
        return refused.code, dict(json.loads(refused.read()))


def client(server: Any) -> Any:
    return hubspot.Client.create(access_token=server.token, host=server.url)


def test_a_pinned_clock_stamps_created_updated_and_archived_records(sandbox: Any) -> None:
    api = client(sandbox).crm.objects.basic_api
    assert clock_call(sandbox, {"now": "2026-11-21T09:00:00Z"}) == (
        200,
        {"now": "2026-11-21T09:00:00.000Z", "pinned": True},
    )

    created = api.create("companies", SimplePublicObjectInputForCreate(properties={"name": "Rossi Srl"}))
    clock_call(sandbox, {"advance_seconds": 90})
    api.update("companies", created.id, {"properties": {"name": "Rossi Srl unipersonale"}})
    clock_call(sandbox, {"now": "2027-01-02T10:00:00+01:00"})
    api.archive("companies", created.id)
    archived = api.get_by_id("companies", created.id, archived=True)

    assert created.created_at == datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    assert created.properties["createdate"] == "2026-11-21T09:00:00.000Z"
    assert archived.updated_at == datetime(2026, 11, 21, 9, 1, 30, tzinfo=UTC)
    assert archived.archived_at == datetime(2027, 1, 2, 9, 0, tzinfo=UTC)


def test_the_clock_is_read_and_returned_to_real_time(sandbox_factory: Any) -> None:
    server = sandbox_factory(now=datetime(2001, 1, 1, tzinfo=UTC))
    assert clock_call(server) == (200, {"now": "2001-01-01T00:00:00.000Z", "pinned": True})

    status, state = clock_call(server, {"now": None})
    created = client(server).crm.objects.basic_api.create(
        "companies", SimplePublicObjectInputForCreate(properties={"name": "Bianchi Spa"})
    )

    assert (status, state["pinned"]) == (200, False)
    assert created.created_at.year > 2001


def test_search_lag_follows_the_portal_clock(sandbox_factory: Any) -> None:
    server = sandbox_factory(search_lag_seconds=30)
    server.store.create_object("companies", {"name": "Verdi Snc"})
    searches = client(server).crm.objects.search_api

    before = searches.do_search("companies", PublicObjectSearchRequest(limit=10)).total
    clock_call(server, {"advance_seconds": 30})
    after = searches.do_search("companies", PublicObjectSearchRequest(limit=10)).total

    assert (before, after) == (0, 1)


def test_moving_the_clock_does_not_reset_the_ten_second_rate_limit(sandbox_factory: Any) -> None:
    server = sandbox_factory(rate_limit=3)
    searches = client(server).crm.objects.search_api
    for _ in range(3):
        searches.do_search("companies", PublicObjectSearchRequest(limit=1))

    clock_call(server, {"advance_seconds": 3600})
    with pytest.raises(ApiException) as limited:
        searches.do_search("companies", PublicObjectSearchRequest(limit=1))

    assert limited.value.status == 429


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"now": "2026-11-21T09:00:00"}, 400),  # no offset: not an instant
        ({"now": "tomorrow"}, 400),
        ({"now": 1764000000}, 400),
        ({"advance_seconds": "60"}, 400),
        ({"when": "now"}, 400),
        ({}, 400),
    ],
)
def test_a_bad_clock_request_is_refused_and_leaves_the_clock_alone(sandbox: Any, body: Any, status: int) -> None:
    before = clock_call(sandbox)

    answer = clock_call(sandbox, body)

    assert answer[0] == status and answer[1]["category"] == "VALIDATION_ERROR"
    assert clock_call(sandbox) == before


def test_a_clock_on_real_time_cannot_be_advanced(sandbox: Any) -> None:
    clock_call(sandbox, {"now": None})

    status, body = clock_call(sandbox, {"advance_seconds": 10})

    assert status == 409
    assert "pin it" in body["message"]


def test_the_sandbox_command_pins_the_clock_with_now() -> None:
    command = [sys.executable, "-m", "flywheel.cli", "sandbox", "--port", "0", "--companies", "0"]
    process = subprocess.Popen(
        [*command, "--now", "2026-11-21T09:00:00Z"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        assert clock_call(url) == (200, {"now": "2026-11-21T09:00:00.000Z", "pinned": True})
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_sandbox_command_refuses_a_now_without_an_offset() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flywheel.cli", "sandbox", "--port", "0", "--now", "2026-11-21T09:00"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert "--now" in done.stderr and "offset" in done.stderr
