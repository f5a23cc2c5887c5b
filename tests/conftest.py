"""Fixtures shared by every test layer.

Time: `today` is the one place a test gets its date, and `now` (06:00 in Rome on that day) its instant; no test
reads the real date or time. Every sandbox portal's clock is pinned to `now`, so what the portal stamps
(createdate, hs_lastmodifieddate, search-lag visibility) agrees with the date the test runs its functions on.
Tests that use them are marked `dates`; `--today 2027-02-28,2028-02-29` runs those tests once per date given
(CI does, to prove the suite passes on any day).

`sandbox_factory` starts a local HubSpot sandbox portal on a free loopback port in a background thread;
`sandbox` is an empty portal (schema only, rate limit off) for one test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

DEFAULT_TODAY = date(2026, 11, 30)  # a Monday, the day the suite was first pinned
ROME = ZoneInfo("Europe/Rome")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--today",
        default=None,
        metavar="DATES",
        help=f"comma-separated ISO dates for the `today` fixture (default {DEFAULT_TODAY}); each dated test runs "
        "once per date",
    )


def _test_days(config: pytest.Config) -> list[date]:
    option = config.getoption("--today")
    if not option:
        return [DEFAULT_TODAY]
    try:
        return [date.fromisoformat(part.strip()) for part in str(option).split(",") if part.strip()]
    except ValueError as error:
        raise pytest.UsageError(f"--today: {error}") from error


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "today" in metafunc.fixturenames:
        metafunc.parametrize("today", _test_days(metafunc.config), indirect=True, ids=str)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "today" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.dates)


@pytest.fixture
def today(request: pytest.FixtureRequest) -> date:
    """The date a test runs on (Europe/Rome)."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def now(today: date) -> datetime:
    """The instant a test runs at: 06:00 in Rome on `today`, when the daily schedules run."""
    return datetime.combine(today, time(6, 0), ROME)


@pytest.fixture
def sandbox_factory(now: datetime) -> Iterator[Callable[..., Any]]:
    from sandbox.server import SandboxServer

    started: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        options.setdefault("companies", 0)
        options.setdefault("rate_limit", 0)
        options.setdefault("now", now)
        server = SandboxServer(host="127.0.0.1", port=0, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Any]) -> Any:
    return sandbox_factory()
