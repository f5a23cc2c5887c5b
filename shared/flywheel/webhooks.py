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
