"""End-to-end fixtures: a sandbox portal with data, and the environment that points Flywheel at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flywheel.bootstrap import reset_instance
from flywheel.clock import FixedClock


@pytest.fixture
def portal(sandbox_factory: Callable[..., Any]) -> Any:
    return sandbox_factory(companies=60, seed=3)


@pytest.fixture
def flywheel_env(
    portal: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, now: datetime
) -> Iterator[dict[str, str]]:
    """The environment of a deployed function pointed at the portal; the in-process app runs on the test's clock."""
    env = {
        "HUBSPOT_API_BASE": portal.url,
        "HUBSPOT_ACCESS_TOKEN": portal.token,
        "HUBSPOT_CLIENT_SECRET": "test-client-secret",
        "HUBSPOT_RATE_LIMIT": "0",
        "FLYWHEEL_STATE": f"sqlite:///{tmp_path / 'state.db'}",
        "FLYWHEEL_MAILER": f"outbox://{tmp_path / 'outbox'}",
        "FLYWHEEL_NURTURE__COUPON_SECRET": "e2e-coupon-secret-of-at-least-32-characters",
        # every email carries a signed unsubscribe link to the `unsubscribe` entry
        "FLYWHEEL_MAIL__UNSUBSCRIBE_SECRET": "e2e-unsubscribe-secret-of-at-least-32-characters",
        "FLYWHEEL_MAIL__UNSUBSCRIBE_URL": "https://europe-west1-flywheel-e2e.cloudfunctions.net/unsubscribe",
        # the run endpoints refuse every call without one (or FLYWHEEL_AUTH=iam); sent as X-Flywheel-Token
        "FLYWHEEL_API_TOKEN": "e2e-api-token",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_instance(clock=FixedClock(now))
    yield env
    reset_instance()


@pytest.fixture
def yesterday(today: date) -> str:
    """The as_of of a morning's scheduled run, ISO."""
    return (today - timedelta(days=1)).isoformat()
