"""Glue between functions-framework and Flywheel's HTTP layer, shared by every function module.

Importing it sets up logging, once per process: functions-framework sets none up on current runtimes. Every request
runs in a log scope (function, entry, run id, trace) that each record it writes carries.
"""

from __future__ import annotations

from typing import Any

import flask

from flywheel import logs
from flywheel.http import ENDPOINT_HANDLERS, handle_run, handle_webhook

logs.configure_for_functions()


def run(function: str, request: flask.Request) -> Any:
    with logs.request_scope(function, function, request.headers):
        return _respond(*handle_run(function, request))


def webhook(function: str, request: flask.Request) -> Any:
    with logs.request_scope(function, f"{function}_webhook", request.headers):
        return _respond(*handle_webhook(function, request))


def endpoint(name: str, request: flask.Request) -> Any:
    """An entry of services.registry.ENDPOINTS: a JSON answer, or an HTML page for a person."""
    with logs.request_scope(name, name, request.headers):
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
