"""Glue between functions-framework and Flywheel's HTTP layer, shared by every function module."""

from __future__ import annotations

from typing import Any

import flask

from flywheel.http import handle_run, handle_webhook


def run(function: str, request: flask.Request) -> Any:
    body, status = handle_run(function, request)
    return flask.jsonify(body), status


def webhook(function: str, request: flask.Request) -> Any:
    body, status = handle_webhook(function, request)
    return flask.jsonify(body), status
