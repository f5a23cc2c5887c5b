"""The HTTP face of every function: verify -> parse (pydantic) -> call the service -> render JSON.

Status codes tell Cloud Scheduler and HubSpot what to do: 4xx means the request is wrong and nothing changed (do not
retry), 5xx means a transient fault (retry), 409 (Scheduler) or 429 (HubSpot) means the same trigger is being
handled right now (retry later), 200 means done (including "already done" for a redelivered trigger). Errors become
statuses in one place, `flywheel.runner.failure_of`, which the CLI shares.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from flywheel import logs
from flywheel.bootstrap import Instance, instance
from flywheel.config import Settings, require_coupon_secret, unsubscribe_link_settings
from flywheel.domain.models import RunResult
from flywheel.errors import BadInput, PayloadTooLarge
from flywheel.mail import pages
from flywheel.mail.links import BadLink, verify_unsubscribe
from flywheel.ports import Reservation
from flywheel.runner import (
    SETTINGS_ERRORS,
    Unauthorized,
    bounded,
    failure_of,
    parse_request,
    run_function,
    run_webhook,
    settings_error,
)
from flywheel.services import subscriptions
from flywheel.services.context import Ports
from flywheel.webhooks import delivery_id, parse_events, verify_request

log = logging.getLogger(__name__)

# A response body stays well under Cloud Functions' size limit; the summary always has the full counts.
MAX_ACTIONS_IN_RESPONSE = 1000
# HubSpot batches at most 100 webhook events and a run body is a handful of fields: anything larger is not ours.
MAX_BODY_BYTES = 1024 * 1024
TOKEN_HEADER = "X-Flywheel-Token"
SCHEDULER_JOB_HEADER = "X-CloudScheduler-JobName"
SCHEDULER_TIME_HEADER = "X-CloudScheduler-ScheduleTime"
_MAX_TRIGGER_HEADER = 200
# Webhook events another delivery holds. HubSpot's workflow webhooks retry no 4xx but 429 (honouring
# Retry-After), and its Webhooks API retries everything but 400/401/403/404/405: 429 is the answer both retry.
HELD_STATUS = 429
HELD_RETRY_AFTER = 60

Response = tuple[dict[str, Any], int]
# an HTML page and its status, for people who open a link from an email
Page = tuple[str, int]


class HttpRequest(Protocol):
    """The part of a Flask/Werkzeug request Flywheel reads."""

    method: str
    url: str
    headers: Any
    stream: Any


def handle_run(function: str, request: HttpRequest, inst: Instance | None = None) -> Response:
    if request.method != "POST":
        return _error(405, "use POST with a JSON body")
    try:
        return _run(function, request, inst or instance())
    except Exception as error:
        return _failed(function, error)


def handle_webhook(
    function: str, request: HttpRequest, inst: Instance | None = None, *, target: str | None = None
) -> Response:
    """`target` is the deployed function's name (default FUNCTION_webhook, as functions/main.py names it):
    behind Cloud Functions it is the part of the signed URL the app does not see."""
    if request.method != "POST":
        return _error(405, "use POST")
    try:
        return _webhook(function, target or f"{function}_webhook", request, inst or instance())
    except Exception as error:
        return _failed(function, error)


# --- endpoints (services.registry.ENDPOINTS) -------------------------------------------------------------------


def handle_unsubscribe(request: HttpRequest, inst: Instance | None = None) -> Page:
    """The signed link of every email. GET shows a confirmation page and changes nothing (mail scanners open
    links); POST records the opt-out: the page's button, or a mail client's RFC 8058 one-click POST to the
    List-Unsubscribe URL. A link that is forged, altered or expired is a 400 and changes nothing."""
    method = request.method.upper()
    if method not in ("GET", "HEAD", "POST"):
        return pages.page("method_not_allowed"), 405
    try:
        inst = inst or instance()
        settings = _settings(inst)
        secret, _ = unsubscribe_link_settings(settings)
        if method == "POST":
            _read_body(request)  # bounded; RFC 8058's body (List-Unsubscribe=One-Click) carries nothing we need
        link = verify_unsubscribe(secret, request.url, inst.clock.today())
        if method != "POST":
            return pages.page("confirm"), 200
        subscriptions.unsubscribe(link.contact_id, inst.ports())
        return pages.page("done"), 200
    except BadLink:
        return pages.page("bad_link"), 400
    except Exception as error:
        _, status = _failed("unsubscribe", error)
        return pages.page("too_large" if status == 413 else "unavailable"), status


class CouponQuestion(BaseModel):
    """`{"company_id": "...", "code": "..."}`: is this code valid for this company, and until when?"""

    model_config = ConfigDict(extra="forbid")

    company_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=64)


def handle_coupon_check(request: HttpRequest, inst: Instance | None = None) -> Response:
    """For the e-commerce site, authenticated like the run endpoints; answered from the code's signature alone."""
    if request.method != "POST":
        return _error(405, "use POST with a JSON body")
    try:
        inst = inst or instance()
        settings = _settings(inst)
        _authorise(request, settings)
        question = CouponQuestion.model_validate(_json_object(_read_body(request)))
        require_coupon_secret(settings)
        answer = subscriptions.coupon_validity(settings.nurture, question.company_id, question.code, inst.clock.today())
        return {"company_id": question.company_id, "code": question.code, **answer.as_json()}, 200
    except Exception as error:
        return _failed("coupon_check", error)


def handle_report(request: HttpRequest, inst: Instance | None = None) -> Page | Response:
    """The reps' dashboard, authenticated like the run endpoints: GET answers the HTML page, `?format=json` the
    JSON; `as_of` (default today) and `owner` (an owner's email) in the query. It changes nothing."""
    if request.method.upper() not in ("GET", "HEAD"):
        return _error(405, "use GET")
    try:
        from flywheel.services.report import build_report
        from flywheel.services.report.request import parse_query, report_as_of

        inst = inst or instance()
        _authorise(request, _settings(inst))
        query = parse_query(urlsplit(request.url).query)
        ports = inst.ports()
        report = build_report(ports, report_as_of(query.as_of, ports), query.owner)
        if query.format == "json":
            return report, 200
        from flywheel.report_page import render_page

        return render_page(report), 200
    except Exception as error:
        return _failed("report", error)


ENDPOINT_HANDLERS: dict[str, Callable[[HttpRequest], Page | Response]] = {
    "unsubscribe": handle_unsubscribe,
    "coupon_check": handle_coupon_check,
    "report": handle_report,
}


# --- runs and webhooks -----------------------------------------------------------------------------------------


def _run(function: str, request: HttpRequest, inst: Instance) -> Response:
    settings = _settings(inst)
    _authorise(request, settings)
    run_request = parse_request(function, _json_object(_read_body(request)))
    # progress of a long run: INFO entries of the run's log scope
    ports = inst.ports(progress=logs.progress)
    # before the trigger is claimed: a refused as_of must leave no trace in the state store either
    run_request = bounded(run_request, ports)
    trigger_key = _scheduler_trigger_key(function, request)
    claim: Reservation | None = None
    if trigger_key and not run_request.dry_run:
        claim = ports.idempotency.claim(trigger_key)
        if claim.status == "done":
            log.info("%s: trigger %s already ran: deduplicated", function, trigger_key)
            return {"function": function, "deduplicated": True, "previous": dict(claim.result or {})}, 200
        if claim.status == "held":
            log.warning("%s: trigger %s is still running elsewhere: 409", function, trigger_key)
            return _error(409, "this scheduled run is already in progress")
    try:
        result = run_function(function, run_request, ports)
    except BaseException:
        _release(ports, [claim] if claim else [])
        raise
    transient = result.report.transient_failures
    if claim:
        if transient:
            _release(ports, [claim])
        elif not ports.idempotency.complete(claim, {"summary": result.summary}):
            log.warning("%s: trigger %s was taken over by another delivery before it completed", function, trigger_key)
    return _render(result), 503 if transient else 200


def _webhook(function: str, target: str, request: HttpRequest, inst: Instance) -> Response:
    settings = _settings(inst)
    body = _read_body(request)
    ports = inst.ports(progress=logs.progress)
    verify_request(
        settings.hubspot_client_secret,
        request.method,
        _signed_urls(request, settings.public_url, target),
        body,
        request.headers,
        ports.clock.now(),
    )
    events = parse_events(_json(body))

    claims: list[Reservation] = []
    fresh: list[dict[str, Any]] = []
    held = 0
    seen: set[str] = set()
    try:
        for event in events:
            delivery = delivery_id(event)
            if delivery is None:
                fresh.append(event)
                continue
            key = f"webhook:{function}:{delivery}"
            if key in seen:
                continue
            seen.add(key)
            claim = ports.idempotency.claim(key)
            if claim.owned:
                fresh.append(event)
                claims.append(claim)
            elif claim.status == "held":
                held += 1
        result = run_webhook(function, fresh, ports) if fresh else None
    except BaseException:
        # whatever went wrong, HubSpot's retry must find the events free, never "already done"
        _release(ports, claims)
        raise
    if result is not None and result.report.transient_failures:
        # an effect of these events may not have happened: HubSpot's retry processes them again (the effects
        # themselves are keyed, so what did happen is found, not repeated)
        _release(ports, claims)
        return _render(result), 503
    for claim in claims:
        if not ports.idempotency.complete(claim, {"processed": True}):
            log.warning("%s: webhook key %s was taken over before it completed", function, claim.key)
    if held:
        # by HubSpot's retry the other delivery has finished (done) or given the events up (released, or its lease
        # ran out): never "deduplicated", which would make HubSpot drop events nobody has processed yet
        message = f"{held} of {len(events)} events are being processed by another delivery: retry later"
        answer = {"error": message, "status": HELD_STATUS, "processed": len(fresh), "retry_after": HELD_RETRY_AFTER}
        return answer, HELD_STATUS
    if result is None:
        return {"function": function, "deduplicated": True, "events": len(events)}, 200
    return _render(result), 200


def _failed(function: str, error: Exception) -> Response:
    failure = failure_of(error)
    if failure is None:
        log.exception("%s failed unexpectedly", function)
        return _error(500, f"internal error ({type(error).__name__})")
    if failure.status >= 500:
        log.error("%s failed: %s", function, failure.message)
    else:
        # a refused request changed nothing, but a misconfigured caller (a stale token, a bad body) shows up here
        log.warning("%s refused (%d): %s", function, failure.status, failure.message)
    return _error(failure.status, failure.message)


def _settings(inst: Instance) -> Settings:
    try:
        return inst.settings
    except SETTINGS_ERRORS as error:
        raise settings_error(error) from None


def _authorise(request: HttpRequest, settings: Settings) -> None:
    """The app token, in a header of its own: Cloud Scheduler's OIDC token takes `Authorization`."""
    if settings.api_token:
        given = str(request.headers.get(TOKEN_HEADER) or "").encode("utf-8", "surrogateescape")
        # comparing digests keeps the time independent of where, and whether, the lengths differ
        expected = hashlib.sha256(settings.api_token.encode()).digest()
        if not hmac.compare_digest(hashlib.sha256(given).digest(), expected):
            raise Unauthorized(f"missing or wrong {TOKEN_HEADER} header")
        return
    if settings.auth == "iam":
        return
    raise Unauthorized(
        "the run endpoints are closed: configure FLYWHEEL_API_TOKEN (sent as X-Flywheel-Token), or set "
        "FLYWHEEL_AUTH=iam where Cloud Functions IAM guards them"
    )


def _release(ports: Ports, claims: list[Reservation]) -> None:
    for claim in claims:
        try:
            ports.idempotency.release(claim)
        except Exception:
            # the error being answered matters more; an unreleased key frees itself when its lease ends
            log.exception("could not release %s", claim.key)


def _signed_urls(request: HttpRequest, public_url: str, target: str) -> list[str]:
    """The URLs HubSpot may have signed.

    Without FLYWHEEL_PUBLIC_URL: the URL the request arrived at, with the scheme the TLS proxy saw
    (X-Forwarded-Proto). With it: Cloud Functions strips the function's name from the path the app sees, so the
    registered URL PUBLIC_URL/TARGET is rebuilt from it; a proxy that keeps the path (PUBLIC_URL + path) and a
    PUBLIC_URL that is already the function's own URL are accepted as well.
    """
    if not public_url:
        url = request.url
        forwarded = str(request.headers.get("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
        if forwarded in ("http", "https") and "://" in url:
            return [f"{forwarded}://{url.split('://', 1)[1]}"]
        return [url]
    parts = urlsplit(request.url)
    base = public_url.rstrip("/")
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    candidates = [f"{base}/{target}{'' if path == '/' else path}{query}", f"{base}{path}{query}"]
    if path == "/":
        candidates.append(f"{base}{query}")
    return list(dict.fromkeys(candidates))


def _scheduler_trigger_key(function: str, request: HttpRequest) -> str | None:
    """Cloud Scheduler may deliver one scheduled run more than once: job name + schedule time identify it.
    Only read once the caller is authenticated, so a stranger cannot mark a run as done."""
    job = str(request.headers.get(SCHEDULER_JOB_HEADER) or "")
    scheduled = str(request.headers.get(SCHEDULER_TIME_HEADER) or "")
    if not job or not scheduled:
        return None
    if len(job) > _MAX_TRIGGER_HEADER or len(scheduled) > _MAX_TRIGGER_HEADER:
        raise BadInput("X-CloudScheduler-* headers too long")
    return f"trigger:{function}:{job}:{scheduled}"


def _read_body(request: HttpRequest) -> bytes:
    """At most MAX_BODY_BYTES, refused on the declared length before any of it is read."""
    declared = str(request.headers.get("Content-Length") or "").strip()
    if declared:
        if not (declared.isascii() and declared.isdigit()):
            raise BadInput("malformed Content-Length header")
        if len(declared) > 12 or int(declared) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    # a chunked body declares no length: read one byte past the limit to know it is over
    while size <= MAX_BODY_BYTES:
        chunk = request.stream.read(min(64 * 1024, MAX_BODY_BYTES + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    return b"".join(chunks)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadInput("the body is nested too deeply") from None
    except UnicodeDecodeError:
        raise BadInput("the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise BadInput(f"the body is not valid JSON: {error.msg}") from None
    except ValueError:
        # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise BadInput("the body holds a number too large to read") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    body = _json(raw)
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    return body


def _render(result: RunResult) -> dict[str, Any]:
    rendered = result.as_json()
    actions = rendered["actions"]
    if len(actions) > MAX_ACTIONS_IN_RESPONSE:
        rendered["actions"] = actions[:MAX_ACTIONS_IN_RESPONSE]
        rendered["actions_truncated"] = len(actions) - MAX_ACTIONS_IN_RESPONSE
    return rendered


def _error(status: int, message: str) -> Response:
    return {"error": message, "status": status}, status
