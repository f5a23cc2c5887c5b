"""The functions Flywheel offers, found by discovery: each service module declares FUNCTION, Request and run.

A service module looks like:

    FUNCTION = "sirank_recalc"
    CADENCE = "daily"                       # daily | hourly | weekly | monthly (for the demo and infra)
    SUMMARY_TOTALS = ("emails_sent",)       # optional: summary counts that add up over runs
    class Request(RunRequest): mode: Literal["full", "incremental"] | None = None
    def run(request: Request, ports: Ports) -> RunResult: ...
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import cast

import flywheel.services as services_package
from flywheel.domain.models import RunRequest, RunResult
from flywheel.services.context import Ports


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    cadence: str
    request_model: type[RunRequest]
    run: Callable[[RunRequest, Ports], RunResult]
    module: ModuleType
    # summary keys whose counts add up over runs (nested counts included), as opposed to one run's snapshot
    summary_totals: tuple[str, ...] = ()


class UnknownFunction(LookupError):
    pass


@cache
def functions() -> dict[str, FunctionSpec]:
    found: dict[str, FunctionSpec] = {}
    for info in pkgutil.iter_modules(services_package.__path__):
        module = importlib.import_module(f"{services_package.__name__}.{info.name}")
        name = getattr(module, "FUNCTION", None)
        if not isinstance(name, str):
            continue
        found[name] = FunctionSpec(
            name=name,
            cadence=str(getattr(module, "CADENCE", "daily")),
            request_model=cast(type[RunRequest], module.Request),
            run=cast(Callable[[RunRequest, Ports], RunResult], module.run),
            module=module,
            summary_totals=tuple(getattr(module, "SUMMARY_TOTALS", ())),
        )
    return dict(sorted(found.items()))


def get(name: str) -> FunctionSpec:
    try:
        return functions()[name]
    except KeyError:
        known = ", ".join(functions()) or "none"
        raise UnknownFunction(f"unknown function {name!r} (known: {known})") from None
