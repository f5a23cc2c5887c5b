"""The vocabulary shared by domain, services, ports and adapters.

CRM records travel as `CrmRecord` (HubSpot's own shape: string properties plus associations); services map
them to the typed entities below through `flywheel.services.mapping`, using the configured property names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

# --- CRM level -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrmRecord:
    """One HubSpot CRM object as the API returns it: every property value is a string or None."""

    id: str
    properties: Mapping[str, str | None]
    # to-object-type ("companies", "contacts", ...) -> associated ids, when the read asked for them
    associations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    archived: bool = False

    def prop(self, name: str) -> str | None:
        value = self.properties.get(name)
        return None if value is None or value == "" else value


@dataclass(frozen=True, slots=True)
class Page:
    """A page of records plus the opaque cursor that resumes the listing after it (None on the last page)."""

    records: tuple[CrmRecord, ...]
    after: str | None


@dataclass(frozen=True, slots=True)
class Stage:
    id: str
    label: str
    is_closed: bool
    probability: float | None

    @property
    def is_won(self) -> bool:
        return self.is_closed and self.probability is not None and self.probability >= 1.0


@dataclass(frozen=True, slots=True)
class Pipeline:
    id: str
    label: str
    stages: tuple[Stage, ...]

    def stage(self, stage_id: str) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def stage_by_label(self, label: str) -> Stage:
        for stage in self.stages:
            if stage.label == label or stage.id == label:
                return stage
        raise LookupError(f"pipeline {self.label!r} has no stage {label!r}")


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    email: str
    first_name: str = ""
    last_name: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email


# --- Domain entities -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    opted_out: bool = False
    legal_basis: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Company:
    id: str
    name: str
    owner_id: str | None = None
    category: str | None = None
    province: str | None = None
    dp_level: str | None = None
    available_credit: float | None = None
    cashback_available: float | None = None
    ecommerce_status: str | None = None
    sirank: int | None = None
    last_purchase_date: date | None = None
    retention_segment: str | None = None
    phone: str | None = None
    properties: Mapping[str, str | None] = field(default_factory=dict)


# --- Actions and runs ------------------------------------------------------------------------------------------


class _Effect(BaseModel):
    """What every action has: the company it is about and, for effects that are not naturally idempotent, the
    idempotency key (`function:company:period-or-step`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    company_id: str

    def as_json(self) -> dict[str, Any]:
        """The action as `--json` and the HTTP answer show it: its type first, no empty fields."""
        dumped = self.model_dump(mode="json", exclude_none=True)
        return {"type": dumped.pop("type"), **dumped}


class UpdateCompany(_Effect):
    type: Literal["update_company"] = "update_company"
    properties: dict[str, str]
    key: str | None = None  # a property write is idempotent: the key only names it in reports


class UpdateContact(_Effect):
    type: Literal["update_contact"] = "update_contact"
    contact_id: str
    properties: dict[str, str]
    key: str | None = None


class MoveDeal(_Effect):
    type: Literal["move_deal"] = "move_deal"
    deal_id: str
    stage: str
    properties: dict[str, str] | None = None
    key: str | None = None


class CreateDeal(_Effect):
    type: Literal["create_deal"] = "create_deal"
    key: str
    properties: dict[str, str]
    pipeline: str | None = None
    stage: str | None = None
    owner_id: str | None = None
    contact_ids: list[str] | None = None


class _Task(_Effect):
    key: str
    subject: str
    body: str | None = None
    due: datetime | None = None
    owner_id: str | None = None
    deal_id: str | None = None
    properties: dict[str, str] | None = None


class CreateTask(_Task):
    """A HubSpot task for a person (the company's owner, the sales assistant)."""

    type: Literal["create_task"] = "create_task"


class NotifyOwner(_Task):
    """An alert for the company's owner: a high-priority task, which HubSpot notifies."""

    type: Literal["notify_owner"] = "notify_owner"


class SendEmail(_Effect):
    type: Literal["send_email"] = "send_email"
    key: str
    contact_id: str
    template: str
    context: dict[str, str] | None = None


# One effect a service decided on, one class per kind; pydantic tells them apart by `type`.
Action = Annotated[
    UpdateCompany | UpdateContact | MoveDeal | CreateDeal | CreateTask | NotifyOwner | SendEmail,
    Field(discriminator="type"),
]
ActionType = Literal[
    "update_company", "update_contact", "move_deal", "create_deal", "create_task", "notify_owner", "send_email"
]


class RunRequest(BaseModel):
    """The body every function accepts; each function narrows `mode` and may add its own fields."""

    model_config = ConfigDict(extra="forbid")

    as_of: date | None = None
    dry_run: bool = False

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_only(cls, value: Any, info: ValidationInfo) -> Any:
        # lax pydantic reads "yes", "off" or 0 as booleans: a flag that decides whether HubSpot changes is JSON
        # true or false, in every function's request
        if info.field_name and cls.model_fields[info.field_name].annotation is bool and not isinstance(value, bool):
            raise ValueError("JSON true or false only")
        return value


@dataclass
class ExecutionReport:
    """What happened to the actions, by outcome and type (`created:create_task`, `skipped_done:send_email`...).

    `results` holds the recorded result of every effect known to have happened (a message id for an email),
    by key; an email whose outcome is unknown is never in it."""

    outcomes: Counter[str] = field(default_factory=Counter)
    results: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    refusals: dict[str, str] = field(default_factory=dict)

    def count(self, outcome: str, action: Action) -> None:
        self.outcomes[f"{outcome}:{action.type}"] += 1

    def merge(self, other: ExecutionReport) -> None:
        self.outcomes.update(other.outcomes)
        self.results.update(other.results)
        self.refusals.update(other.refusals)

    @property
    def transient_failures(self) -> int:
        """Effects that failed for a reason that may pass (their keys are free or kept for reconciliation): the
        caller answers 503 so that the trigger is retried."""
        return self.total("failed_transient")

    def total(self, outcome: str) -> int:
        return sum(n for k, n in self.outcomes.items() if k.split(":", 1)[0] == outcome)

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.outcomes.items()))


class RunResult(BaseModel):
    """One run: what it decided (`actions`), what happened to each effect (`report`, typed: callers read it, not
    the summary), and the function's own counts for people (`summary`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    function: str
    as_of: date
    dry_run: bool
    actions: list[Action]
    summary: dict[str, Any]
    report: ExecutionReport = Field(default_factory=lambda: ExecutionReport())

    def as_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "actions": [a.as_json() for a in self.actions],
            "summary": self.summary,
        }
