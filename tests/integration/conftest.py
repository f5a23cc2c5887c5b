"""Integration fixtures: the Cloud Firestore emulator for the session, a fresh Firestore state store per test.

The emulator is the one at $FIRESTORE_EMULATOR_HOST when that is set (CI may start it beforehand), otherwise
this session starts the official emulator on a free loopback port and stops it at the end. Where neither java
nor the emulator component exists, every Firestore test is skipped with the reason, and the terminal summary
ends with a warning that says so: never a silent pass. Set FLYWHEEL_REQUIRE_FIRESTORE=1 to turn that skip into
a failure.

Each test gets its own collection prefix, so tests never see each other's data and need no clearing.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# importable whatever pytest's import mode (the default "prepend" already puts this folder on sys.path)
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
from firestore_emulator import FirestoreEmulator, answers, unavailable_reason

if TYPE_CHECKING:
    from flywheel.adapters.firestore import FirestoreStateStore

FIRESTORE_PROJECT = "demo-flywheel"  # "demo-" projects are emulator-only by convention: nothing real is reachable
_firestore_skips: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _firestore_skips:
        terminalreporter.write_sep("!", "FIRESTORE EMULATOR NOT AVAILABLE", red=True, bold=True)
        terminalreporter.write_line(f"Firestore tests were SKIPPED: {_firestore_skips[0]}", red=True, bold=True)
        terminalreporter.write_line(
            "The state-store contract has NOT been checked on Firestore in this run. Install java and the "
            "Google Cloud CLI component cloud-firestore-emulator, or set FIRESTORE_EMULATOR_HOST.",
            red=True,
        )


@pytest.fixture(scope="session")
def firestore_emulator_host() -> Iterator[str]:
    """host:port of a running Firestore emulator; FIRESTORE_EMULATOR_HOST points at it for the session."""
    preset = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if preset:
        deadline = time.monotonic() + 30
        while not answers(preset):
            if time.monotonic() > deadline:
                pytest.fail(f"FIRESTORE_EMULATOR_HOST={preset} is set but no emulator answers there")
            time.sleep(0.2)
        yield preset
        return
    reason = unavailable_reason()
    if reason is not None:
        message = f"Cloud Firestore emulator unavailable: {reason}"
        if os.environ.get("FLYWHEEL_REQUIRE_FIRESTORE"):
            pytest.fail(message + " (FLYWHEEL_REQUIRE_FIRESTORE is set)")
        _firestore_skips.append(message)
        pytest.skip(message)
    emulator = FirestoreEmulator().start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host_port
    try:
        yield emulator.host_port
    finally:
        os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        emulator.stop()


@pytest.fixture(scope="session")
def firestore_project(firestore_emulator_host: str) -> str:
    """The emulator project the fixtures use (e.g. for FLYWHEEL_STATE=firestore://PROJECT in a bootstrap test)."""
    return FIRESTORE_PROJECT


@pytest.fixture(scope="session")
def firestore_client(firestore_emulator_host: str) -> Iterator[Any]:
    """One google.cloud.firestore.Client on the emulator, shared by the session's stores."""
    from google.cloud import firestore

    client = firestore.Client(project=FIRESTORE_PROJECT)
    yield client
    client.close()


@pytest.fixture
def firestore_state_store_factory(firestore_client: Any) -> Callable[[], FirestoreStateStore]:
    """Builds FirestoreStateStores on the emulator, each with a prefix of its own (an empty store)."""
    from flywheel.adapters.firestore import FirestoreStateStore

    def build() -> FirestoreStateStore:
        return FirestoreStateStore(FIRESTORE_PROJECT, client=firestore_client, prefix=f"t{uuid.uuid4().hex[:12]}")

    return build


@pytest.fixture
def firestore_state_store(firestore_state_store_factory: Callable[[], FirestoreStateStore]) -> FirestoreStateStore:
    return firestore_state_store_factory()


@pytest.fixture(params=["sqlite", "firestore"])
def durable_state(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A state store that outlives a run, both kinds: SQLite (the local default) and Firestore on its emulator
    (production's)."""
    if request.param == "firestore":
        request.applymarker(pytest.mark.firestore)
        return request.getfixturevalue("firestore_state_store")
    from flywheel.adapters.sqlite import SqliteStateStore

    return SqliteStateStore(str(tmp_path / "state.db"))
