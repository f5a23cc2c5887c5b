"""Marketing emails of the sandbox portal: HubSpot's Marketing Emails API v3 (`/marketing/v3/emails`).

What provisioning and the hubspot mailer use: create, list (pages, as HubSpot: no filter by name, so a client
pages and looks), get by id, patch, archive. Emails are answered in the shape of hubspot-api-client's
`PublicEmail` (its required fields always present), so the client's own models read them. Like HubSpot, names
are not unique: creating twice makes two emails, which is what the round-trip test would catch.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.clock import PortalClock
from sandbox.errors import PortalError, bad_request

# what a client may set; anything else (id, dates, statistics) is the portal's
WRITABLE = frozenset(
    {
        "name",
        "subject",
        "content",
        "from",
        "to",
        "state",
        "subcategory",
        "language",
        "archived",
        "sendOnPublish",
        "subscriptionDetails",
        "webversion",
        "activeDomain",
        "campaign",
        "jitterSendTime",
        "businessUnitId",
        "testing",
        "rssData",
        "feedbackSurveyId",
        "publishDate",
    }
)
# hubspot-api-client's enum of PublicEmail.state (the client refuses an answer outside it)
STATES = frozenset(
    {
        "AUTOMATED",
        "AUTOMATED_DRAFT",
        "AUTOMATED_SENDING",
        "DRAFT",
        "PUBLISHED",
        "SCHEDULED",
        "PROCESSING",
    }
)
MAX_PAGE = 100


def flywheel_emails() -> list[dict[str, Any]]:
    """What `python -m infra.portal` creates, for a portal that starts provisioned (as the demo's does)."""
    from flywheel.mail.hubspot_emails import hubspot_emails

    return [email.create_body() for email in hubspot_emails()]


class MarketingEmails:
    """The portal's marketing emails, by id; thread-safe on its own (it shares nothing with the records)."""

    def __init__(self, clock: PortalClock, initial: Iterable[Mapping[str, Any]] = ()) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._emails: dict[str, dict[str, Any]] = {}
        self._next_id = 100_000_001
        for body in initial:
            self.create(body)

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        fields = _writable(body)
        name = fields.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("name is required")
        state = fields.setdefault("state", "DRAFT")
        now = self._clock.iso_now()
        with self._lock:
            email_id = str(self._next_id)
            self._next_id += 1
            email: dict[str, Any] = {
                "subject": "",
                "content": {},
                "from": {},
                "to": {},
                "subcategory": "automated" if str(state).startswith("AUTOMATED") else "batch",
                "sendOnPublish": False,
                "archived": False,
                **fields,
                "id": email_id,
                "type": "AUTOMATED_EMAIL" if str(state).startswith("AUTOMATED") else "BATCH_EMAIL",
                "isPublished": state in ("AUTOMATED", "PUBLISHED"),
                "createdAt": now,
                "updatedAt": now,
            }
            self._emails[email_id] = email
            return copy.deepcopy(email)

    def page(self, *, limit: int = MAX_PAGE, after: str | None = None, archived: bool = False) -> dict[str, Any]:
        if not 1 <= limit <= MAX_PAGE:
            raise bad_request(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        try:
            offset = int(after) if after else 0
        except ValueError:
            raise bad_request(f"after must be a cursor from a previous page, got {after!r}") from None
        with self._lock:
            # created order, as HubSpot's default sort (createdAt)
            matching = [e for e in self._emails.values() if bool(e.get("archived")) == archived]
            page = [copy.deepcopy(e) for e in matching[offset : offset + limit]]
        answer: dict[str, Any] = {"total": len(matching), "results": page}
        if offset + limit < len(matching):
            answer["paging"] = {"next": {"after": str(offset + limit), "link": ""}}
        return answer

    def get(self, email_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._found(email_id))

    def update(self, email_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH: the fields given replace the email's (`content` as a whole, as HubSpot's patch of an object)."""
        fields = _writable(body)
        if "name" in fields and (not isinstance(fields["name"], str) or not fields["name"].strip()):
            raise bad_request("name must not be empty")
        with self._lock:
            email = self._found(email_id)
            email.update(fields)
            email["updatedAt"] = self._clock.iso_now()
            return copy.deepcopy(email)

    def archive(self, email_id: str) -> None:
        with self._lock:
            email = self._found(email_id)
            email["archived"] = True
            email["updatedAt"] = self._clock.iso_now()

    def all(self) -> list[dict[str, Any]]:
        """Every email, archived too (for tests)."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._emails.values()]

    def _found(self, email_id: str) -> dict[str, Any]:
        email = self._emails.get(email_id)
        if email is None:
            raise PortalError(404, "OBJECT_NOT_FOUND", f"No email found with id {email_id}")
        return email


def _writable(body: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - WRITABLE)
    if unknown:
        raise bad_request(f"Unknown fields: {', '.join(unknown)}")
    state = body.get("state")
    if state is not None and state not in STATES:
        raise bad_request(f"state must be one of {', '.join(sorted(STATES))}, got {state!r}")
    content = body.get("content")
    if content is not None and not isinstance(content, Mapping):
        raise bad_request("content must be an object")
    return copy.deepcopy(dict(body))
