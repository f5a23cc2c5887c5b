"""HubSpot v3 webhook signatures and payload parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.webhooks import InvalidPayload, InvalidSignature, delivery_id, parse_events, sign_v3, verify_v3

SECRET = "app-client-secret"
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
URI = "https://europe-west1-p.cloudfunctions.net/cold_segment_webhook"


def stamp(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_a_request_signed_with_the_app_secret_is_accepted() -> None:
    body = b'[{"eventId": 1, "objectId": 42}]'
    signature = sign_v3(SECRET, "POST", URI, body, stamp(NOW))

    verify_v3(SECRET, "POST", URI, body, signature, str(stamp(NOW)), NOW)


@given(tampered=st.binary(min_size=1, max_size=40))
def test_any_change_to_the_body_breaks_the_signature(tampered: bytes) -> None:
    body = b'[{"eventId": 1, "objectId": 42}]'
    signature = sign_v3(SECRET, "POST", URI, body, stamp(NOW))

    with pytest.raises(InvalidSignature):
        verify_v3(SECRET, "POST", URI, body + tampered, signature, str(stamp(NOW)), NOW)


@pytest.mark.parametrize("age", [timedelta(minutes=5, seconds=1), timedelta(hours=2), -timedelta(minutes=6)])
def test_a_signature_older_or_newer_than_five_minutes_is_stale(age: timedelta) -> None:
    sent = NOW - age
    signature = sign_v3(SECRET, "POST", URI, b"{}", stamp(sent))

    with pytest.raises(InvalidSignature, match="stale"):
        verify_v3(SECRET, "POST", URI, b"{}", signature, str(stamp(sent)), NOW)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    signature = sign_v3("someone-else", "POST", URI, b"{}", stamp(NOW))

    with pytest.raises(InvalidSignature, match="mismatch"):
        verify_v3(SECRET, "POST", URI, b"{}", signature, str(stamp(NOW)), NOW)


@pytest.mark.parametrize(("signature", "timestamp"), [(None, "1"), ("abc", None), ("abc", "yesterday")])
def test_missing_or_malformed_headers_are_refused(signature: str | None, timestamp: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify_v3(SECRET, "POST", URI, b"{}", signature, timestamp, NOW)


def test_without_a_configured_secret_every_webhook_is_refused() -> None:
    signature = sign_v3("", "POST", URI, b"{}", stamp(NOW))

    with pytest.raises(InvalidSignature, match="no HubSpot client secret"):
        verify_v3("", "POST", URI, b"{}", signature, str(stamp(NOW)), NOW)


def test_subscription_events_and_workflow_payloads_become_events() -> None:
    subscription = parse_events([{"eventId": 7, "objectId": 42, "propertyName": "dealstage"}])
    workflow = parse_events({"callbackId": "cb-1", "properties": {"hs_object_id": "43"}})

    assert [e["objectId"] for e in subscription + workflow] == ["42", "43"]
    assert [delivery_id(e) for e in subscription + workflow] == ["7", "cb-1"]


@pytest.mark.parametrize("payload", [None, 3, ["x"], [{"objectId": "abc"}], [{"eventId": 1}]])
def test_a_payload_without_numeric_object_ids_is_invalid(payload: object) -> None:
    with pytest.raises(InvalidPayload):
        parse_events(payload)


@pytest.mark.parametrize(
    "timestamp", ["9" * 400, "1_700_000_000_000", "+1700000000000", " 1700000000000", "١٧٠٠٠٠٠٠٠٠٠٠٠", "1e12"]
)
def test_a_timestamp_that_is_not_plain_epoch_milliseconds_is_malformed(timestamp: str) -> None:
    with pytest.raises(InvalidSignature, match="malformed timestamp"):
        verify_v3(SECRET, "POST", URI, b"{}", "c2lnbmF0dXJl", timestamp, NOW)


@given(signature=st.text(min_size=1).filter(lambda s: not s.isascii()))
def test_a_non_ascii_signature_is_refused_not_a_crash(signature: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_v3(SECRET, "POST", URI, b"{}", signature, str(stamp(NOW)), NOW)


def test_a_request_signed_for_any_of_the_candidate_urls_is_accepted_and_for_none_refused() -> None:
    candidates = [URI, "https://europe-west1-p.cloudfunctions.net/"]
    signature = sign_v3(SECRET, "POST", URI, b"{}", stamp(NOW))
    elsewhere = sign_v3(
        SECRET, "POST", "https://europe-west1-p.cloudfunctions.net/nurture_step_webhook", b"{}", stamp(NOW)
    )

    verify_v3(SECRET, "POST", candidates, b"{}", signature, str(stamp(NOW)), NOW)
    with pytest.raises(InvalidSignature, match="mismatch"):
        verify_v3(SECRET, "POST", candidates, b"{}", elsewhere, str(stamp(NOW)), NOW)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        [{"objectId": "9" * 40}],
        [{"objectId": True}],
        [{"objectId": 1, "eventId": "a/b"}],
        [{"objectId": 1, "callbackId": "x" * 500}],
        [{"objectId": 1, "eventId": False}],
    ],
    ids=["no-events", "40-digit-id", "boolean-id", "slash-in-event-id", "huge-callback-id", "boolean-event-id"],
)
def test_ids_that_are_not_hubspots_are_invalid(payload: object) -> None:
    with pytest.raises(InvalidPayload):
        parse_events(payload)
