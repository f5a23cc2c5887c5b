"""The portal's schema as the API reads and extends it: property definitions and groups per object type,
pipelines with their stages, and owners.

It starts from `sandbox.schema` (the HubSpot defaults plus what Flywheel's provisioning creates; an unprovisioned
portal lacks the latter) and grows through the properties and pipelines API. It also answers the one question
the rest of the store asks of it: a property's type ("kind"), which decides how its values validate and compare.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from sandbox import schema
from sandbox.clock import PortalClock
from sandbox.errors import PortalError, bad_request

SYSTEM_PROPERTIES = ("hs_object_id", "createdate", "hs_lastmodifieddate")

Definitions = dict[str, dict[str, Any]]


class SchemaRegistry:
    """Properties, property groups, pipelines and owners of one portal. Called under the store lock."""

    def __init__(self, clock: PortalClock, *, provisioned: bool) -> None:
        self._clock = clock
        # False: the portal lacks what Flywheel's provisioning creates (its property groups with their
        # properties, the Wake Up pipeline), as a portal does before `python -m infra.portal` ran on it
        self._provisioned = provisioned
        # new pipelines and stages keep their numbering across a reset, as HubSpot never reuses an id
        self._next_pipeline_id = 14_523_801
        self._next_stage_id = 40_119_101
        self.reset()

    def reset(self) -> None:
        """Back to the initial schema."""
        self._properties: dict[str, Definitions] = {
            name: {prop["name"]: copy.deepcopy(prop) for prop in schema.PROPERTIES.get(name, [])}
            for name in schema.OBJECT_TYPES
        }
        for name, props in self._properties.items():
            for system_name in SYSTEM_PROPERTIES:
                props.setdefault(system_name, _system_property(system_name))
            if name == "contacts":
                props.setdefault("lastmodifieddate", _system_property("lastmodifieddate"))
        self._groups: dict[str, list[dict[str, Any]]] = {
            name: copy.deepcopy(groups) for name, groups in schema.PROPERTY_GROUPS.items()
        }
        self._pipelines: dict[str, list[dict[str, Any]]] = copy.deepcopy(schema.PIPELINES)
        if not self._provisioned:
            self._remove_flywheel_schema()
        self._owners = [{"type": "PERSON", **owner} for owner in schema.OWNERS]

    # ------------------------------------------------------------------ what the other modules ask

    def definitions(self, object_type: str) -> Definitions:
        """The live property definitions of a type, by name (not a copy: read, do not change)."""
        return self._properties[object_type]

    def kind_function(self, object_type: str) -> Callable[[str], str]:
        """A property name's type for search: "number", "datetime", "string"...; "id" for an association."""
        definitions = self._properties[object_type]

        def kind_of(name: str) -> str:
            if name.startswith("associations."):
                return "id"
            if name == "hs_object_id":
                return "number"
            return str(definitions.get(name, {}).get("type", "string"))

        return kind_of

    # ------------------------------------------------------------------ properties and groups

    def property_definitions(self, object_type: str) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self._properties[object_type].values()))

    def property_definition(self, object_type: str, name: str) -> dict[str, Any]:
        found = self._properties[object_type].get(name)
        if found is None:
            raise PortalError(404, "OBJECT_NOT_FOUND", f"Property {name} does not exist")
        return copy.deepcopy(found)

    def create_property(self, object_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        required = ("name", "label", "type", "fieldType", "groupName")
        missing = [key for key in required if not definition.get(key)]
        if missing:
            raise bad_request(f"Property definition is missing {', '.join(missing)}")
        name = str(definition["name"])
        if name in self._properties[object_type]:
            raise PortalError(409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists.")
        if not any(group["name"] == definition["groupName"] for group in self._groups.get(object_type, [])):
            raise bad_request(f"Property group {definition['groupName']} does not exist.")
        now = self._clock.iso_now()
        created: dict[str, Any] = {
            "description": "",
            "options": [],
            "displayOrder": -1,
            "hasUniqueValue": False,
            "hidden": False,
            "formField": False,
            "calculated": False,
            "externalOptions": False,
            "hubspotDefined": False,
            **copy.deepcopy(dict(definition)),
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
            "modificationMetadata": {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False},
        }
        created["options"] = [
            {"hidden": False, "displayOrder": index, **option} for index, option in enumerate(created["options"])
        ]
        self._properties[object_type][name] = created
        return copy.deepcopy(created)

    def property_groups(self, object_type: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self._groups.get(object_type, []))

    def create_property_group(self, object_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        if not definition.get("name") or not definition.get("label"):
            raise bad_request("A property group needs a name and a label.")
        groups = self._groups.setdefault(object_type, [])
        if any(group["name"] == definition["name"] for group in groups):
            raise PortalError(409, "OBJECT_ALREADY_EXISTS", f"Group {definition['name']} already exists.")
        created = {
            "name": str(definition["name"]),
            "label": str(definition["label"]),
            "displayOrder": int(definition.get("displayOrder", -1)),
            "archived": False,
        }
        groups.append(created)
        return dict(created)

    # ------------------------------------------------------------------ pipelines and owners

    def pipelines(self, object_type: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self._pipelines.get(object_type, []))

    def pipeline(self, object_type: str, pipeline_id: str) -> dict[str, Any]:
        for pipeline in self._pipelines.get(object_type, []):
            if pipeline["id"] == pipeline_id:
                return copy.deepcopy(pipeline)
        raise PortalError(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pipeline_id}")

    def create_pipeline(self, object_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        """A new pipeline with its stages, numbered as HubSpot numbers custom pipelines and stages."""
        label = str(definition.get("label") or "").strip()
        stages = definition.get("stages")
        if not label or not isinstance(stages, list) or not stages:
            raise bad_request("A pipeline needs a label and at least one stage.")
        for stage in stages:
            metadata = stage.get("metadata") if isinstance(stage, Mapping) else None
            if not isinstance(stage, Mapping) or not stage.get("label") or not isinstance(metadata, Mapping):
                raise bad_request("Every stage needs a label and metadata.")
            if object_type == "deals" and "probability" not in metadata:
                raise bad_request(f"Deal stage {stage['label']} needs a probability in its metadata.")
        pipelines = self._pipelines.setdefault(object_type, [])
        if any(pipeline["label"] == label for pipeline in pipelines):
            raise PortalError(409, "OBJECT_ALREADY_EXISTS", f"A pipeline labelled {label} already exists.")
        now = self._clock.iso_now()
        created_stages = []
        for order, stage in enumerate(stages):
            created_stages.append(
                {
                    "id": str(self._next_stage_id),
                    "label": str(stage["label"]),
                    "displayOrder": int(stage.get("displayOrder", order)),
                    "metadata": {str(key): str(value) for key, value in stage["metadata"].items()},
                    "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                    "createdAt": now,
                    "updatedAt": now,
                    "archived": False,
                }
            )
            self._next_stage_id += 1
        created = {
            "id": str(self._next_pipeline_id),
            "label": label,
            "displayOrder": int(definition.get("displayOrder", len(pipelines))),
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
            "stages": created_stages,
        }
        self._next_pipeline_id += 1
        pipelines.append(created)
        return copy.deepcopy(created)

    def owners(self, *, email: str | None = None, archived: bool = False) -> list[dict[str, Any]]:
        found = [owner for owner in self._owners if bool(owner.get("archived")) == archived]
        if email:
            found = [owner for owner in found if str(owner.get("email", "")).lower() == email.lower()]
        return copy.deepcopy(found)

    def _remove_flywheel_schema(self) -> None:
        for object_type, group_names in schema.FLYWHEEL_PROPERTY_GROUPS.items():
            self._groups[object_type] = [g for g in self._groups[object_type] if g["name"] not in group_names]
            self._properties[object_type] = {
                name: definition
                for name, definition in self._properties[object_type].items()
                if definition.get("groupName") not in group_names
            }
        for object_type, pipeline_ids in schema.FLYWHEEL_PIPELINE_IDS.items():
            self._pipelines[object_type] = [p for p in self._pipelines[object_type] if p["id"] not in pipeline_ids]


def _system_property(name: str) -> dict[str, Any]:
    kind = "number" if name == "hs_object_id" else "datetime"
    return {
        "name": name,
        "label": name,
        "type": kind,
        "fieldType": "number" if kind == "number" else "date",
        "groupName": "system",
        "description": "",
        "options": [],
        "displayOrder": -1,
        "hasUniqueValue": name == "hs_object_id",
        "hidden": True,
        "formField": False,
        "calculated": False,
        "externalOptions": False,
        "hubspotDefined": True,
        "archived": False,
        "modificationMetadata": {"archivable": False, "readOnlyDefinition": True, "readOnlyValue": True},
    }
