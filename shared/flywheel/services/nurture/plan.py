"""What every module of a daily run shares: the run's day and mode, and the plan kept for each enrolment.

The modules that read, decide, write and report each take these two instead of a long list of arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flywheel.config import NurtureRules, PortalContract
from flywheel.domain.models import Company, Contact, SendEmail
from flywheel.domain.nurture import Conversion, Enrolment
from flywheel.services.context import Ports


@dataclass(frozen=True)
class DailyRun:
    """The day a run acts for, and how: a dry run decides and reports what it would do, and writes nothing."""

    ports: Ports
    as_of: date
    dry_run: bool
    backfill: bool  # enrol beyond the 15-day window, deliberately

    @property
    def rules(self) -> NurtureRules:
        return self.ports.settings.nurture

    @property
    def contract(self) -> PortalContract:
        return self.ports.settings.portal


@dataclass
class Plan:
    """One enrolment on this run: what we knew, what we decided, whom we write to."""

    enrolment: Enrolment
    is_new: bool
    company: Company | None = None
    conversion: Conversion | None = None
    step: int | None = None
    recipients: list[Contact] = field(default_factory=list)
    actions: list[SendEmail] = field(default_factory=list)
    outcome: Enrolment | None = None
