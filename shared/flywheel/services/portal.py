"""The portal schema Flywheel depends on, resolved from HubSpot by label or id: pipelines, stages, owners."""

from __future__ import annotations

from dataclasses import dataclass

from flywheel.config import PortalContract
from flywheel.domain.models import Owner, Pipeline, Stage
from flywheel.ports import Crm


class PortalSchemaError(LookupError):
    """The portal lacks a pipeline, stage or owner the configuration names."""


@dataclass(frozen=True)
class PortalSchema:
    deal_pipelines: tuple[Pipeline, ...]
    order_pipeline_ids: frozenset[str]
    wakeup_pipeline: Pipeline
    owners: tuple[Owner, ...]
    sales_assistant: Owner
    contract: PortalContract

    @classmethod
    def load(cls, crm: Crm, contract: PortalContract) -> PortalSchema:
        pipelines = tuple(crm.pipelines("deals"))
        order_ids = frozenset(_find_pipeline(pipelines, name).id for name in contract.order_pipelines)
        wakeup = _find_pipeline(pipelines, contract.wakeup_pipeline)
        owners = tuple(crm.owners())
        assistant = next((o for o in owners if o.email == contract.sales_assistant_email), None)
        if assistant is None:
            raise PortalSchemaError(f"no HubSpot owner with email {contract.sales_assistant_email!r}")
        return cls(pipelines, order_ids, wakeup, owners, assistant, contract)

    def pipeline(self, pipeline_id: str) -> Pipeline | None:
        return next((p for p in self.deal_pipelines if p.id == pipeline_id), None)

    def stage(self, pipeline_id: str, stage_id: str) -> Stage | None:
        pipeline = self.pipeline(pipeline_id)
        return pipeline.stage(stage_id) if pipeline else None

    def is_order(self, pipeline_id: str | None, stage_id: str | None) -> bool:
        """A closed-won deal in an order pipeline is an order."""
        if pipeline_id not in self.order_pipeline_ids or stage_id is None:
            return False
        stage = self.stage(pipeline_id, stage_id)
        return stage is not None and stage.is_won

    def order_won_stage_ids(self) -> list[str]:
        return [s.id for p in self.deal_pipelines if p.id in self.order_pipeline_ids for s in p.stages if s.is_won]

    def wakeup_stage(self, label: str) -> Stage:
        return self.wakeup_pipeline.stage_by_label(label)

    def owner(self, owner_id: str | None) -> Owner | None:
        return next((o for o in self.owners if o.id == owner_id), None)


def _find_pipeline(pipelines: tuple[Pipeline, ...], name: str) -> Pipeline:
    for pipeline in pipelines:
        if pipeline.label == name or pipeline.id == name:
            return pipeline
    raise PortalSchemaError(f"no deal pipeline labelled or identified {name!r}")
