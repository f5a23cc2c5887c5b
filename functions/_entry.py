"""Glue between functions-framework and Flywheel's HTTP layer, shared by every function module."""

from __future__ import annotations

from typing import Any

import flask

from flywheel.http import handle_run, handle_webhook


def run(function: str, request: flask.Request) -> Any:
    return _respond(*handle_run(function, request))


def webhook(function: str, request: flask.Request) -> Any:
    return _respond(*handle_webhook(function, request))


def _respond(body: dict[str, Any], status: int) -> Any:
    # HubSpot waits as long as Retry-After says before it retries a 429
    headers = {"Retry-After": str(body["retry_after"])} if "retry_after" in body else {}
    return flask.jsonify(body), status, headers
