"""The vocabulary shared by domain, services, ports and adapters.

CRM records travel as `CrmRecord` (HubSpot's own shape: string properties plus associations); services map
them to the typed entities below through `flywheel.services.mapping`, using the configured property names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

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
class Order:
    """A closed-won deal in an order pipeline: what the customer bought, when, for how much (EUR)."""

    id: str
    company_id: str
    amount: float
    order_date: date  # closedate as a Europe/Rome calendar date


@dataclass(frozen=True, slots=True)
class Deal:
    """Any deal, open or closed, with its pipeline and stage resolved against the portal schema."""

    id: str
    company_ids: tuple[str, ...]
    pipeline_id: str
    stage_id: str
    is_closed: bool
    is_won: bool
    amount: float | None = None
    close_date: date | None = None
    name: str | None = None
    properties: Mapping[str, str | None] = field(default_factory=dict)


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

ActionType = Literal[
    "update_company",
    "create_deal",
    "move_deal",
    "create_task",
    "send_email",
    "notify_owner",
    "update_contact",
]


class Action(BaseModel):
    """One effect a service decided on. `key` is its idempotency key (`function:company:period-or-step`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ActionType
    company_id: str
    key: str | None = None
    properties: dict[str, str] | None = None
    deal_id: str | None = None
    contact_id: str | None = None
    contact_ids: list[str] | None = None
    owner_id: str | None = None
    pipeline: str | None = None
    stage: str | None = None
    template: str | None = None
    subject: str | None = None
    body: str | None = None
    due: datetime | None = None
    context: dict[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


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


class RunResult(BaseModel):
    function: str
    as_of: date
    dry_run: bool
    actions: list[Action]
    summary: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "actions": [a.as_json() for a in self.actions],
            "summary": self.summary,
        }
