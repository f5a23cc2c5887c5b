"""HubSpot webhook requests: v3 signature verification and event parsing.

HubSpot signs v3 requests with HMAC-SHA256 over method + full URI + body + timestamp, keyed by the app's
client secret, base64-encoded in `X-HubSpot-Signature-v3`; `X-HubSpot-Request-Timestamp` (epoch ms) older than
five minutes must be rejected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from urllib.parse import unquote

MAX_AGE_MS = 5 * 60 * 1000
SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"


class InvalidSignature(Exception):
    """The request is not provably from HubSpot (bad, missing or stale signature): answer 401."""


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    # HubSpot decodes these URL-encoded characters before signing; decoding the whole URI matches that
    source = f"{method.upper()}{unquote(uri)}".encode() + body + str(timestamp_ms).encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_v3(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
) -> None:
    if not secret:
        raise InvalidSignature("no HubSpot client secret configured: webhooks are refused")
    if not signature or not timestamp:
        raise InvalidSignature("missing signature or timestamp header")
    try:
        timestamp_ms = int(timestamp)
    except ValueError:
        raise InvalidSignature("malformed timestamp") from None
    if abs(now.timestamp() * 1000 - timestamp_ms) > MAX_AGE_MS:
        raise InvalidSignature("stale timestamp")
    expected = sign_v3(secret, method, uri, body, timestamp_ms)
    if not hmac.compare_digest(expected, signature):
        raise InvalidSignature("signature mismatch")


class InvalidPayload(ValueError):
    """The body is not a HubSpot webhook payload: answer 400."""


def parse_events(payload: object) -> list[dict[str, object]]:
    """HubSpot sends subscription events as a JSON array and workflow webhooks as one JSON object.

    Both become a list of events, each with an `objectId`. An event's `eventId` (subscriptions) or `callbackId`
    (workflows) identifies a delivery, so that a redelivery is recognised.
    """
    events = payload if isinstance(payload, list) else [payload]
    parsed: list[dict[str, object]] = []
    for event in events:
        if not isinstance(event, dict):
            raise InvalidPayload("each webhook event must be a JSON object")
        object_id = event.get("objectId", event.get("hs_object_id"))
        if object_id is None and isinstance(event.get("properties"), dict):
            object_id = event["properties"].get("hs_object_id")
        if object_id is None or not str(object_id).strip().isdigit():
            raise InvalidPayload("webhook event without a numeric objectId")
        parsed.append({**event, "objectId": str(object_id).strip()})
    return parsed


def delivery_id(event: dict[str, object]) -> str | None:
    for field in ("eventId", "callbackId"):
        value = event.get(field)
        if value is not None:
            return str(value)
    return None
