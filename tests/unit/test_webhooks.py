"""HubSpot webhook signatures (v3 and v2, with known answers) and payload parsing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.webhooks import (
    InvalidPayload,
    InvalidSignature,
    delivery_id,
    parse_events,
    sign_v2,
    sign_v3,
    verify_request,
    verify_v3,
)

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


# --- known answers: signatures computed once outside this code (sha256sum, openssl dgst -hmac), written here ----

KA_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
KA_NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
KA_STAMP = "1795946400000"  # KA_NOW in epoch milliseconds
KA_BASE = "https://europe-west1-acme.cloudfunctions.net"

# HubSpot's own v2 example: secret + "POST" + URI + body, SHA-256 in hex
V2_DOC_URI = "https://www.example.com/webhook_uri"
V2_DOC_BODY = b'{"example_field":"example_value"}'
V2_DOC_SIGNATURE = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"

# a workflow custom-code action calling cold_segment_webhook with a query string
V2_URI = f"{KA_BASE}/cold_segment_webhook?portal=42"
V2_BODY = b'{"callbackId":"ap-102-84-7","objectId":1042,"origin":{"actionDefinitionId":7}}'
V2_SIGNATURE = "b678769631de4e4a04f471b64de394f265439d3ad90e18bc63acbf548d29376a"

# a subscription event on carts: HMAC-SHA256 of "POST" + URI + body + timestamp, base64
V3_URI = f"{KA_BASE}/cart_watch_webhook"
V3_BODY = b'[{"eventId":1001,"objectId":555,"subscriptionType":"object.propertyChange"}]'
V3_SIGNATURE = "U9o4Zw17Zken4OVzVUHSvITmgXTNLtxtFe3MlYIj7no="

# an encoded ":" in the query (HubSpot signs it decoded) and a non-ASCII body (signed as UTF-8)
V3_ENCODED_URI = f"{KA_BASE}/nurture_step_webhook?from=a%3Ab"
V3_UTF8_BODY = '{"objectId":77,"note":"città"}'.encode()
V3_UTF8_SIGNATURE = "8ocGMODzUwpfAWKtH2NkRjcVqnmrF7eInVmxSKxjjmI="


def v2_headers(signature: str, version: str = "v2") -> dict[str, str]:
    return {"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": version}


def v3_headers(signature: str, timestamp: str = KA_STAMP) -> dict[str, str]:
    return {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}


@pytest.mark.parametrize(
    ("uri", "body", "signature"),
    [(V2_DOC_URI, V2_DOC_BODY, V2_DOC_SIGNATURE), (V2_URI, V2_BODY, V2_SIGNATURE)],
    ids=["hubspot-example", "workflow-action"],
)
def test_a_v2_signature_of_known_answer_is_accepted(uri: str, body: bytes, signature: str) -> None:
    assert verify_request(KA_SECRET, "POST", uri, body, v2_headers(signature), KA_NOW) == "v2"


@pytest.mark.parametrize(
    ("uri", "body", "signature"),
    [(V3_URI, V3_BODY, V3_SIGNATURE), (V3_ENCODED_URI, V3_UTF8_BODY, V3_UTF8_SIGNATURE)],
    ids=["subscription", "encoded-uri-utf8-body"],
)
def test_a_v3_signature_of_known_answer_is_accepted(uri: str, body: bytes, signature: str) -> None:
    assert verify_request(KA_SECRET, "POST", uri, body, v3_headers(signature), KA_NOW) == "v3"


def test_the_test_signers_agree_with_the_known_answers() -> None:
    # the helpers test clients sign with are held to the same constants as the verifier
    assert sign_v2(KA_SECRET, "POST", V2_DOC_URI, V2_DOC_BODY) == V2_DOC_SIGNATURE
    assert sign_v3(KA_SECRET, "POST", V3_URI, V3_BODY, int(KA_STAMP)) == V3_SIGNATURE


@pytest.mark.parametrize(
    ("secret", "uri", "body"),
    [
        ("zzzzzzzz-yyyy-yyyy-yyyy-yyyyyyyyyyyy", V2_URI, V2_BODY),  # another app's secret
        (KA_SECRET, V2_URI, V2_BODY.replace(b"1042", b"1043")),  # another company
        (KA_SECRET, V2_URI, V2_BODY + b" "),  # a byte more
        (KA_SECRET, f"{KA_BASE}/nurture_step_webhook?portal=42", V2_BODY),  # signed for another entry
    ],
    ids=["wrong-secret", "tampered-body", "appended-byte", "other-url"],
)
def test_a_v2_signature_for_anything_else_is_refused(secret: str, uri: str, body: bytes) -> None:
    with pytest.raises(InvalidSignature, match="mismatch"):
        verify_request(secret, "POST", uri, body, v2_headers(V2_SIGNATURE), KA_NOW)


@pytest.mark.parametrize(
    ("secret", "body"),
    [("zzzzzzzz-yyyy-yyyy-yyyy-yyyyyyyyyyyy", V3_BODY), (KA_SECRET, V3_BODY.replace(b"555", b"556"))],
    ids=["wrong-secret", "tampered-body"],
)
def test_a_v3_signature_for_anything_else_is_refused(secret: str, body: bytes) -> None:
    with pytest.raises(InvalidSignature, match="mismatch"):
        verify_request(secret, "POST", V3_URI, body, v3_headers(V3_SIGNATURE), KA_NOW)


@pytest.mark.parametrize(
    ("later", "accepted"),
    [(timedelta(minutes=5), True), (timedelta(minutes=5, milliseconds=1), False), (timedelta(days=1), False)],
)
def test_a_v3_known_answer_goes_stale_five_minutes_later_on_the_clock(later: timedelta, accepted: bool) -> None:
    # the Clock's now is handed in: the real time of the machine running the test plays no part
    now = KA_NOW + later
    if accepted:
        verify_request(KA_SECRET, "POST", V3_URI, V3_BODY, v3_headers(V3_SIGNATURE), now)
    else:
        with pytest.raises(InvalidSignature, match="stale"):
            verify_request(KA_SECRET, "POST", V3_URI, V3_BODY, v3_headers(V3_SIGNATURE), now)


def test_a_v1_signature_is_refused_even_when_correct() -> None:
    # v1 is SHA-256 of secret + body: it would accept this body sent to any URL, at any time
    v1 = hashlib.sha256(KA_SECRET.encode() + V2_BODY).hexdigest()

    with pytest.raises(InvalidSignature, match="v1 signatures are refused"):
        verify_request(KA_SECRET, "POST", V2_URI, V2_BODY, v2_headers(v1, version="v1"), KA_NOW)


def test_a_request_with_a_v3_header_is_judged_by_v3_alone() -> None:
    # a correct v2 signature does not rescue a stale v3 one: the timestamp cannot be sidestepped
    headers = {**v2_headers(V2_SIGNATURE), **v3_headers(V3_SIGNATURE)}

    with pytest.raises(InvalidSignature, match="stale"):
        verify_request(KA_SECRET, "POST", V2_URI, V2_BODY, headers, KA_NOW + timedelta(hours=1))


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-HubSpot-Signature": V2_SIGNATURE}, v2_headers(V2_SIGNATURE, version="v4"), v2_headers("")],
    ids=["none", "no-version", "unknown-version", "empty"],
)
def test_a_request_without_a_usable_signature_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature):
        verify_request(KA_SECRET, "POST", V2_URI, V2_BODY, headers, KA_NOW)


def test_without_a_configured_secret_a_v2_request_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="no HubSpot client secret"):
        verify_request("", "POST", V2_URI, V2_BODY, v2_headers(sign_v2("", "POST", V2_URI, V2_BODY)), KA_NOW)


def test_a_body_that_is_not_utf8_is_refused_not_a_crash() -> None:
    body = b"\xff\xfe{\x00}\x00"

    with pytest.raises(InvalidSignature, match="not UTF-8"):
        verify_request(KA_SECRET, "POST", V2_URI, body, v2_headers(sign_v2(KA_SECRET, "POST", V2_URI, body)), KA_NOW)


def test_an_app_defined_action_names_its_object_inside_object() -> None:
    action = {
        "callbackId": "ap-102-84-7",
        "origin": {"portalId": 42, "actionDefinitionId": 7},
        "object": {"objectId": 1042, "objectType": "DEAL"},
        "inputFields": {},
    }

    [event] = parse_events(action)

    assert event["objectId"] == "1042" and delivery_id(event) == "ap-102-84-7"
