"""HubSpot webhook requests: v3 signature verification and event parsing.

HubSpot signs v3 requests with HMAC-SHA256 over method + full URI + body + timestamp, keyed by the app's
client secret, base64-encoded in `X-HubSpot-Signature-v3`; `X-HubSpot-Request-Timestamp` (epoch ms) older than
five minutes must be rejected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import unquote

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


class InvalidSignature(AuthError):
    """The request is not provably from HubSpot (bad, missing or stale signature): answer 401."""


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    # HubSpot decodes these URL-encoded characters before signing; decoding the whole URI matches that
    source = f"{method.upper()}{unquote(uri)}".encode() + body + str(timestamp_ms).encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


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
    # compare_digest refuses non-ASCII str, and a base64 signature is ASCII anyway
    if not signature.isascii():
        raise InvalidSignature("malformed signature")
    uris = [uri] if isinstance(uri, str) else list(uri)
    given = signature.encode()
    matches = [hmac.compare_digest(sign_v3(secret, method, u, body, timestamp_ms).encode(), given) for u in uris]
    if not any(matches):
        raise InvalidSignature("signature mismatch")


_DELIVERY_FIELDS = ("eventId", "callbackId")


class InvalidPayload(BadInput):
    """The body is not a HubSpot webhook payload: answer 400."""


def parse_events(payload: object) -> list[dict[str, object]]:
    """HubSpot sends subscription events as a JSON array and workflow webhooks as one JSON object.

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
        if isinstance(object_id, bool) or not _OBJECT_ID.fullmatch(str(object_id).strip()):
            raise InvalidPayload("webhook event without a numeric objectId")
        for field in _DELIVERY_FIELDS:
            value = event.get(field)
            if value is not None and (isinstance(value, bool) or not _DELIVERY_ID.fullmatch(str(value))):
                raise InvalidPayload(f"webhook event with a malformed {field}")
        parsed.append({**event, "objectId": str(object_id).strip()})
    return parsed


def delivery_id(event: dict[str, object]) -> str | None:
    for field in _DELIVERY_FIELDS:
        value = event.get(field)
        if value is not None:
            return str(value)
    return None
