"""Glue between functions-framework and Flywheel's HTTP layer, shared by every function module."""

from __future__ import annotations

from typing import Any

import flask

from flywheel.http import ENDPOINT_HANDLERS, handle_run, handle_webhook


def run(function: str, request: flask.Request) -> Any:
    return _respond(*handle_run(function, request))


def webhook(function: str, request: flask.Request) -> Any:
    return _respond(*handle_webhook(function, request))


def endpoint(name: str, request: flask.Request) -> Any:
    """An entry of services.registry.ENDPOINTS: a JSON answer, or an HTML page for a person."""
    body, status = ENDPOINT_HANDLERS[name](request)
    if isinstance(body, dict):
        return _respond(body, status)
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        # the page's URL holds a signed link: never cached, never sent on as a Referer
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    if status == 405:
        headers["Allow"] = "GET, HEAD, POST"
    return body, status, headers


def _respond(body: dict[str, Any], status: int) -> Any:
    # HubSpot waits as long as Retry-After says before it retries a 429
    headers = {"Retry-After": str(body["retry_after"])} if "retry_after" in body else {}
    return flask.jsonify(body), status, headers
