"""Marketing single-send: the emails the portal was asked to send, kept in an outbox instead of sent, and the
sendId idempotency HubSpot applies (a repeated sendId is answered IDEMPOTENT_IGNORE and sends nothing).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from sandbox.errors import bad_request


def check_single_send(body: Mapping[str, Any]) -> None:
    """A 400 unless the body names an email and a recipient."""
    message = body.get("message")
    if not body.get("emailId") or not isinstance(message, Mapping) or not message.get("to"):
        raise bad_request("A single send needs emailId and message.to.")


class Outbox:
    """The messages sent by one portal, and their send ids. Called under the store lock."""

    def __init__(self) -> None:
        self._messages: list[dict[str, Any]] = []
        self._send_ids: dict[str, dict[str, Any]] = {}

    def messages(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._messages)

    def single_send(self, body: Mapping[str, Any], now: str) -> dict[str, Any]:
        """The answer of POST /marketing/v3/transactional/single-email/send at `now` (a checked body)."""
        message: Mapping[str, Any] = body["message"]
        send_id = message.get("sendId")
        if send_id and send_id in self._send_ids:
            return {**self._send_ids[send_id], "sendResult": "IDEMPOTENT_IGNORE", "requestedAt": now}
        status = {
            "statusId": str(uuid.uuid4()),
            "status": "COMPLETE",
            "sendResult": "SENT",
            "requestedAt": now,
            "startedAt": now,
            "completedAt": now,
            "eventId": {"id": str(uuid.uuid4()), "created": now},
        }
        self._messages.append(
            {
                "statusId": status["statusId"],
                "sentAt": now,
                "emailId": body.get("emailId"),
                "message": copy.deepcopy(dict(message)),
                "contactProperties": copy.deepcopy(body.get("contactProperties") or {}),
                "customProperties": copy.deepcopy(body.get("customProperties") or {}),
            }
        )
        if send_id:
            self._send_ids[send_id] = status
        return dict(status)
