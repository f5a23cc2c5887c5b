"""Fixtures shared by every test layer.

`sandbox_factory` starts a local HubSpot sandbox portal on a free loopback port in a background thread;
`sandbox` is an empty portal (schema only, rate limit off) for one test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Any]]:
    from sandbox.server import SandboxServer

    started: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        options.setdefault("companies", 0)
        options.setdefault("rate_limit", 0)
        server = SandboxServer(host="127.0.0.1", port=0, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Any]) -> Any:
    return sandbox_factory()
