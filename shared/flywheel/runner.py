"""Running one function once: validate the body, fill in as_of, call the service. Shared by the CLI and HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flywheel.domain.models import RunRequest, RunResult
from flywheel.services.context import Ports
from flywheel.services.registry import get


def parse_request(function: str, body: Mapping[str, Any]) -> RunRequest:
    """The function's request model from a JSON body; raises pydantic.ValidationError on bad input."""
    return get(function).request_model.model_validate(dict(body))


def run_function(function: str, request: RunRequest, ports: Ports) -> RunResult:
    spec = get(function)
    if request.as_of is None:
        request = request.model_copy(update={"as_of": ports.clock.today()})
    return spec.run(request, ports)


def run_webhook(function: str, events: list[dict[str, Any]], ports: Ports) -> RunResult:
    spec = get(function)
    handler = getattr(spec.module, "WEBHOOK", None)
    if handler is None:
        raise LookupError(f"{function} has no webhook entry")
    result: RunResult = handler(events, ports)
    return result
