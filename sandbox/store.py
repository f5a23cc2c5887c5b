"""The in-memory portal behind the sandbox server: CRM records, associations, schema, outbox and call statistics.

Every public method takes the store lock, so the threaded HTTP server and in-process helpers (tests, the demo)
see one consistent portal. Methods raise `PortalError` with HubSpot's status, category and message; the server
turns it into HubSpot's error JSON.

Speed: records are indexed by id; list pages walk a sorted id list from the cursor; a search evaluates its
filters once per query (narrowed by association / id / equality indexes where a filter group allows) and caches
the ordered result ids, so paging through a result costs only the page.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import gc
import json
import math
import random
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox import associations as assoc
from sandbox import schema
from sandbox.clock import PortalClock, iso_from_datetime
from sandbox.search import NUMERIC_KINDS, InvalidFilter, Normalized, compile_filter, normalize, to_epoch_ms

MAX_BATCH_INPUTS = 100
MAX_LIST_LIMIT = 100
MAX_SEARCH_LIMIT = 200
MAX_SEARCH_RESULTS = 10_000
MAX_FILTER_GROUPS = 5
MAX_FILTERS = 25
RATE_WINDOW_SECONDS = 10.0
SEARCH_CACHE_SIZE = 128
ROME = ZoneInfo("Europe/Rome")  # the generated portal's "today" is the portal's date in Rome

SYSTEM_PROPERTIES = ("hs_object_id", "createdate", "hs_lastmodifieddate")

# The properties HubSpot returns when a read names none (limited to those the portal schema defines).
DEFAULT_READ_PROPERTIES: dict[str, tuple[str, ...]] = {
    "companies": ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"),
    "contacts": ("firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"),
    "deals": (
        "dealname",
        "amount",
        "closedate",
        "pipeline",
        "dealstage",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    ),
}
_GENERIC_READ_PROPERTIES = ("createdate", "hs_lastmodifieddate", "hs_object_id")

# HubSpot adds these to every record it returns, whatever properties were asked for.
_ALWAYS_RETURNED: dict[str, tuple[str, ...]] = {
    "contacts": ("createdate", "hs_object_id", "lastmodifieddate", "hs_lastmodifieddate")
}

# Free-text `query` of a search looks in these (HubSpot's default searchable properties, trimmed).
QUERY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "companies": ("name", "domain", "website", "phone"),
    "contacts": ("firstname", "lastname", "email", "phone", "company"),
    "deals": ("dealname",),
}


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic GC while building many small containers (loading the portal, building an index): none
    of them form cycles, and with a portal of a million objects in the heap each automatic collection would
    rescan it all, several times per build."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class PortalError(Exception):
    """An API error with HubSpot's HTTP status, category and message."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        sub_category: str | None = None,
        context: Mapping[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.sub_category = sub_category
        self.context = dict(context or {})
        self.errors = list(errors or [])

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
        }
        if self.sub_category:
            body["subCategory"] = self.sub_category
        if self.context:
            body["context"] = self.context
        if self.errors:
            body["errors"] = self.errors
        return body


def bad_request(message: str, **kwargs: Any) -> PortalError:
    return PortalError(400, "VALIDATION_ERROR", message, **kwargs)


def iso_from_epoch_ms(epoch_ms: float) -> str:
    return iso_from_datetime(datetime.fromtimestamp(epoch_ms / 1000, tz=UTC))


def batch_envelope(
    started_at: str, completed_at: str, results: list[Any], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    """HubSpot's batch response body (status COMPLETE, numErrors/errors only when something failed)."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started_at,
        "completedAt": completed_at,
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return body


def batch_error(category: str, message: str, context: Mapping[str, list[str]]) -> dict[str, Any]:
    """One entry of a batch response's `errors` (every field the client's StandardError requires)."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": dict(context),
        "links": {},
        "errors": [],
    }


@dataclass
class Record:
    id: str
    properties: dict[str, str]
    archived: bool = False
    archived_at: str | None = None

    @property
    def created_at(self) -> str:
        return self.properties.get("createdate") or self.properties["hs_lastmodifieddate"]

    @property
    def updated_at(self) -> str:
        return self.properties.get("hs_lastmodifieddate") or self.created_at


@dataclass
class _History:
    """What search still shows of a recently written record: the version before the first unsettled write."""

    before: dict[str, str] | None
    writes: list[tuple[float, dict[str, str]]] = field(default_factory=list)


@dataclass
class _Settings:
    rate_limit: int = 190
    search_lag_seconds: float = 0.0
    fault_rate: float = 0.0
    latency_ms: int = 0
    # chaos: a share of calls answered 429 with Retry-After, and a share whose connection is reset (before the
    # portal acts, or after it acted and before the answer left)
    throttle_rate: float = 0.0
    reset_rate: float = 0.0


class _RangeIndex:
    """Ids ordered by a numeric property value (ties by id): range filters by bisection, and sort order."""

    def __init__(self) -> None:
        self.keys: list[tuple[float, int]] = []
        self.ids: list[str] = []
        self.key_of: dict[str, tuple[float, int]] = {}

    @classmethod
    def build(cls, records: Iterable[Record], name: str, kind: str) -> _RangeIndex:
        entries = []
        for record in records:
            raw = record.properties.get(name)
            if raw:
                value = normalize(raw, kind)
                if value is not None:
                    entries.append((value, int(record.id), record.id))
        entries.sort()
        index = cls()
        index.keys = [(value, number) for value, number, _object_id in entries]  # type: ignore[misc]
        index.ids = [object_id for _value, _number, object_id in entries]
        index.key_of = dict(zip(index.ids, index.keys, strict=True))
        return index

    def put(self, object_id: str, value: Normalized | None) -> None:
        old = self.key_of.pop(object_id, None)
        if old is not None:
            position = bisect.bisect_left(self.keys, old)
            del self.keys[position]
            del self.ids[position]
        if isinstance(value, float):
            key = (value, int(object_id))
            position = bisect.bisect_left(self.keys, key)
            self.keys.insert(position, key)
            self.ids.insert(position, object_id)
            self.key_of[object_id] = key

    def slice_bounds(self, low: float, low_inclusive: bool, high: float, high_inclusive: bool) -> tuple[int, int]:
        start = (
            bisect.bisect_left(self.keys, (low, -1))
            if low_inclusive
            else bisect.bisect_right(self.keys, (low, math.inf))  # type: ignore[arg-type]
        )
        end = (
            bisect.bisect_right(self.keys, (high, math.inf))  # type: ignore[arg-type]
            if high_inclusive
            else bisect.bisect_left(self.keys, (high, -1))
        )
        return start, end

    def between(self, low: float, low_inclusive: bool, high: float, high_inclusive: bool) -> set[str]:
        start, end = self.slice_bounds(low, low_inclusive, high, high_inclusive)
        return set(self.ids[start:end]) if start < end else set()


class PortalStore:
    """One sandbox portal: the generated content plus everything written through the API since the last reset."""

    def __init__(
        self,
        *,
        companies: int = 0,
        seed: int = 1,
        today: date | None = None,
        rate_limit: int = 190,
        search_lag_seconds: float = 0.0,
        fault_rate: float = 0.0,
        latency_ms: int = 0,
        provisioned: bool = True,
        clock: PortalClock | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.clock = clock or PortalClock()
        # False: the portal lacks what Flywheel's provisioning creates (its property groups with their
        # properties, the Wake Up pipeline), as a portal does before `python -m infra.portal` ran on it
        self._provisioned = provisioned
        self._next_pipeline_id = 14_523_801
        self._next_stage_id = 40_119_101
        self._settings = _Settings(rate_limit, search_lag_seconds, fault_rate, latency_ms)
        self._random = random.Random(seed)
        self._initial_objects: dict[str, list[dict[str, Any]]] = {}
        self._initial_associations: list[tuple[str, str, str, str]] = []
        # The generator's output (with its buyer profiles), for the demo's simulated activity; None when empty.
        self.generated: Any = None
        if companies > 0:
            from sandbox.generator import generate_portal

            with _collector_paused():
                portal = generate_portal(companies, seed, today or self.clock.now().astimezone(ROME).date())
            self.generated = portal
            self._initial_objects = portal.objects
            self._initial_associations = list(portal.associations)
        self.reset()

    # ------------------------------------------------------------------ lifecycle and sandbox-only helpers

    def reset(self) -> None:
        """Back to the initially generated portal: records, associations, schema, outbox, statistics."""
        with self._lock:
            self._records: dict[str, dict[str, Record]] = {name: {} for name in assoc.OBJECT_TYPES}
            self._sorted_ids: dict[str, list[int]] = {name: [] for name in assoc.OBJECT_TYPES}
            self._sorted_dirty: set[str] = set()
            # (from type, to type) -> from id -> to id -> type ids
            self._links: dict[tuple[str, str], dict[str, dict[str, list[int]]]] = {}
            self._value_indexes: dict[tuple[str, str], dict[Normalized, set[str]]] = {}
            self._range_indexes: dict[tuple[str, str], _RangeIndex] = {}
            self._archived_count: Counter[str] = Counter()
            self._histories: dict[str, dict[str, _History]] = {name: {} for name in assoc.OBJECT_TYPES}
            self._generations: Counter[str] = Counter()
            self._search_cache: OrderedDict[Any, tuple[int, list[str], int]] = OrderedDict()
            self._properties: dict[str, dict[str, dict[str, Any]]] = {
                name: {prop["name"]: copy.deepcopy(prop) for prop in schema.PROPERTIES.get(name, [])}
                for name in assoc.OBJECT_TYPES
            }
            for name, props in self._properties.items():
                for system_name in SYSTEM_PROPERTIES:
                    props.setdefault(system_name, _system_property(system_name))
                if name == "contacts":
                    props.setdefault("lastmodifieddate", _system_property("lastmodifieddate"))
            self._groups: dict[str, list[dict[str, Any]]] = {
                name: copy.deepcopy(groups) for name, groups in schema.PROPERTY_GROUPS.items()
            }
            self._pipelines = copy.deepcopy(schema.PIPELINES)
            if not self._provisioned:
                self._remove_flywheel_schema()
            self._owners = [{"type": "PERSON", **owner} for owner in schema.OWNERS]
            self._outbox: list[dict[str, Any]] = []
            self._send_ids: dict[str, dict[str, Any]] = {}
            self._calls: Counter[str] = Counter()
            self._rate_limited = 0
            self._faults: Counter[str] = Counter()
            self._recent_calls: deque[float] = deque()
            self._next_id = 1
            self._load_initial()

    def configure(
        self,
        *,
        rate_limit: int | None = None,
        search_lag_seconds: float | None = None,
        fault_rate: float | None = None,
        latency_ms: int | None = None,
        throttle_rate: float | None = None,
        reset_rate: float | None = None,
    ) -> dict[str, Any]:
        """Change the portal's limits and fault injection; returns the settings now in force."""
        with self._lock:
            for name, rate in (("throttle_rate", throttle_rate), ("reset_rate", reset_rate)):
                if rate is not None:
                    if not 0.0 <= float(rate) <= 1.0:
                        raise bad_request(f"{name} must be between 0 and 1.")
                    setattr(self._settings, name, float(rate))
            if rate_limit is not None:
                self._settings.rate_limit = int(rate_limit)
                self._recent_calls.clear()
            if search_lag_seconds is not None:
                self._settings.search_lag_seconds = float(search_lag_seconds)
                self._search_cache.clear()
            if fault_rate is not None:
                if not 0.0 <= float(fault_rate) <= 1.0:
                    raise bad_request("fault_rate must be between 0 and 1.")
                self._settings.fault_rate = float(fault_rate)
            if latency_ms is not None:
                self._settings.latency_ms = int(latency_ms)
            return self.settings()

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rate_limit": self._settings.rate_limit,
                "search_lag_seconds": self._settings.search_lag_seconds,
                "fault_rate": self._settings.fault_rate,
                "latency_ms": self._settings.latency_ms,
                "throttle_rate": self._settings.throttle_rate,
                "reset_rate": self._settings.reset_rate,
            }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": {"total": sum(self._calls.values()), "by_endpoint": dict(self._calls)},
                "rate_limited": self._rate_limited,
                "faults_injected": dict(self._faults),
            }

    def outbox(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._outbox)

    def counts(self) -> dict[str, int]:
        """Live (not archived) records per object type."""
        with self._lock:
            return {
                name: sum(1 for record in records.values() if not record.archived)
                for name, records in self._records.items()
            }

    def all_records(self, object_type: str) -> list[Record]:
        """Copies of every live record of a type, for checks that must not go through the API's limits."""
        with self._lock:
            return [copy.deepcopy(r) for r in self._records[object_type].values() if not r.archived]

    # ------------------------------------------------------------------ call accounting (used by the server)

    def count_call(self, endpoint: str) -> None:
        """Count an API call that is answered before the limits apply (401)."""
        with self._lock:
            self._calls[endpoint] += 1

    def admit_call(self, endpoint: str) -> tuple[float | None, float, int | str | None]:
        """Count one API call and apply the limits: (retry-after seconds if rate limited, latency s, fault), the
        fault an HTTP status (502, 503 before acting, 504 after) or "reset_before" / "reset_after".

        A call refused by the rate limit does not use up the window, so a client that waits Retry-After gets in.
        """
        with self._lock:
            self._calls[endpoint] += 1
            limit = self._settings.rate_limit
            if limit > 0:
                now = time.monotonic()
                window = self._recent_calls
                while window and now - window[0] >= RATE_WINDOW_SECONDS:
                    window.popleft()
                if len(window) >= limit:
                    self._rate_limited += 1
                    return max(1.0, math.ceil(RATE_WINDOW_SECONDS - (now - window[0]))), 0.0, None
                window.append(now)
            if self._settings.throttle_rate > 0 and self._random.random() < self._settings.throttle_rate:
                self._rate_limited += 1
                self._faults["429"] += 1
                return 1.0, 0.0, None
            fault: int | str | None = None
            if self._settings.fault_rate > 0 and self._random.random() < self._settings.fault_rate:
                fault = self._random.choice((502, 503, 504))
            elif self._settings.reset_rate > 0 and self._random.random() < self._settings.reset_rate:
                fault = self._random.choice(("reset_before", "reset_after"))
            if fault is not None:
                self._faults[str(fault)] += 1
            return None, self._settings.latency_ms / 1000.0, fault

    # ------------------------------------------------------------------ schema

    def object_type(self, name: str) -> str:
        normalized = assoc.normalize_object_type(name)
        if normalized is None:
            raise bad_request(f"Unable to infer object type from: {name}")
        return normalized

    def property_definitions(self, object_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._properties[object_type].values()))

    def property_definition(self, object_type: str, name: str) -> dict[str, Any]:
        with self._lock:
            found = self._properties[object_type].get(name)
            if found is None:
                raise PortalError(404, "OBJECT_NOT_FOUND", f"Property {name} does not exist")
            return copy.deepcopy(found)

    def create_property(self, object_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        required = ("name", "label", "type", "fieldType", "groupName")
        missing = [key for key in required if not definition.get(key)]
        if missing:
            raise bad_request(f"Property definition is missing {', '.join(missing)}")
        with self._lock:
            name = str(definition["name"])
            if name in self._properties[object_type]:
                raise PortalError(409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists.")
            if not any(group["name"] == definition["groupName"] for group in self._groups.get(object_type, [])):
                raise bad_request(f"Property group {definition['groupName']} does not exist.")
            now = self.clock.iso_now()
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
        with self._lock:
            return copy.deepcopy(self._groups.get(object_type, []))

    def create_property_group(self, object_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        if not definition.get("name") or not definition.get("label"):
            raise bad_request("A property group needs a name and a label.")
        with self._lock:
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

    def pipelines(self, object_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._pipelines.get(object_type, []))

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
        with self._lock:
            pipelines = self._pipelines.setdefault(object_type, [])
            if any(pipeline["label"] == label for pipeline in pipelines):
                raise PortalError(409, "OBJECT_ALREADY_EXISTS", f"A pipeline labelled {label} already exists.")
            now = self.clock.iso_now()
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

    def pipeline(self, object_type: str, pipeline_id: str) -> dict[str, Any]:
        for pipeline in self.pipelines(object_type):
            if pipeline["id"] == pipeline_id:
                return pipeline
        raise PortalError(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pipeline_id}")

    def owners(self, *, email: str | None = None, archived: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            found = [owner for owner in self._owners if bool(owner.get("archived")) == archived]
            if email:
                found = [owner for owner in found if str(owner.get("email", "")).lower() == email.lower()]
            return copy.deepcopy(found)

    # ------------------------------------------------------------------ records: in-process helpers

    def create_object(
        self,
        object_type: str,
        properties: Mapping[str, Any],
        associations: Iterable[tuple[str, str]] = (),
    ) -> str:
        """Create a record exactly as POST /crm/v3/objects/{type} does; returns its id."""
        object_type = self.object_type(object_type)
        specs = []
        for to_type, to_id in associations:
            type_id = assoc.default_type_id(object_type, self.object_type(to_type))
            specs.append(
                {
                    "to": {"id": str(to_id)},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                }
            )
        return self.create(object_type, properties, specs).id

    def update_object(self, object_type: str, object_id: str, properties: Mapping[str, Any]) -> None:
        """Update a record exactly as PATCH /crm/v3/objects/{type}/{id} does."""
        self.update(self.object_type(object_type), str(object_id), properties)

    def archive_object(self, object_type: str, object_id: str) -> None:
        """Archive a record exactly as DELETE /crm/v3/objects/{type}/{id} does."""
        self.archive(self.object_type(object_type), str(object_id))

    def get_properties(self, object_type: str, object_id: str) -> dict[str, str]:
        """The current properties of a record (archived ones included), for tests and the demo."""
        with self._lock:
            return dict(self._require(self.object_type(object_type), str(object_id), archived=None).properties)

    def associated_ids(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        """Ids of the live records of `to_type` associated with one record, for tests and the demo."""
        with self._lock:
            return list(self._live_links(self.object_type(from_type), str(from_id), self.object_type(to_type)))

    # ------------------------------------------------------------------ records: API operations

    def create(
        self, object_type: str, properties: Mapping[str, Any], associations: Sequence[Mapping[str, Any]] = ()
    ) -> Record:
        with self._lock:
            values = self._validated(object_type, properties, creating=True)
            links = self._validated_create_associations(object_type, associations)
            record = self._insert(object_type, values)
            for to_type, to_id, type_id in links:
                self._link(object_type, record.id, to_type, to_id, type_id)
            return record

    def create_many(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> list[Record]:
        """Batch create: every input is validated before any record is written (a bad input fails the batch)."""
        with self._lock:
            prepared = []
            for item in inputs:
                values = self._validated(object_type, _properties_of(item), creating=True)
                links = self._validated_create_associations(object_type, item.get("associations") or [])
                prepared.append((values, links))
            created = []
            for values, links in prepared:
                record = self._insert(object_type, values)
                for to_type, to_id, type_id in links:
                    self._link(object_type, record.id, to_type, to_id, type_id)
                created.append(record)
            return created

    def update(
        self, object_type: str, object_id: str, properties: Mapping[str, Any], id_property: str | None = None
    ) -> Record:
        with self._lock:
            record = self._find(object_type, object_id, id_property)
            if record is None:
                raise PortalError(404, "OBJECT_NOT_FOUND", f"resource not found: {object_type} {object_id}")
            values = self._validated(object_type, properties, creating=False)
            return self._write(object_type, record, values)

    def update_many(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> tuple[list[Record], list[str]]:
        """Batch update: (updated records, ids not found). Invalid values fail the whole batch."""
        with self._lock:
            prepared = []
            missing = []
            for item in inputs:
                object_id = str(item.get("id", ""))
                record = self._find(object_type, object_id, item.get("idProperty"))
                values = self._validated(object_type, _properties_of(item), creating=False)
                if record is None:
                    missing.append(object_id)
                else:
                    prepared.append((record, values))
            return [self._write(object_type, record, values) for record, values in prepared], missing

    def upsert_many(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> list[tuple[Record, bool]]:
        """Batch upsert by a unique property (or by id): (record, created?) per input."""
        with self._lock:
            prepared = []
            for item in inputs:
                object_id = str(item.get("id", ""))
                id_property = item.get("idProperty") or "hs_object_id"
                if id_property != "hs_object_id" and not self._properties[object_type].get(id_property, {}).get(
                    "hasUniqueValue"
                ):
                    raise bad_request(f"{id_property} is not a unique property of {object_type}.")
                record = self._find(object_type, object_id, id_property)
                values = self._validated(object_type, _properties_of(item), creating=record is None)
                if record is None and id_property == "hs_object_id":
                    raise bad_request(f"Upsert by hs_object_id needs an existing record: {object_id}")
                if record is None:
                    values[id_property] = object_id
                prepared.append((record, values))
            results = []
            for record, values in prepared:
                if record is None:
                    results.append((self._insert(object_type, values), True))
                else:
                    results.append((self._write(object_type, record, values), False))
            return results

    def archive(self, object_type: str, object_id: str) -> None:
        with self._lock:
            record = self._records[object_type].get(object_id)
            if record is None:
                raise PortalError(404, "OBJECT_NOT_FOUND", f"resource not found: {object_type} {object_id}")
            self._archive(object_type, record)

    def archive_many(self, object_type: str, ids: Iterable[str]) -> None:
        with self._lock:
            for object_id in ids:
                record = self._records[object_type].get(object_id)
                if record is not None:
                    self._archive(object_type, record)

    def get(
        self, object_type: str, object_id: str, *, archived: bool = False, id_property: str | None = None
    ) -> Record:
        with self._lock:
            record = self._find(object_type, object_id, id_property, archived=archived)
            if record is None:
                raise PortalError(404, "OBJECT_NOT_FOUND", f"resource not found: {object_type} {object_id}")
            return record

    def read_many(
        self, object_type: str, ids: Iterable[str], id_property: str | None = None, archived: bool = False
    ) -> tuple[list[Record], list[str]]:
        with self._lock:
            found, missing = [], []
            for object_id in ids:
                record = self._find(object_type, object_id, id_property, archived=archived)
                if record is None:
                    missing.append(object_id)
                else:
                    found.append(record)
            return found, missing

    def list_page(
        self, object_type: str, *, limit: int, after: str | None, archived: bool
    ) -> tuple[list[Record], str | None]:
        """One page of records in id order starting at the cursor `after` (the id of the first record to show)."""
        with self._lock:
            ids = self._ordered_ids(object_type)
            start = 0
            if after:
                try:
                    start = bisect.bisect_left(ids, int(after))
                except ValueError as error:
                    raise bad_request(f"Invalid after cursor: {after}") from error
            records = self._records[object_type]
            page: list[Record] = []
            position = start
            while position < len(ids) and len(page) < limit:
                record = records[str(ids[position])]
                if record.archived == archived:
                    page.append(record)
                position += 1
            while position < len(ids) and records[str(ids[position])].archived != archived:
                position += 1
            return page, (str(ids[position]) if position < len(ids) else None)

    def read_view(
        self,
        object_type: str,
        record: Record,
        requested: Sequence[str] | None,
        properties: Mapping[str, str] | None = None,
        *,
        every: bool = False,
    ) -> dict[str, Any]:
        """A record as HubSpot returns it: the requested (or default, or with `every` all its) properties plus
        the system ones HubSpot always adds, timestamps, archived."""
        with self._lock:
            values = record.properties if properties is None else properties
            definitions = self._properties[object_type]
            if every:
                names: list[str] = list(values)
            elif requested:
                names = [name for name in requested if name in definitions]
            else:
                names = [
                    name
                    for name in DEFAULT_READ_PROPERTIES.get(object_type, _GENERIC_READ_PROPERTIES)
                    if name in definitions
                ]
            shown = {name: values.get(name) for name in names}
            for name in _ALWAYS_RETURNED.get(object_type, SYSTEM_PROPERTIES):
                if name in values:
                    shown.setdefault(name, values[name])
            view: dict[str, Any] = {
                "id": record.id,
                "properties": shown,
                "createdAt": values.get("createdate") or record.created_at,
                "updatedAt": values.get("hs_lastmodifieddate") or record.updated_at,
                "archived": record.archived,
            }
            if record.archived:
                view["archivedAt"] = record.archived_at
            return view

    def v3_associations(self, object_type: str, object_id: str, to_types: Sequence[str]) -> dict[str, Any]:
        """The `associations` member of a v3 read: {to type: {"results": [{"id", "type"}]}} (non-empty only)."""
        with self._lock:
            found: dict[str, Any] = {}
            for requested in to_types:
                to_type = assoc.normalize_object_type(requested)
                if to_type is None:
                    continue
                results = [
                    {"id": to_id, "type": assoc.v3_type_name(object_type, to_type, type_id)}
                    for to_id, type_ids in self._live_links(object_type, object_id, to_type).items()
                    for type_id in type_ids
                ]
                if results:
                    found[requested] = {"results": results}
            return found

    # ------------------------------------------------------------------ search

    def search(self, object_type: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """The body of POST /crm/v3/objects/{type}/search."""
        limit = _int_field(request, "limit", 10)
        if not 0 <= limit <= MAX_SEARCH_LIMIT:
            raise bad_request(f"limit must be between 0 and {MAX_SEARCH_LIMIT}, got {limit}")
        after = _int_field(request, "after", 0)
        if after < 0:
            raise bad_request("after must not be negative")
        if after + limit > MAX_SEARCH_RESULTS:
            raise bad_request(
                f"The search endpoint is limited to {MAX_SEARCH_RESULTS} results: after={after} limit={limit}",
                sub_category="crm.search.SEARCH_RESULT_LIMIT_EXCEEDED",
            )
        groups = request.get("filterGroups") or []
        if not isinstance(groups, list):
            raise bad_request("filterGroups must be a list")
        if len(groups) > MAX_FILTER_GROUPS:
            raise bad_request(f"Too many filter groups ({len(groups)}); the maximum is {MAX_FILTER_GROUPS}.")
        filter_count = sum(len(group.get("filters") or []) for group in groups)
        if filter_count > MAX_FILTERS:
            raise bad_request(f"Too many filters ({filter_count}); the maximum is {MAX_FILTERS}.")
        sorts = _sorts(request.get("sorts") or [])
        query = str(request.get("query") or "").strip().lower()
        requested = _names(request.get("properties"))
        with self._lock:
            ids = self._search_ids(object_type, groups, sorts, query)
            page_ids = ids[after : after + limit]
            records = self._records[object_type]
            lag = self._settings.search_lag_seconds
            now = self.clock.seconds()
            results = []
            for object_id in page_ids:
                record = records[object_id]
                visible = self._visible_properties(object_type, record, lag, now)
                if visible is not None:
                    results.append(self.read_view(object_type, record, requested, visible))
            body: dict[str, Any] = {"total": len(ids), "results": results}
            if after + limit < len(ids):
                body["paging"] = {"next": {"after": str(after + limit), "link": ""}}
            return body

    def _search_ids(self, object_type: str, groups: list[Any], sorts: list[tuple[str, bool]], query: str) -> list[str]:
        lag = self._settings.search_lag_seconds
        now = self.clock.seconds()
        histories = self._settle(object_type, lag, now)
        key = (object_type, json.dumps([groups, sorts, query], sort_keys=True, default=str))
        generation = self._generations[object_type]
        cached = self._search_cache.get(key)
        if cached is not None and cached[0] == generation and cached[2] == 0:
            self._search_cache.move_to_end(key)
            return cached[1]

        compiled_groups = []
        try:
            for group in groups:
                filters = group.get("filters") or []
                compiled_groups.append(
                    [(spec, *compile_filter(spec, self._kind_function(object_type))) for spec in filters]
                )
        except InvalidFilter as error:
            raise bad_request(str(error)) from error

        records = self._records[object_type]
        query_names = QUERY_PROPERTIES.get(object_type, ())

        def matches(object_id: str, visible: Mapping[str, str], group: list[tuple[Any, str, Any]]) -> bool:
            return all(
                self._filter_matches(object_type, object_id, visible, spec, name, test) for spec, name, test in group
            )

        def matches_query(visible: Mapping[str, str]) -> bool:
            return not query or any(query in str(visible.get(name, "")).lower() for name in query_names)

        # Records written within the lag are judged on the version search still shows, one by one; everything
        # else through the indexes: a filter group whose filters are all indexed is the intersection of its sets.
        if len(compiled_groups) == 1 and not histories and not query:
            aligned = self._aligned_scan(object_type, compiled_groups[0], sorts)
            if aligned is not None:
                self._remember_search(key, generation, aligned, 0)
                return aligned
        matched: set[str] = set()
        for group in compiled_groups or [[]]:
            narrowed, residual = self._narrow_by_indexes(object_type, group)
            pool: set[str] = narrowed if narrowed is not None else set(records)
            if residual or query or self._archived_count[object_type]:
                pool = {
                    object_id
                    for object_id in pool
                    if (record := records.get(object_id)) is not None
                    and not record.archived
                    and matches(object_id, record.properties, residual)
                    and matches_query(record.properties)
                }
            matched = matched | pool if matched else pool
        if histories:
            matched -= set(histories)
            for object_id in histories:
                record = records[object_id]
                visible = self._visible_properties(object_type, record, lag, now)
                if (
                    visible is not None
                    and not record.archived
                    and matches_query(visible)
                    and any(matches(object_id, visible, group) for group in compiled_groups or [[]])
                ):
                    matched.add(object_id)
        ordered = self._ordered(object_type, matched, sorts)
        self._remember_search(key, generation, ordered, len(histories))
        return ordered

    def _remember_search(self, key: Any, generation: int, ordered: list[str], unsettled: int) -> None:
        self._search_cache[key] = (generation, ordered, unsettled)
        if len(self._search_cache) > SEARCH_CACHE_SIZE:
            self._search_cache.popitem(last=False)

    def _aligned_scan(
        self, object_type: str, group: list[tuple[Any, str, Any]], sorts: list[tuple[str, bool]]
    ) -> list[str] | None:
        """Fast path for one filter group with a range filter on the sort property (the usual way to page past
        10,000 results: hs_object_id > last id, sorted by hs_object_id; or a date window sorted by that date).
        The slice of the sort index between the bounds is already in order; the other filters only thin it out.
        Returns None when the query does not have that shape."""
        if len(sorts) > 1:
            return None
        name, descending = sorts[0] if sorts else ("hs_object_id", False)
        kind = self._kind_function(object_type)(name)
        if kind not in NUMERIC_KINDS or name not in self._properties[object_type]:
            return None
        index = self._range_index(object_type, name, kind)
        start, end = 0, len(index.ids)
        bounded = False
        others = []
        for spec, filter_name, test in group:
            bounds = _range_bounds(spec, kind) if filter_name == name else None
            if bounds is None:
                others.append((spec, filter_name, test))
                continue
            low, high = index.slice_bounds(*bounds)
            start, end = max(start, low), min(end, high)
            bounded = True
        if not bounded:
            return None
        candidates = index.ids[start:end] if start < end else []
        records = self._records[object_type]
        allowed, residual = self._narrow_by_indexes(object_type, others)
        if allowed is not None:
            if len(allowed) * 8 < len(candidates):  # few matches: order them instead of scanning the slice
                low_key = index.keys[start] if start < end else None
                high_key = index.keys[end - 1] if start < end else None
                candidates = sorted(
                    (
                        object_id
                        for object_id in allowed
                        if (found_key := index.key_of.get(object_id)) is not None
                        and low_key is not None
                        and high_key is not None
                        and low_key <= found_key <= high_key
                    ),
                    key=index.key_of.__getitem__,
                )
            else:
                candidates = [object_id for object_id in candidates if object_id in allowed]
        if residual or self._archived_count[object_type]:
            candidates = [
                object_id
                for object_id in candidates
                if not (record := records[object_id]).archived
                and all(
                    self._filter_matches(object_type, object_id, record.properties, spec, filter_name, test)
                    for spec, filter_name, test in residual
                )
            ]
        if descending:
            candidates.reverse()
        return candidates

    def _kind_function(self, object_type: str) -> Callable[[str], str]:
        definitions = self._properties[object_type]

        def kind_of(name: str) -> str:
            if name.startswith("associations."):
                return "id"
            if name == "hs_object_id":
                return "number"
            return str(definitions.get(name, {}).get("type", "string"))

        return kind_of

    def _filter_matches(
        self,
        object_type: str,
        object_id: str,
        visible: Mapping[str, str],
        spec: Mapping[str, Any],
        name: str,
        test: Callable[[Any], bool],
    ) -> bool:
        if name.startswith("associations."):
            to_type = assoc.normalize_object_type(name.split(".", 1)[1])
            if to_type is None:
                return False
            linked = self._links.get((object_type, to_type), {}).get(object_id, {})
            if spec.get("operator") in ("EQ", "IN"):
                return any(test(to_id) for to_id in linked)
            if spec.get("operator") == "HAS_PROPERTY":
                return bool(linked)
            if spec.get("operator") == "NOT_HAS_PROPERTY":
                return not linked
            return all(test(to_id) for to_id in linked)
        if name == "hs_object_id":
            return test(object_id)
        return test(visible.get(name))

    def _narrow_by_indexes(self, object_type: str, filters: Sequence[Any]) -> tuple[set[str] | None, list[Any]]:
        """The ids every index-served filter allows (None when no filter has an index), smallest set first, and
        the filters left to test record by record."""
        indexed: list[set[str]] = []
        residual = []
        for spec, name, test in filters:
            found = self._indexed(object_type, spec, name)
            if found is None:
                residual.append((spec, name, test))
            else:
                indexed.append(found)
        if not indexed:
            return None, residual
        indexed.sort(key=len)
        return (indexed[0] if len(indexed) == 1 else indexed[0].intersection(*indexed[1:])), residual

    def _indexed(self, object_type: str, spec: Mapping[str, Any], name: str) -> set[str] | None:
        """The exact set of ids (archived ones included) a filter matches, when an index can tell; else None."""
        operator = spec.get("operator")
        kind = self._kind_function(object_type)(name)
        if name.startswith("associations."):
            if operator not in ("EQ", "IN"):
                return None
            to_type = assoc.normalize_object_type(name.split(".", 1)[1])
            if to_type is None:
                return set()
            raw_values = [spec.get("value")] if operator == "EQ" else list(spec.get("values") or [])
            reverse = self._links.get((to_type, object_type), {})
            return {linked for value in raw_values for linked in reverse.get(str(value), {})}
        if name not in self._properties[object_type]:
            return set() if operator in ("EQ", "IN", "LT", "LTE", "GT", "GTE", "BETWEEN", "HAS_PROPERTY") else None
        if operator in ("EQ", "IN"):
            raw_values = [spec.get("value")] if operator == "EQ" else list(spec.get("values") or [])
            index = self._value_index(object_type, name, kind)
            found: set[str] = set()
            for value in raw_values:
                normalized = normalize(value, kind)
                if normalized is not None:
                    found |= index.get(normalized, set())
            return found
        bounds = _range_bounds(spec, kind)
        if bounds is not None:
            return self._range_index(object_type, name, kind).between(*bounds)
        return None

    def _value_index(self, object_type: str, name: str, kind: str) -> dict[Normalized, set[str]]:
        index = self._value_indexes.get((object_type, name))
        if index is None:
            index = {}
            with _collector_paused():
                for record in self._records[object_type].values():
                    value = normalize(record.properties.get(name), kind)
                    if value is not None:
                        index.setdefault(value, set()).add(record.id)
            self._value_indexes[(object_type, name)] = index
        return index

    def _range_index(self, object_type: str, name: str, kind: str) -> _RangeIndex:
        index = self._range_indexes.get((object_type, name))
        if index is None:
            with _collector_paused():
                index = _RangeIndex.build(self._records[object_type].values(), name, kind)
            self._range_indexes[(object_type, name)] = index
        return index

    def _ordered(self, object_type: str, matched: set[str], sorts: list[tuple[str, bool]]) -> list[str]:
        """Matched ids in the requested order (by id when none); records without the sort value go last."""
        kind_of = self._kind_function(object_type)
        if len(sorts) <= 1:
            name, descending = sorts[0] if sorts else ("hs_object_id", False)
            kind = kind_of(name)
            if kind in NUMERIC_KINDS and name in self._properties[object_type]:
                in_order = [
                    object_id for object_id in self._range_index(object_type, name, kind).ids if object_id in matched
                ]
                if descending:
                    in_order.reverse()
                if len(in_order) < len(matched):
                    in_order.extend(sorted(matched.difference(in_order), key=int))
                return in_order
        records = self._records[object_type]
        ordered = sorted(matched, key=int)
        for name, descending in reversed(sorts):
            kind = kind_of(name)
            valued = []
            unvalued = []
            for object_id in ordered:
                value = normalize(records[object_id].properties.get(name), kind)
                if value is None:
                    unvalued.append(object_id)
                else:
                    valued.append((value, object_id))
            valued.sort(key=lambda pair: pair[0], reverse=descending)  # type: ignore[arg-type,return-value]
            ordered = [object_id for _value, object_id in valued] + unvalued
        return ordered

    # ------------------------------------------------------------------ eventual consistency of search

    def _settle(self, object_type: str, lag: float, now: float) -> dict[str, _History]:
        """Forget histories whose writes are all older than the lag; returns the ones still unsettled."""
        histories = self._histories[object_type]
        if not histories:
            return histories
        for object_id in [i for i, history in histories.items() if now - history.writes[-1][0] >= lag]:
            del histories[object_id]
        return histories

    def _visible_properties(self, object_type: str, record: Record, lag: float, now: float) -> Mapping[str, str] | None:
        """The version of a record search shows now: the newest write older than the lag (None: not yet indexed)."""
        history = self._histories[object_type].get(record.id)
        if history is None:
            return record.properties
        visible = history.before
        for written_at, snapshot in history.writes:
            if now - written_at >= lag:
                visible = snapshot
            else:
                break
        return visible

    def _remember(self, object_type: str, record: Record, before: dict[str, str] | None) -> None:
        if self._settings.search_lag_seconds <= 0:
            return
        history = self._histories[object_type].get(record.id)
        if history is None:
            history = self._histories[object_type][record.id] = _History(before=before)
        history.writes.append((self.clock.seconds(), dict(record.properties)))

    # ------------------------------------------------------------------ associations (v4)

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None = None) -> int:
        """Associate two records (both must exist); returns the type id used (the pair's default if None)."""
        with self._lock:
            self._require(from_type, from_id)
            self._require(to_type, to_id)
            if type_id is None:
                type_id = self._default_type(from_type, to_type)
            elif (target := assoc.target_of(from_type, type_id)) is not None and target[0] != to_type:
                raise bad_request(f"Association type {type_id} does not connect {from_type} to {to_type}.")
            self._link(from_type, from_id, to_type, to_id, type_id)
            return type_id

    def unlink(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        with self._lock:
            for a_type, b_type, a_id, b_id in (
                (from_type, to_type, from_id, to_id),
                (to_type, from_type, to_id, from_id),
            ):
                self._links.get((a_type, b_type), {}).get(a_id, {}).pop(b_id, None)
            self._generations[from_type] += 1
            self._generations[to_type] += 1

    def links_of(self, from_type: str, from_id: str, to_type: str) -> dict[str, list[int]]:
        """Live associations of one record to a type: to id -> type ids."""
        with self._lock:
            return {to_id: list(type_ids) for to_id, type_ids in self._live_links(from_type, from_id, to_type).items()}

    def exists(self, object_type: str, object_id: str) -> bool:
        with self._lock:
            record = self._records[object_type].get(object_id)
            return record is not None and not record.archived

    def _default_type(self, from_type: str, to_type: str) -> int:
        type_id = assoc.default_type_id(from_type, to_type)
        if type_id is None:
            raise bad_request(f"There is no default association between {from_type} and {to_type}.")
        return type_id

    def _link(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
        inverse = assoc.inverse_type_id(from_type, to_type, type_id)
        for a_type, a_id, b_type, b_id, a_type_id in (
            (from_type, from_id, to_type, to_id, type_id),
            (to_type, to_id, from_type, from_id, inverse),
        ):
            type_ids = self._links.setdefault((a_type, b_type), {}).setdefault(a_id, {}).setdefault(b_id, [])
            if a_type_id not in type_ids:
                type_ids.append(a_type_id)
        self._generations[from_type] += 1
        self._generations[to_type] += 1

    def _live_links(self, from_type: str, from_id: str, to_type: str) -> dict[str, list[int]]:
        targets = self._records[to_type]
        return {
            to_id: type_ids
            for to_id, type_ids in self._links.get((from_type, to_type), {}).get(from_id, {}).items()
            if to_id in targets and not targets[to_id].archived
        }

    def _validated_create_associations(
        self, object_type: str, specs: Sequence[Mapping[str, Any]]
    ) -> list[tuple[str, str, int]]:
        links = []
        for spec in specs:
            to_id = str((spec.get("to") or {}).get("id", ""))
            types = spec.get("types") or []
            if not to_id or not types:
                raise bad_request("Every association needs to.id and types.")
            for association_type in types:
                type_id = association_type.get("associationTypeId")
                target = assoc.target_of(object_type, int(type_id)) if isinstance(type_id, int) else None
                if target is None:
                    raise bad_request(f"{type_id} is not a valid association type id for {object_type}.")
                to_type = target[0]
                if not self.exists(to_type, to_id):
                    raise bad_request(
                        f"One or more associations are invalid: {to_type} {to_id} does not exist",
                        sub_category="crm.associations.INVALID_ASSOCIATION",
                    )
                links.append((to_type, to_id, int(type_id)))
        return links

    # ------------------------------------------------------------------ single send

    def single_send(self, body: Mapping[str, Any]) -> dict[str, Any]:
        message = body.get("message")
        if not body.get("emailId") or not isinstance(message, Mapping) or not message.get("to"):
            raise bad_request("A single send needs emailId and message.to.")
        now = self.clock.iso_now()
        with self._lock:
            send_id = message.get("sendId")
            if send_id and send_id in self._send_ids:
                return {**self._send_ids[send_id], "sendResult": "IDEMPOTENT_IGNORE", "requestedAt": now}
            status = {
                "statusId": str(uuid.uuid4()),
                "status": "COMPLETE",
                "sendResult": "SENT",
                "requestedAt": now,
                "startedAt": now,
                "completedAt": now,
                "eventId": {"id": str(uuid.uuid4()), "created": now},
            }
            self._outbox.append(
                {
                    "statusId": status["statusId"],
                    "sentAt": now,
                    "emailId": body.get("emailId"),
                    "message": copy.deepcopy(dict(message)),
                    "contactProperties": copy.deepcopy(body.get("contactProperties") or {}),
                    "customProperties": copy.deepcopy(body.get("customProperties") or {}),
                }
            )
            if send_id:
                self._send_ids[send_id] = status
            return dict(status)

    # ------------------------------------------------------------------ internals

    def _load_initial(self) -> None:
        with _collector_paused():
            self._load_initial_records()
        if self._initial_objects:
            # The generated portal lives as long as the store: keep the cyclic GC's full collections from
            # rescanning its million objects (reference counting still frees them after a reset).
            gc.freeze()

    def _load_initial_records(self) -> None:
        now = self.clock.iso_now()
        highest = 0
        for object_type, items in self._initial_objects.items():
            records = self._records[object_type]
            for item in items:
                object_id = str(item["id"])
                values = dict(item.get("properties", {}))
                if not all(type(value) is str for value in values.values()):
                    values = {name: str(value) for name, value in values.items() if value is not None}
                values.setdefault("createdate", now)
                values.setdefault("hs_lastmodifieddate", values["createdate"])
                values["hs_object_id"] = object_id
                if object_type == "contacts":
                    values.setdefault("lastmodifieddate", values["hs_lastmodifieddate"])
                records[object_id] = Record(object_id, values)
                highest = max(highest, int(object_id))
            self._sorted_dirty.add(object_type)
        self._load_links(self._initial_associations)
        self._next_id = max(highest + 1, 1001)

    def _load_links(self, links: Iterable[tuple[str, str, str, str]]) -> None:
        """Bulk form of _link for the generated portal (hundreds of thousands of default associations)."""
        type_ids: dict[tuple[str, str], tuple[int, int]] = {}
        for from_type, from_id, to_type, to_id in links:
            pair = type_ids.get((from_type, to_type))
            if pair is None:
                forward = self._default_type(from_type, to_type)
                pair = type_ids[(from_type, to_type)] = (forward, assoc.inverse_type_id(from_type, to_type, forward))
            for a_type, a_id, b_type, b_id, type_id in (
                (from_type, from_id, to_type, to_id, pair[0]),
                (to_type, to_id, from_type, from_id, pair[1]),
            ):
                by_id = self._links.get((a_type, b_type))
                if by_id is None:
                    by_id = self._links[(a_type, b_type)] = {}
                targets = by_id.get(a_id)
                if targets is None:
                    by_id[a_id] = {b_id: [type_id]}
                else:
                    existing = targets.get(b_id)
                    if existing is None:
                        targets[b_id] = [type_id]
                    elif type_id not in existing:
                        existing.append(type_id)

    def _ordered_ids(self, object_type: str) -> list[int]:
        if object_type in self._sorted_dirty:
            self._sorted_ids[object_type] = sorted(int(i) for i in self._records[object_type])
            self._sorted_dirty.discard(object_type)
        return self._sorted_ids[object_type]

    def _insert(self, object_type: str, values: dict[str, str]) -> Record:
        object_id = str(self._next_id)
        self._next_id += 1
        now = self.clock.iso_now()
        values.setdefault("createdate", now)
        values["hs_lastmodifieddate"] = now
        values["hs_object_id"] = object_id
        if object_type == "contacts":
            values["lastmodifieddate"] = now
        record = Record(object_id, values)
        self._records[object_type][object_id] = record
        ids = self._sorted_ids[object_type]
        if object_type not in self._sorted_dirty and (not ids or ids[-1] < int(object_id)):
            ids.append(int(object_id))
        else:
            self._sorted_dirty.add(object_type)
        self._index(object_type, record, None)
        self._remember(object_type, record, None)
        self._generations[object_type] += 1
        return record

    def _write(self, object_type: str, record: Record, values: Mapping[str, str | None]) -> Record:
        before = dict(record.properties)
        for name, value in values.items():
            if value is None:
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
        now = self.clock.iso_now()
        record.properties["hs_lastmodifieddate"] = now
        if object_type == "contacts":
            record.properties["lastmodifieddate"] = now
        self._index(object_type, record, before)
        self._remember(object_type, record, before)
        self._generations[object_type] += 1
        return record

    def _archive(self, object_type: str, record: Record) -> None:
        if record.archived:
            return
        record.archived = True
        record.archived_at = self.clock.iso_now()
        self._archived_count[object_type] += 1
        self._generations[object_type] += 1

    def _index(self, object_type: str, record: Record, before: Mapping[str, str] | None) -> None:
        kind_of = self._kind_function(object_type)
        for (indexed_type, name), index in self._value_indexes.items():
            if indexed_type != object_type:
                continue
            kind = kind_of(name)
            old = normalize(before.get(name), kind) if before is not None else None
            new = normalize(record.properties.get(name), kind)
            if old == new:
                continue
            if old is not None:
                index.get(old, set()).discard(record.id)
            if new is not None:
                index.setdefault(new, set()).add(record.id)
        for (indexed_type, name), range_index in self._range_indexes.items():
            if indexed_type == object_type:
                range_index.put(record.id, normalize(record.properties.get(name), kind_of(name)))

    def _require(self, object_type: str, object_id: str, archived: bool | None = False) -> Record:
        record = self._records[object_type].get(object_id)
        if record is None or (archived is not None and record.archived != archived):
            raise PortalError(404, "OBJECT_NOT_FOUND", f"resource not found: {object_type} {object_id}")
        return record

    def _find(self, object_type: str, object_id: str, id_property: str | None, archived: bool = False) -> Record | None:
        if id_property and id_property != "hs_object_id":
            definition = self._properties[object_type].get(id_property)
            if definition is None:
                raise bad_request(f"Property {id_property} does not exist on {object_type}.")
            kind = str(definition.get("type", "string"))
            index = self._value_index(object_type, id_property, kind)
            key = normalize(object_id, kind)
            ids = sorted(index.get(key, set()), key=int) if key is not None else []  # type: ignore[arg-type]
            for candidate in ids:
                record = self._records[object_type][candidate]
                if record.archived == archived:
                    return record
            return None
        record = self._records[object_type].get(str(object_id))
        if record is None or record.archived != archived:
            return None
        return record

    def _validated(self, object_type: str, properties: Mapping[str, Any], *, creating: bool) -> dict[str, str | None]:
        """Property values as HubSpot stores them (text), or a 400 naming every invalid one."""
        if not isinstance(properties, Mapping):
            raise bad_request("properties must be an object")
        definitions = self._properties[object_type]
        values: dict[str, str | None] = {}
        problems: list[dict[str, Any]] = []
        for name, raw in properties.items():
            definition = definitions.get(name)
            if definition is None:
                problems.append(_problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
                continue
            read_only = definition.get("modificationMetadata", {}).get("readOnlyValue", False)
            if name in ("hs_object_id", "hs_lastmodifieddate", "lastmodifieddate") or (
                read_only and not (creating and name == "createdate")
            ):
                continue  # HubSpot ignores writes to read-only values
            if raw is None or raw == "":
                values[name] = None
                continue
            converted, problem = _convert(definition, raw)
            if problem is not None:
                problems.append(problem)
            else:
                values[name] = converted
        if problems:
            raise bad_request(
                "Property values were not valid: " + json.dumps(problems),
                errors=[
                    {
                        "message": problem["message"],
                        "code": problem["error"],
                        "context": {"propertyName": [problem["name"]]},
                    }
                    for problem in problems
                ],
            )
        if creating:
            return {name: value for name, value in values.items() if value is not None}
        return values


def _range_bounds(spec: Mapping[str, Any], kind: str) -> tuple[float, bool, float, bool] | None:
    """(low, low inclusive, high, high inclusive) of a range filter on a numeric property; None otherwise."""
    operator = spec.get("operator")
    if operator not in ("LT", "LTE", "GT", "GTE", "BETWEEN") or kind not in NUMERIC_KINDS:
        return None
    low = normalize(spec.get("value"), kind)
    high = normalize(spec.get("highValue"), kind) if operator == "BETWEEN" else low
    if not isinstance(low, float) or not isinstance(high, float):
        return None
    return {
        "LT": (-math.inf, True, low, False),
        "LTE": (-math.inf, True, low, True),
        "GT": (low, False, math.inf, True),
        "GTE": (low, True, math.inf, True),
        "BETWEEN": (low, True, high, True),
    }[str(operator)]


def _problem(name: str, error: str, message: str) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": error, "name": name}


def _convert(definition: Mapping[str, Any], raw: Any) -> tuple[str | None, dict[str, Any] | None]:
    name = str(definition["name"])
    kind = definition.get("type")
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return None, _problem(name, "INVALID_FLOAT", f"{text} was not a valid number.")
        if math.isnan(number) or math.isinf(number):
            return None, _problem(name, "INVALID_FLOAT", f"{text} was not a valid number.")
        return text, None
    if kind in ("datetime", "date"):
        epoch_ms = to_epoch_ms(text)
        if epoch_ms is None:
            return None, _problem(name, "INVALID_DATE", f"{text} was not a valid {kind}.")
        if kind == "date":
            moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
            if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
                return None, _problem(name, "INVALID_DATE", f"{text} is not midnight UTC, as a date must be.")
            return moment.date().isoformat(), None
        return iso_from_epoch_ms(epoch_ms), None
    if kind == "bool":
        if text not in ("true", "false"):
            return None, _problem(name, "INVALID_BOOLEAN", f"{text} was not a valid boolean.")
        return text, None
    if kind == "enumeration" and definition.get("options"):
        allowed = {str(option["value"]) for option in definition["options"]}
        chosen = text.split(";") if definition.get("fieldType") == "checkbox" else [text]
        invalid = [value for value in chosen if value not in allowed]
        if invalid:
            return None, _problem(
                name, "INVALID_OPTION", f"{invalid[0]} was not one of the allowed options: {sorted(allowed)}"
            )
    return text, None


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


def _properties_of(item: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = item.get("properties")
    if properties is None:
        return {}
    if not isinstance(properties, Mapping):
        raise bad_request("properties must be an object")
    return properties


def _int_field(request: Mapping[str, Any], name: str, default: int) -> int:
    raw = request.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError) as error:
        raise bad_request(f"{name} must be an integer, got {raw!r}") from error


def _sorts(raw: Sequence[Any]) -> list[tuple[str, bool]]:
    """Sorts given as {"propertyName", "direction"} objects or as "name" / "-name" strings."""
    sorts = []
    for item in raw:
        if isinstance(item, str):
            descending = item.startswith("-")
            sorts.append((item.lstrip("-"), descending))
        elif isinstance(item, Mapping) and item.get("propertyName"):
            direction = str(item.get("direction", "ASCENDING")).upper()
            if direction not in ("ASCENDING", "DESCENDING"):
                raise bad_request(f"Unknown sort direction {direction}")
            sorts.append((str(item["propertyName"]), direction == "DESCENDING"))
        else:
            raise bad_request(f"Invalid sort: {item!r}")
    return sorts


def _names(raw: Any) -> list[str] | None:
    """Property names from a list or comma-separated text; None when none were asked for."""
    if not raw:
        return None
    items = raw if isinstance(raw, list) else [raw]
    names = [name.strip() for item in items for name in str(item).split(",") if name.strip()]
    return names or None
