"""What every service run receives: the ports, the settings and the resolved portal schema."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from flywheel.config import Settings
from flywheel.ports import Clock, Crm, Mailer, StateStore
from flywheel.services.idempotency import Idempotency
from flywheel.services.portal import PortalSchema

ProgressFn = Callable[[str], None]


def _no_progress(_: str) -> None:
    return None


@dataclass
class Ports:
    crm: Crm
    state: StateStore
    mailer: Mailer
    clock: Clock
    settings: Settings
    progress: ProgressFn = field(default=_no_progress)

    @property
    def idempotency(self) -> Idempotency:
        """The one reserve -> act -> complete/release primitive, on this run's store and clock."""
        return Idempotency(self.state, self.clock, timedelta(seconds=self.settings.effect_lease_seconds))

    @cached_property
    def schema(self) -> PortalSchema:
        """Pipelines, stages and owners resolved once per instance (a handful of calls)."""
        return PortalSchema.load(self.crm, self.settings.portal)
