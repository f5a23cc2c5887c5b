"""HubSpot webhook requests: signature verification (v3 and v2) and event parsing.

- v3 (webhook subscriptions, workflow "Send a webhook"): HMAC-SHA256 keyed by the app's client secret over
  method + full URI + body + timestamp, base64-encoded in `X-HubSpot-Signature-v3`; a
  `X-HubSpot-Request-Timestamp` (epoch ms) more than five minutes away from the Clock's now is refused.
- v2 (workflow custom-code and app-defined actions): SHA-256 hex of client secret + method + full URI + body, in
  `X-HubSpot-Signature` with `X-HubSpot-Signature-Version: v2`. It carries no timestamp, so a captured request
  could be replayed later: the delivery's `callbackId` dedupes it (one effect per callback, whatever the replays).
- v1 (SHA-256 of secret + body) is refused: it covers neither the method nor the URL, so a body signed for one
  endpoint would be accepted by every other, and it has no timestamp either.

Both accepted versions are computed by hubspot-api-client's `hubspot.utils.signature.Signature`; the timestamp
is checked here, on the Clock, because the library's own check reads the real time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import unquote

from hubspot.utils.signature import Signature

from flywheel.errors import AuthError, BadInput

MAX_AGE_MS = 5 * 60 * 1000
# epoch milliseconds: 13 digits until the year 2286
_TIMESTAMP = re.compile(r"[0-9]{1,15}", re.ASCII)
# HubSpot object ids are 64-bit integers
_OBJECT_ID = re.compile(r"[0-9]{1,19}", re.ASCII)
# eventId (an integer) and callbackId ("ap-123-456-789"): they become part of a state store key
_DELIVERY_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}", re.ASCII)
SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
V2_SIGNATURE_HEADER = "X-HubSpot-Signature"
VERSION_HEADER = "X-HubSpot-Signature-Version"


class Headers(Protocol):
    def get(self, key: str, /) -> str | None: ...


class InvalidSignature(AuthError):
    """The request is not provably from HubSpot (bad, missing or stale signature): answer 401."""


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    """What HubSpot puts in `X-HubSpot-Signature-v3`, over the raw bytes (for test clients and the chaos harness;
    verification goes through the library)."""
    # HubSpot decodes these URL-encoded characters before signing; decoding the whole URI matches that
    source = f"{method.upper()}{unquote(uri)}".encode() + body + str(timestamp_ms).encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    """What HubSpot puts in `X-HubSpot-Signature` with version v2, over the raw bytes (for test clients)."""
    return hashlib.sha256(f"{secret}{method.upper()}{uri}".encode() + body).hexdigest()


def verify_request(
    secret: str, method: str, uri: str | Sequence[str], body: bytes, headers: Headers, now: datetime
) -> str:
    """Accept a request signed with v3 or v2 (see the module's docstring) and answer which; InvalidSignature
    otherwise. A request with a v3 signature is judged by it alone, so its timestamp can never be sidestepped."""
    if headers.get(SIGNATURE_HEADER) is not None:
        verify_v3(secret, method, uri, body, headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER), now)
        return "v3"
    version = (headers.get(VERSION_HEADER) or "").strip().lower()
    if version == "v2":
        verify_v2(secret, method, uri, body, headers.get(V2_SIGNATURE_HEADER))
        return "v2"
    if version == "v1":
        raise InvalidSignature("v1 signatures are refused (they cover neither the URL nor a timestamp)")
    raise InvalidSignature("missing signature: expected X-HubSpot-Signature-v3, or a v2 X-HubSpot-Signature")


def verify_v2(secret: str, method: str, uri: str | Sequence[str], body: bytes, signature: str | None) -> None:
    """Accept the request if `signature` is the v2 signature of it for `uri` (or any of several candidates)."""
    if not secret:
        raise InvalidSignature("no HubSpot client secret configured: webhooks are refused")
    if not signature:
        raise InvalidSignature("missing signature")
    text = _utf8(body)
    uris = [uri] if isinstance(uri, str) else list(uri)
    expected = [
        Signature.get_signature(secret, text, "v2", http_uri=u, http_method=method.upper()).encode() for u in uris
    ]
    _match(expected, signature)


def verify_v3(
    secret: str,
    method: str,
    uri: str | Sequence[str],
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
) -> None:
    """Accept the request if it is signed for `uri`, or for any of several URIs when the one HubSpot called
    cannot be told for sure from behind the platform's proxy (each is an HMAC: guessing is no easier)."""
    if not secret:
        raise InvalidSignature("no HubSpot client secret configured: webhooks are refused")
    if not signature or not timestamp:
        raise InvalidSignature("missing signature or timestamp header")
    # int() alone would take "+1_000", other scripts' digits, and 400 digits that overflow a float below
    if not _TIMESTAMP.fullmatch(timestamp):
        raise InvalidSignature("malformed timestamp")
    timestamp_ms = int(timestamp)
    if abs(now.timestamp() * 1000 - timestamp_ms) > MAX_AGE_MS:
        raise InvalidSignature("stale timestamp")
    text = _utf8(body)
    uris = [uri] if isinstance(uri, str) else list(uri)
    expected = [
        # HubSpot decodes URL-encoded characters of the URI before signing; decoding the whole URI matches that
        Signature.get_signature(
            secret, text, "v3", http_uri=unquote(u), http_method=method.upper(), timestamp=str(timestamp_ms)
        ).encode()
        for u in uris
    ]
    _match(expected, signature)


def _utf8(body: bytes) -> str:
    # the library signs text; HubSpot sends JSON in UTF-8, so a body that is not UTF-8 is not HubSpot's
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSignature("the body is not UTF-8") from None


def _match(expected: Sequence[bytes], signature: str) -> None:
    # compare_digest refuses non-ASCII str, and base64 and hex signatures are ASCII anyway
    if not signature.isascii():
        raise InvalidSignature("malformed signature")
    given = signature.encode()
    # every candidate is compared, in constant time each, so timing tells nothing about which came close
    matches = [hmac.compare_digest(candidate, given) for candidate in expected]
    if not any(matches):
        raise InvalidSignature("signature mismatch")


_DELIVERY_FIELDS = ("eventId", "callbackId")


class InvalidPayload(BadInput):
    """The body is not a HubSpot webhook payload: answer 400."""


def parse_events(payload: object) -> list[dict[str, object]]:
    """HubSpot sends subscription events as a JSON array and workflow webhooks and actions as one JSON object.

    Both become a list of events, each with an `objectId`. An event's `eventId` (subscriptions) or `callbackId`
    (workflows) identifies a delivery, so that a redelivery is recognised.
    """
    events = payload if isinstance(payload, list) else [payload]
    if not events:
        raise InvalidPayload("no webhook events")
    parsed: list[dict[str, object]] = []
    for event in events:
        if not isinstance(event, dict):
            raise InvalidPayload("each webhook event must be a JSON object")
        object_id = event.get("objectId", event.get("hs_object_id"))
        if object_id is None and isinstance(event.get("properties"), dict):
            object_id = event["properties"].get("hs_object_id")
        if object_id is None and isinstance(event.get("object"), dict):
            # an app-defined workflow action: {"callbackId": ..., "object": {"objectId": ..., "objectType": ...}}
            object_id = event["object"].get("objectId")
        if isinstance(object_id, bool) or not _OBJECT_ID.fullmatch(str(object_id).strip()):
            raise InvalidPayload("webhook event without a numeric objectId")
        for field in _DELIVERY_FIELDS:
            value = event.get(field)
            if value is not None and (isinstance(value, bool) or not _DELIVERY_ID.fullmatch(str(value))):
                raise InvalidPayload(f"webhook event with a malformed {field}")
        parsed.append({**event, "objectId": str(object_id).strip()})
    return parsed


def object_ids(
    events: Iterable[Mapping[str, Any]], about: Callable[[Mapping[str, Any]], bool] = lambda event: True
) -> list[str]:
    """The distinct ids of the objects the events name, in order, of the events `about` accepts: a function's
    webhook re-reads those objects, since an event only says which one changed."""
    return sorted(
        {str(event["objectId"]) for event in events if event.get("objectId") not in (None, "") and about(event)}
    )


def delivery_id(event: dict[str, object]) -> str | None:
    for field in _DELIVERY_FIELDS:
        value = event.get(field)
        if value is not None:
            return str(value)
    return None
