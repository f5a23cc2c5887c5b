"""HubSpot's error answers as the sandbox portal gives them: `PortalError` (status, category, message) and the
envelope and error entries of a batch answer.

The store's modules raise `PortalError`; the server turns it into HubSpot's error JSON.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any


class PortalError(Exception):
    """An API error with HubSpot's HTTP status, category and message."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        sub_category: str | None = None,
        context: Mapping[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.sub_category = sub_category
        self.context = dict(context or {})
        self.errors = list(errors or [])

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
        }
        if self.sub_category:
            body["subCategory"] = self.sub_category
        if self.context:
            body["context"] = self.context
        if self.errors:
            body["errors"] = self.errors
        return body


def bad_request(
    message: str,
    *,
    sub_category: str | None = None,
    context: Mapping[str, list[str]] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> PortalError:
    return PortalError(400, "VALIDATION_ERROR", message, sub_category=sub_category, context=context, errors=errors)


def not_found(object_type: str, object_id: str) -> PortalError:
    return PortalError(404, "OBJECT_NOT_FOUND", f"resource not found: {object_type} {object_id}")


def batch_envelope(
    started_at: str, completed_at: str, results: list[Any], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    """HubSpot's batch response body (status COMPLETE, numErrors/errors only when something failed)."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started_at,
        "completedAt": completed_at,
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return body


def batch_error(category: str, message: str, context: Mapping[str, list[str]]) -> dict[str, Any]:
    """One entry of a batch response's `errors` (every field the client's StandardError requires)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": dict(context),
        "links": {},
        "errors": [],
    }
