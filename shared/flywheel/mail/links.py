"""Signed links in the emails: the unsubscribe link (the nurture coupon code, a signed value too, is
`flywheel.domain.nurture.coupon_code`).

An unsubscribe link names a contact and the last day it works, signed with HMAC-SHA256 under
`FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET`: the entry that answers it needs no state to tell a real link from a forged,
altered or expired one, and nobody can unsubscribe a contact whose link they never received.

Nothing here reads a clock: the day a link is checked on is an argument.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from flywheel.errors import BadInput

# 128 bits of MAC: unforgeable, and short enough for a link a mail client does not wrap
_LINK_MAC_CHARS: Final = 22
_MAX_PARAM = 120


class BadLink(BadInput):
    """A link or code that was not made with our secret, was altered, or has expired: nothing is changed."""


def _mac(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()


# --- unsubscribe links -----------------------------------------------------------------------------------------


def unsubscribe_signature(secret: str, contact_id: str, expires: date) -> str:
    digest = _mac(secret, f"unsubscribe:{contact_id}:{expires.isoformat()}")
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:_LINK_MAC_CHARS]


def unsubscribe_link(base_url: str, secret: str, contact_id: str, expires: date) -> str:
    """The entry's URL with the contact, the last valid day and the signature in its query (kept on a POST too,
    as RFC 8058 one-click requires)."""
    parts = urlsplit(base_url)
    query = urlencode(
        {"c": contact_id, "e": expires.isoformat(), "s": unsubscribe_signature(secret, contact_id, expires)}
    )
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, ""))


@dataclass(frozen=True)
class UnsubscribeLink:
    contact_id: str
    expires: date


def verify_unsubscribe(secret: str, url: str, today: date) -> UnsubscribeLink:
    """The contact a link unsubscribes; BadLink when it is incomplete, forged, altered or past its last day."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    values = {name: query.get(name, [""]) for name in ("c", "e", "s")}
    if any(len(found) != 1 or not found[0] or len(found[0]) > _MAX_PARAM for found in values.values()):
        raise BadLink("this unsubscribe link is incomplete")
    contact_id, expiry, signature = values["c"][0], values["e"][0], values["s"][0]
    try:
        expires = date.fromisoformat(expiry)
    except ValueError:
        raise BadLink("this unsubscribe link is not valid") from None
    expected = unsubscribe_signature(secret, contact_id, expires)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise BadLink("this unsubscribe link is not valid")
    if today > expires:
        raise BadLink("this unsubscribe link has expired")
    return UnsubscribeLink(contact_id, expires)


def link_expiry(sent_on: date, valid_days: int) -> date:
    return sent_on + timedelta(days=max(valid_days, 1))
