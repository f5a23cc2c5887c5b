"""The one place that builds adapters from the configuration: lazily, once per instance.

Cloud Functions reuse an instance across invocations, so clients (HubSpot, Firestore) are built on the first call
that needs them and kept; nothing connects at import time.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

from flywheel.clock import RunBudget, SystemClock
from flywheel.config import Settings, load_settings
from flywheel.errors import ConfigurationError
from flywheel.ports import Clock, Crm, Mailer, StateStore
from flywheel.services.context import Ports, ProgressFn

if TYPE_CHECKING:
    from flywheel.adapters.hubspot import HubSpotCrm


def build_crm(settings: Settings, budget: RunBudget | None = None) -> HubSpotCrm:
    from flywheel.adapters.hubspot import HubSpotCrm

    return HubSpotCrm(
        api_base=settings.hubspot_api_base,
        access_token=settings.hubspot_access_token,
        rate_limit_per_10s=settings.hubspot_rate_limit,
        max_retries=settings.hubspot_max_retries,
        timeout_seconds=settings.hubspot_timeout_seconds,
        budget=budget,
    )


def build_state_store(url: str) -> StateStore:
    """`sqlite:///PATH` (relative or absolute), `memory://`, `firestore://PROJECT[/DATABASE]`."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        from flywheel.adapters.sqlite import SqliteStateStore

        path = url.removeprefix("sqlite://").removeprefix("/") if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigurationError(f"FLYWHEEL_STATE {url!r}: expected sqlite:///PATH")
        # sqlite:///rel/path is relative; sqlite:////abs/path is absolute, as in SQLAlchemy
        return SqliteStateStore(str(Path(path)))
    if parsed.scheme == "memory":
        from flywheel.adapters.memory import MemoryStateStore

        return MemoryStateStore()
    if parsed.scheme == "firestore":
        from flywheel.adapters.firestore import FirestoreStateStore

        project = parsed.netloc
        database = parsed.path.strip("/") or "(default)"
        if not project:
            raise ConfigurationError(f"FLYWHEEL_STATE {url!r}: expected firestore://PROJECT[/DATABASE]")
        return FirestoreStateStore(project, database)
    raise ConfigurationError(f"FLYWHEEL_STATE {url!r}: use sqlite:///PATH, memory:// or firestore://PROJECT")


def build_mailer(url: str, settings: Settings, crm: Crm | None = None, budget: RunBudget | None = None) -> Mailer:
    """`outbox://DIR`, `hubspot` (marketing single-send), `ses://REGION?from=ADDRESS`. The HubSpot mailer shares
    the HubSpot CRM adapter's rate limiter and retry policy when given it: one app, one rate limit."""
    parsed = urlparse(url)
    if parsed.scheme == "outbox":
        directory = url.removeprefix("outbox://")
        if not directory:
            raise ConfigurationError(f"FLYWHEEL_MAILER {url!r}: expected outbox://DIR")
        from flywheel.adapters.mailers import OutboxMailer

        return OutboxMailer(directory, sender=settings.mail.sender)
    if url == "hubspot" or parsed.scheme == "hubspot":
        from flywheel.adapters.hubspot import HubSpotCrm
        from flywheel.adapters.mailers import HubSpotSingleSendMailer

        shared = crm if isinstance(crm, HubSpotCrm) else None
        return HubSpotSingleSendMailer(
            api_base=settings.hubspot_api_base,
            access_token=settings.hubspot_access_token,
            email_ids=settings.hubspot_email_ids,
            timeout_seconds=settings.hubspot_timeout_seconds,
            limiter=shared.limiter if shared else None,
            policy=shared.policy if shared else None,
            budget=budget,
        )
    if parsed.scheme == "ses":
        sender = parse_qs(parsed.query).get("from", [""])[0]
        if not parsed.netloc or not sender:
            raise ConfigurationError(f"FLYWHEEL_MAILER {url!r}: expected ses://REGION?from=ADDRESS")
        from flywheel.adapters.mailers import SesMailer

        return SesMailer(region=parsed.netloc, sender=sender)
    raise ConfigurationError(f"FLYWHEEL_MAILER {url!r}: use outbox://DIR, hubspot or ses://REGION?from=ADDRESS")


class Instance:
    """What one function instance keeps between invocations: settings and the adapters built from them."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None) -> None:
        self._settings = settings
        # None: the real clock. A fixed one serves replays and tests, which must not depend on the real date.
        self._clock = clock
        self._lock = threading.Lock()
        self._crm: Crm | None = None
        self._state: StateStore | None = None
        self._mailer: Mailer | None = None
        # started afresh for every run: the adapters' retries never sleep past it
        self._budget = RunBudget()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def clock(self) -> Clock:
        """The instance's clock (the real one unless a test or replay fixed it), without building any adapter."""
        return self._clock or SystemClock(self.settings.timezone)

    def ports(self, *, clock: Clock | None = None, progress: ProgressFn | None = None) -> Ports:
        with self._lock:
            if self._crm is None:
                self._crm = build_crm(self.settings, self._budget)
            if self._state is None:
                self._state = build_state_store(self.settings.state)
            if self._mailer is None:
                self._mailer = build_mailer(self.settings.mailer, self.settings, self._crm, self._budget)
            self._budget.start(self.settings.run_budget_seconds)
        ports = Ports(
            crm=self._crm,
            state=self._state,
            mailer=self._mailer,
            clock=clock or self._clock or SystemClock(self.settings.timezone),
            settings=self.settings,
        )
        if progress is not None:
            ports.progress = progress
        return ports


_instance: Instance | None = None
_instance_lock = threading.Lock()


def instance() -> Instance:
    """The process-wide instance (one per Cloud Functions instance)."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = Instance()
        return _instance


def reset_instance(settings: Settings | None = None, clock: Clock | None = None) -> Instance:
    """Start the process-wide instance afresh (after a configuration change; tests use it between cases)."""
    global _instance
    with _instance_lock:
        _instance = Instance(settings, clock)
        return _instance
