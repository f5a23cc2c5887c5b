"""What every service run receives: the ports, the settings and the resolved portal schema."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from flywheel.config import Settings
from flywheel.ports import Clock, Crm, Mailer, StateStore
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

    @cached_property
    def schema(self) -> PortalSchema:
        """Pipelines, stages and owners resolved once per instance (a handful of calls)."""
        return PortalSchema.load(self.crm, self.settings.portal)
