"""The Cloud Functions entry module: one HTTP entry point per function of the registry, FUNCTION_webhook for
each one HubSpot calls, and one per endpoint of the registry (`unsubscribe`, `coupon_check`, `report`). Deploy
this folder (plus the flywheel package) with --entry-point NAME: `python -m infra.deploy` deploys them all.

Run body: {as_of?, dry_run?, ...the function's own fields}; webhooks: HubSpot's events, signed (v3, or v2 for
workflow custom-code and app-defined actions).
"""

from collections.abc import Callable
from typing import Any

import flask
import functions_framework
from _entry import endpoint, run, webhook

from flywheel.services.registry import ENDPOINTS, FUNCTIONS


def _entry_point(name: str, function: str, handle: Callable[[str, flask.Request], Any]) -> Callable[..., Any]:
    def entry(request: flask.Request) -> Any:
        return handle(function, request)

    # functions-framework registers an entry point under its function's name
    entry.__name__ = entry.__qualname__ = name
    return functions_framework.http(entry)


__all__: list[str] = []
for _spec in FUNCTIONS:
    globals()[_spec.name] = _entry_point(_spec.name, _spec.name, run)
    __all__.append(_spec.name)
    if _spec.webhook is not None:
        globals()[f"{_spec.name}_webhook"] = _entry_point(f"{_spec.name}_webhook", _spec.name, webhook)
        __all__.append(f"{_spec.name}_webhook")
for _endpoint in ENDPOINTS:
    globals()[_endpoint.name] = _entry_point(_endpoint.name, _endpoint.name, endpoint)
    __all__.append(_endpoint.name)
