"""The HTTP face of every function: verify -> parse (pydantic) -> call the service -> render JSON.

Status codes tell Cloud Scheduler and HubSpot what to do: 4xx means the request is wrong and nothing changed (do not
retry), 5xx means a transient fault (retry), 200 means done (including "already done" for a redelivered trigger).
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from flywheel.bootstrap import Instance, instance
from flywheel.domain.models import RunResult
from flywheel.ports import CrmError
from flywheel.runner import parse_request, run_function, run_webhook
from flywheel.services.registry import UnknownFunction
from flywheel.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InvalidPayload,
    InvalidSignature,
    delivery_id,
    parse_events,
    verify_v3,
)

log = logging.getLogger(__name__)

# A response body stays well under Cloud Functions' size limit; the summary always has the full counts.
MAX_ACTIONS_IN_RESPONSE = 1000

Response = tuple[dict[str, Any], int]


class HttpRequest(Protocol):
    """The part of a Flask/Werkzeug request Flywheel reads."""

    method: str
    url: str
    headers: Any

    def get_data(self) -> bytes: ...


def handle_run(function: str, request: HttpRequest, inst: Instance | None = None) -> Response:
    inst = inst or instance()
    if request.method != "POST":
        return _error(405, "use POST with a JSON body")
    if not _authorised(request, inst.settings.api_token):
        return _error(401, "missing or wrong bearer token")
    try:
        body = _json_body(request)
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        run_request = parse_request(function, body)
    except UnknownFunction as error:
        return _error(404, str(error))
    except (ValueError, ValidationError) as error:
        return _error(400, _describe(error))

    ports = inst.ports()
    trigger_key = _scheduler_trigger_key(function, request)
    if trigger_key and not run_request.dry_run:
        lease = timedelta(seconds=inst.settings.effect_lease_seconds)
        reservation = ports.state.reserve(trigger_key, now=ports.clock.now(), lease=lease)
        if reservation.status == "done":
            return {"function": function, "deduplicated": True, "previous": dict(reservation.result or {})}, 200
        if reservation.status == "held":
            # the first delivery is still running: ask the scheduler to come back later
            return _error(409, "this scheduled run is already in progress")
    try:
        result = run_function(function, run_request, ports)
    except CrmError as error:
        if trigger_key:
            ports.state.release(trigger_key)
        log.error("%s failed on HubSpot: %s", function, error)
        return _error(503 if error.transient else 502, f"HubSpot: {error}")
    transient = _transient_failures(result.summary)
    if trigger_key:
        if transient:
            ports.state.release(trigger_key)
        else:
            ports.state.complete(trigger_key, {"summary": result.summary}, now=ports.clock.now())
    return _render(result), 503 if transient else 200


def handle_webhook(function: str, request: HttpRequest, inst: Instance | None = None) -> Response:
    inst = inst or instance()
    if request.method != "POST":
        return _error(405, "use POST")
    body = request.get_data()
    ports = inst.ports()
    try:
        verify_v3(
            inst.settings.hubspot_client_secret,
            request.method,
            _public_url(request),
            body,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            ports.clock.now(),
        )
    except InvalidSignature as error:
        return _error(401, str(error))
    try:
        events = parse_events(json.loads(body or b"null"))
    except (ValueError, InvalidPayload) as error:
        return _error(400, str(error))

    lease = timedelta(seconds=inst.settings.effect_lease_seconds)
    fresh: list[dict[str, Any]] = []
    keys: list[str] = []
    for event in events:
        delivery = delivery_id(event)
        if delivery is None:
            fresh.append(event)
            continue
        key = f"webhook:{function}:{delivery}"
        if ports.state.reserve(key, now=ports.clock.now(), lease=lease).status in ("acquired", "reclaimed"):
            fresh.append(event)
            keys.append(key)
    if not fresh:
        return {"function": function, "deduplicated": True, "events": len(events)}, 200
    try:
        result = run_webhook(function, fresh, ports)
    except LookupError as error:
        _release(ports, keys)
        return _error(404, str(error))
    except CrmError as error:
        _release(ports, keys)
        return _error(503 if error.transient else 502, f"HubSpot: {error}")
    for key in keys:
        ports.state.complete(key, {"processed": True}, now=ports.clock.now())
    return _render(result), 200


def _transient_failures(summary: dict[str, Any]) -> int:
    """Effects whose outcome is unknown (HubSpot 5xx after retries): a 503 makes the scheduler retry the run,
    which reconciles them first."""
    effects = summary.get("effects")
    if not isinstance(effects, dict):
        return 0
    return sum(int(n) for outcome, n in effects.items() if str(outcome).startswith("failed_transient"))


def _release(ports: Any, keys: list[str]) -> None:
    for key in keys:
        ports.state.release(key)


def _public_url(request: HttpRequest) -> str:
    """The URL HubSpot signed. Cloud Functions (Cloud Run) terminates TLS in front of the app, which then sees
    http://; the proxy says the original scheme in X-Forwarded-Proto."""
    url = request.url
    forwarded = (request.headers.get("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
    if forwarded in ("http", "https") and "://" in url:
        return f"{forwarded}://{url.split('://', 1)[1]}"
    return url


def _scheduler_trigger_key(function: str, request: HttpRequest) -> str | None:
    """Cloud Scheduler may deliver one scheduled run more than once: job name + schedule time identify it."""
    job = request.headers.get("X-CloudScheduler-JobName")
    scheduled = request.headers.get("X-CloudScheduler-ScheduleTime")
    if not job or not scheduled:
        return None
    return f"trigger:{function}:{job}:{scheduled}"


def _authorised(request: HttpRequest, token: str) -> bool:
    if not token:
        return True
    header = request.headers.get("Authorization") or ""
    return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


def _json_body(request: HttpRequest) -> Any:
    raw = request.get_data()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"the body is not valid JSON: {error.msg}") from None


def _render(result: RunResult) -> dict[str, Any]:
    rendered = result.as_json()
    actions = rendered["actions"]
    if len(actions) > MAX_ACTIONS_IN_RESPONSE:
        rendered["actions"] = actions[:MAX_ACTIONS_IN_RESPONSE]
        rendered["actions_truncated"] = len(actions) - MAX_ACTIONS_IN_RESPONSE
    return rendered


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
    return str(error)


def _error(status: int, message: str) -> Response:
    return {"error": message, "status": status}, status
