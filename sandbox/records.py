"""The portal's CRM records: the tables by type, id allocation, property validation, create / read / update /
archive / upsert, list pages, and the view of a record HubSpot returns.

Every write keeps the search indexes current, leaves the version search still shows for the visibility lag, and
bumps the type's generation (the search result cache's key, also bumped by association changes).
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import gc
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sandbox.clock import PortalClock, iso_from_datetime
from sandbox.errors import bad_request, not_found
from sandbox.schema import OBJECT_TYPES
from sandbox.schema_registry import SYSTEM_PROPERTIES, SchemaRegistry
from sandbox.search import normalize, to_epoch_ms

if TYPE_CHECKING:
    from sandbox.indexes import Indexes
    from sandbox.visibility import Visibility

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

# Property values as a write gives them: None clears a value.
Values = dict[str, str | None]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
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


def iso_from_epoch_ms(epoch_ms: float) -> str:
    return iso_from_datetime(datetime.fromtimestamp(epoch_ms / 1000, tz=UTC))


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


Tables = dict[str, dict[str, Record]]


def empty_tables() -> Tables:
    """One empty table (id -> record) per object type."""
    return {name: {} for name in OBJECT_TYPES}


class Records:
    """The records of one portal by type and id. Called under the store lock."""

    def __init__(
        self, tables: Tables, clock: PortalClock, schema: SchemaRegistry, indexes: Indexes, visibility: Visibility
    ) -> None:
        self._clock = clock
        self._schema = schema
        self._indexes = indexes
        self._visibility = visibility
        self.tables = tables
        self._sorted_ids: dict[str, list[int]] = {name: [] for name in OBJECT_TYPES}
        self._sorted_dirty: set[str] = set()
        self.archived_count: Counter[str] = Counter()
        # Changes per type (records written, associations made or removed): what a cached search result is
        # checked against.
        self.generations: Counter[str] = Counter()
        self._next_id = 1

    def touch(self, object_type: str) -> None:
        """Count a change to a type's records or their associations."""
        self.generations[object_type] += 1

    # ------------------------------------------------------------------ loading the generated portal

    def load(self, initial_objects: Mapping[str, list[dict[str, Any]]]) -> None:
        """Insert the generated records as they are (no validation, no history, no index yet)."""
        now = self._clock.iso_now()
        highest = 0
        for object_type, items in initial_objects.items():
            records = self.tables[object_type]
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
        self._next_id = max(highest + 1, 1001)

    # ------------------------------------------------------------------ API operations

    def update(
        self, object_type: str, object_id: str, properties: Mapping[str, Any], id_property: str | None = None
    ) -> Record:
        record = self.find(object_type, object_id, id_property)
        if record is None:
            raise not_found(object_type, object_id)
        values = self.validated_changes(object_type, properties)
        return self.write(object_type, record, values)

    def update_many(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> tuple[list[Record], list[str]]:
        """Batch update: (updated records, ids not found). Invalid values fail the whole batch."""
        prepared = []
        missing = []
        for item in inputs:
            object_id = str(item.get("id", ""))
            record = self.find(object_type, object_id, item.get("idProperty"))
            values = self.validated_changes(object_type, properties_of(item))
            if record is None:
                missing.append(object_id)
            else:
                prepared.append((record, values))
        return [self.write(object_type, record, values) for record, values in prepared], missing

    def upsert_many(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> list[tuple[Record, bool]]:
        """Batch upsert by a unique property (or by id): (record, created?) per input."""
        definitions = self._schema.definitions(object_type)
        prepared: list[tuple[Record, Values] | dict[str, str]] = []  # (record, changes) or a new record's values
        for item in inputs:
            object_id = str(item.get("id", ""))
            id_property = item.get("idProperty") or "hs_object_id"
            if id_property != "hs_object_id" and not definitions.get(id_property, {}).get("hasUniqueValue"):
                raise bad_request(f"{id_property} is not a unique property of {object_type}.")
            record = self.find(object_type, object_id, id_property)
            if record is not None:
                prepared.append((record, self.validated_changes(object_type, properties_of(item))))
                continue
            values = self.validated_new(object_type, properties_of(item))
            if id_property == "hs_object_id":
                raise bad_request(f"Upsert by hs_object_id needs an existing record: {object_id}")
            values[id_property] = object_id
            prepared.append(values)
        results = []
        for entry in prepared:
            if isinstance(entry, dict):
                results.append((self.insert(object_type, entry), True))
            else:
                results.append((self.write(object_type, *entry), False))
        return results

    def archive(self, object_type: str, object_id: str) -> None:
        record = self.tables[object_type].get(object_id)
        if record is None:
            raise not_found(object_type, object_id)
        self.archive_record(object_type, record)

    def archive_many(self, object_type: str, ids: Iterable[str]) -> None:
        for object_id in ids:
            record = self.tables[object_type].get(object_id)
            if record is not None:
                self.archive_record(object_type, record)

    def get(self, object_type: str, object_id: str, *, archived: bool, id_property: str | None) -> Record:
        record = self.find(object_type, object_id, id_property, archived=archived)
        if record is None:
            raise not_found(object_type, object_id)
        return record

    def read_many(
        self, object_type: str, ids: Iterable[str], id_property: str | None, archived: bool
    ) -> tuple[list[Record], list[str]]:
        found, missing = [], []
        for object_id in ids:
            record = self.find(object_type, object_id, id_property, archived=archived)
            if record is None:
                missing.append(object_id)
            else:
                found.append(record)
        return found, missing

    def list_page(
        self, object_type: str, *, limit: int, after: str | None, archived: bool
    ) -> tuple[list[Record], str | None]:
        """One page of records in id order starting at the cursor `after` (the id of the first record to show)."""
        ids = self._ordered_ids(object_type)
        start = 0
        if after:
            try:
                start = bisect.bisect_left(ids, int(after))
            except ValueError as error:
                raise bad_request(f"Invalid after cursor: {after}") from error
        records = self.tables[object_type]
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
        values = record.properties if properties is None else properties
        definitions = self._schema.definitions(object_type)
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

    # ------------------------------------------------------------------ in-process reads

    def counts(self) -> dict[str, int]:
        return {
            name: sum(1 for record in records.values() if not record.archived) for name, records in self.tables.items()
        }

    def live_copies(self, object_type: str) -> list[Record]:
        return [copy.deepcopy(r) for r in self.tables[object_type].values() if not r.archived]

    def exists(self, object_type: str, object_id: str) -> bool:
        record = self.tables[object_type].get(object_id)
        return record is not None and not record.archived

    def require(self, object_type: str, object_id: str, archived: bool | None = False) -> Record:
        """The record (live, archived, or either with None), or a 404."""
        record = self.tables[object_type].get(object_id)
        if record is None or (archived is not None and record.archived != archived):
            raise not_found(object_type, object_id)
        return record

    def find(self, object_type: str, object_id: str, id_property: str | None, archived: bool = False) -> Record | None:
        """The record by id or by the value of a unique property, live or archived as asked; None if none."""
        if id_property and id_property != "hs_object_id":
            definition = self._schema.definitions(object_type).get(id_property)
            if definition is None:
                raise bad_request(f"Property {id_property} does not exist on {object_type}.")
            kind = str(definition.get("type", "string"))
            index = self._indexes.value_index(object_type, id_property, kind)
            key = normalize(object_id, kind)
            ids = sorted(index.get(key, set()), key=int) if key is not None else []
            for candidate in ids:
                found = self.tables[object_type][candidate]
                if found.archived == archived:
                    return found
            return None
        record = self.tables[object_type].get(str(object_id))
        if record is None or record.archived != archived:
            return None
        return record

    # ------------------------------------------------------------------ writing

    def insert(self, object_type: str, values: dict[str, str]) -> Record:
        """A new record with the next id, holding `values` (from `validated_new`: the dict becomes the record's)."""
        object_id = str(self._next_id)
        self._next_id += 1
        now = self._clock.iso_now()
        values.setdefault("createdate", now)
        values["hs_lastmodifieddate"] = now
        values["hs_object_id"] = object_id
        if object_type == "contacts":
            values["lastmodifieddate"] = now
        record = Record(object_id, values)
        self.tables[object_type][object_id] = record
        ids = self._sorted_ids[object_type]
        if object_type not in self._sorted_dirty and (not ids or ids[-1] < int(object_id)):
            ids.append(int(object_id))
        else:
            self._sorted_dirty.add(object_type)
        self._indexes.update(object_type, record, None)
        self._visibility.remember(object_type, record, None)
        self.generations[object_type] += 1
        return record

    def write(self, object_type: str, record: Record, values: Mapping[str, str | None]) -> Record:
        """Apply validated values to a record (None clears one) and stamp it modified now."""
        before = dict(record.properties)
        for name, value in values.items():
            if value is None:
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
        now = self._clock.iso_now()
        record.properties["hs_lastmodifieddate"] = now
        if object_type == "contacts":
            record.properties["lastmodifieddate"] = now
        self._indexes.update(object_type, record, before)
        self._visibility.remember(object_type, record, before)
        self.generations[object_type] += 1
        return record

    def archive_record(self, object_type: str, record: Record) -> None:
        if record.archived:
            return
        record.archived = True
        record.archived_at = self._clock.iso_now()
        self.archived_count[object_type] += 1
        self.generations[object_type] += 1

    def validated_new(self, object_type: str, properties: Mapping[str, Any]) -> dict[str, str]:
        """A new record's property values as HubSpot stores them (text; empty ones left out), or a 400 naming
        every invalid one."""
        values = self._validated(object_type, properties, creating=True)
        return {name: value for name, value in values.items() if value is not None}

    def validated_changes(self, object_type: str, properties: Mapping[str, Any]) -> Values:
        """An update's property values as HubSpot stores them (text; None clears a value), or a 400 naming every
        invalid one."""
        return self._validated(object_type, properties, creating=False)

    def _validated(self, object_type: str, properties: Mapping[str, Any], *, creating: bool) -> Values:
        if not isinstance(properties, Mapping):
            raise bad_request("properties must be an object")
        definitions = self._schema.definitions(object_type)
        values: Values = {}
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
        return values

    def _ordered_ids(self, object_type: str) -> list[int]:
        if object_type in self._sorted_dirty:
            self._sorted_ids[object_type] = sorted(int(i) for i in self.tables[object_type])
            self._sorted_dirty.discard(object_type)
        return self._sorted_ids[object_type]


def properties_of(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `properties` of a batch input (none: empty)."""
    properties = item.get("properties")
    if properties is None:
        return {}
    if not isinstance(properties, Mapping):
        raise bad_request("properties must be an object")
    return properties


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
