"""End-to-end fixtures: a sandbox portal with data, and the environment that points Flywheel at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flywheel.bootstrap import reset_instance


@pytest.fixture
def portal(sandbox_factory: Callable[..., Any]) -> Any:
    return sandbox_factory(companies=60, seed=3)


@pytest.fixture
def flywheel_env(portal: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    env = {
        "HUBSPOT_API_BASE": portal.url,
        "HUBSPOT_ACCESS_TOKEN": portal.token,
        "HUBSPOT_CLIENT_SECRET": "test-client-secret",
        "HUBSPOT_RATE_LIMIT": "0",
        "FLYWHEEL_STATE": f"sqlite:///{tmp_path / 'state.db'}",
        "FLYWHEEL_MAILER": f"outbox://{tmp_path / 'outbox'}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_instance()
    yield env
    reset_instance()
