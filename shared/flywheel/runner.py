"""Running one function once: validate the body, fill in and bound as_of, call the service. Shared by the CLI and
HTTP, and so is `failure_of`, the one mapping of errors to an HTTP status and a CLI exit code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from flywheel import logs
from flywheel.config import Settings
from flywheel.domain.models import RunRequest, RunResult
from flywheel.errors import EXIT_BAD_INPUT, AuthError, BadInput, ConfigurationError, FlywheelError, NotFound
from flywheel.services.context import Ports
from flywheel.services.registry import get

# A dry run changes nothing, so it may look at the past (a backfill preview) or a year ahead; these bound it only
# against nonsense dates.
DRY_RUN_EARLIEST = date(2000, 1, 1)
DRY_RUN_FUTURE_DAYS = 366


class AsOfOutOfRange(BadInput):
    pass


class Unauthorized(AuthError):
    """The caller did not prove it may run functions."""


class NoWebhook(NotFound):
    pass


def parse_request(function: str, body: Mapping[str, Any]) -> RunRequest:
    """The function's request model from a JSON body; raises pydantic.ValidationError on bad input."""
    return get(function).request_model.model_validate(dict(body))


def as_of_range(*, dry_run: bool, today: date, settings: Settings) -> tuple[date, date]:
    """The dates a run may stand on. A run that changes anything stays near today: an as_of far in the past
    rewrites every company's history, and stepping it forward sends a month of emails in one day."""
    if dry_run:
        return DRY_RUN_EARLIEST, today + timedelta(days=DRY_RUN_FUTURE_DAYS)
    return today - timedelta(days=settings.as_of_past_days), today + timedelta(days=settings.as_of_future_days)


def bounded(request: RunRequest, ports: Ports) -> RunRequest:
    """The request with as_of filled in (today); raises AsOfOutOfRange, before anything is read or changed."""
    today = ports.clock.today()
    if request.as_of is None:
        return request.model_copy(update={"as_of": today})
    earliest, latest = as_of_range(dry_run=request.dry_run, today=today, settings=ports.settings)
    if not earliest <= request.as_of <= latest:
        kind = "a dry run" if request.dry_run else "a run that changes anything"
        raise AsOfOutOfRange(
            f"as_of {request.as_of.isoformat()} is outside the range allowed for {kind} today ({today.isoformat()}): "
            f"{earliest.isoformat()} to {latest.isoformat()}"
        )
    return request


def run_function(function: str, request: RunRequest, ports: Ports) -> RunResult:
    spec = get(function)
    request = bounded(request, ports)
    assert request.as_of is not None  # bounded fills it in
    logs.note_as_of(request.as_of)
    logs.run_started(function, request.as_of, dry_run=request.dry_run)
    result = spec.run(request, ports)
    logs.run_summary(result)
    return result


def run_webhook(function: str, events: list[dict[str, Any]], ports: Ports) -> RunResult:
    spec = get(function)
    if spec.webhook is None:
        raise NoWebhook(f"{function} has no webhook entry")
    result = spec.webhook(events, ports)
    logs.note_as_of(result.as_of)
    logs.run_summary(result, events=len(events))
    return result


# what loading the settings from the environment raises on a value that does not parse
SETTINGS_ERRORS = (ValidationError, SettingsError)


def settings_error(error: ValidationError | SettingsError) -> ConfigurationError:
    """A setting the environment gave that does not parse, named by its variable; the value is never shown."""
    if isinstance(error, SettingsError):
        # pydantic-settings names the field and the source only
        return ConfigurationError(f"invalid setting: {error}")
    names = []
    for problem in error.errors():
        name = "__".join(str(part) for part in problem["loc"]).upper()
        names.append(f"{name if name.startswith(('FLYWHEEL_', 'HUBSPOT_')) else 'FLYWHEEL_' + name}: {problem['msg']}")
    return ConfigurationError("invalid setting " + "; ".join(names))


@dataclass(frozen=True)
class Failure:
    status: int
    exit_code: int
    message: str


def failure_of(error: BaseException) -> Failure | None:
    """What an error means to an HTTP caller and to a shell; None for an error nobody foresaw (a bug)."""
    if isinstance(error, ValidationError):
        return Failure(400, EXIT_BAD_INPUT, describe(error))
    if not isinstance(error, FlywheelError):
        return None
    return Failure(error.http_status, error.exit_code, _message(error))


def _message(error: FlywheelError) -> str:
    # imported here: the ports module is not needed to tell a bad request from a bug
    from flywheel.ports import CrmError, StaleSequence

    if isinstance(error, ConfigurationError):
        return f"configuration error: {error}"
    if isinstance(error, CrmError):
        return f"HubSpot: {error}"
    if isinstance(error, StaleSequence):
        return f"a concurrent run changed the state first: {error}"
    return str(error)


def describe(error: ValidationError) -> str:
    # loc and msg only: pydantic's full text repeats the input, which may be anything a caller sent
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
