"""The portal's lists (HubSpot's "segments"), as the Lists API v3 serves them.

A list has a definition (name, object type, processing type, filter branch) and members. A DYNAMIC (active)
list's members are the live records that pass its filters, evaluated on the store's records whenever they are
read, so membership follows every write at once (HubSpot processes it in the background, within minutes). A
MANUAL list keeps the members it is given (the sandbox serves no membership writes, so it stays empty); a
SNAPSHOT list is evaluated once, when it is created.

Filters: the branch types AND and OR (HubSpot requires an OR root whose children are AND branches), and PROPERTY
filters with the operations BOOL, STRING, NUMBER, ENUMERATION and ALL_PROPERTY (IS_KNOWN / IS_UNKNOWN). Anything
else is refused with a 400 that names it, rather than evaluated wrongly.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox import associations as assoc
from sandbox.clock import PortalClock
from sandbox.errors import PortalError, bad_request
from sandbox.records import Record, Records
from sandbox.schema_registry import SchemaRegistry

PROCESSING_TYPES = ("MANUAL", "DYNAMIC", "SNAPSHOT")
MAX_MEMBERSHIP_LIMIT = 250

# what Flywheel's provisioning creates (infra/portal.py): present in a provisioned sandbox
CLIENTI_FREDDI = {
    "name": "CLIENTI FREDDI",
    "objectTypeId": "0-2",
    "processingType": "DYNAMIC",
    "filterBranch": {
        "filterBranchType": "OR",
        "filterBranchOperator": "OR",
        "filters": [],
        "filterBranches": [
            {
                "filterBranchType": "AND",
                "filterBranchOperator": "AND",
                "filterBranches": [],
                "filters": [
                    {
                        "filterType": "PROPERTY",
                        "property": "wakeup_eligible",
                        "operation": {"operationType": "BOOL", "operator": "IS_EQUAL_TO", "value": True},
                    }
                ],
            }
        ],
    },
}
FLYWHEEL_LISTS = (CLIENTI_FREDDI,)

Test = Callable[[Record], bool]


@dataclass
class ObjectList:
    list_id: str
    name: str
    object_type: str
    processing_type: str
    filter_branch: dict[str, Any] | None
    test: Test | None
    created_at: str
    version: int = 1
    # record id -> when it (last) joined the list
    joined: dict[str, str] = field(default_factory=dict)


class Lists:
    """The lists of one portal. Called under the store lock."""

    def __init__(self, records: Records, schema: SchemaRegistry, clock: PortalClock, *, next_id: int = 1) -> None:
        self._records = records
        self._schema = schema
        self._clock = clock
        self._lists: dict[str, ObjectList] = {}
        # list ids are never reused, across resets too, as HubSpot's are not
        self.next_id = next_id

    def reset(self, definitions: tuple[Mapping[str, Any], ...]) -> None:
        self._lists = {}
        for definition in definitions:
            self.create(definition)

    # ------------------------------------------------------------------ definitions

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("name is required.")
        object_type = _object_type(body.get("objectTypeId"))
        processing = body.get("processingType")
        if processing not in PROCESSING_TYPES:
            raise bad_request(f"processingType must be one of {', '.join(PROCESSING_TYPES)}, got {processing!r}")
        if self._find(object_type, name) is not None:
            raise PortalError(409, "CONFLICT", f"A list named {name!r} already exists for object type {object_type}.")
        branch = body.get("filterBranch")
        test: Test | None = None
        if processing == "MANUAL":
            if branch is not None:
                raise bad_request("A MANUAL list takes no filterBranch.")
        else:
            if not isinstance(branch, Mapping):
                raise bad_request(f"A {processing} list needs a filterBranch.")
            _check_root(branch)
            test = self._compile_branch(object_type, branch)
        now = self._clock.iso_now()
        created = ObjectList(
            list_id=str(self.next_id),
            name=name,
            object_type=object_type,
            processing_type=str(processing),
            filter_branch=copy.deepcopy(dict(branch)) if isinstance(branch, Mapping) else None,
            test=test,
            created_at=now,
        )
        self.next_id += 1
        self._lists[created.list_id] = created
        self._refresh(created)
        if created.processing_type == "SNAPSHOT":
            created.test = None  # its members stay those of its creation
        return {"list": self._view(created, include_filters=True)}

    def get(self, list_id: str, *, include_filters: bool) -> dict[str, Any]:
        return {"list": self._view(self._require(list_id), include_filters=include_filters)}

    def by_name(self, object_type_id: str, name: str, *, include_filters: bool) -> dict[str, Any]:
        found = self._find(_object_type(object_type_id), name)
        if found is None:
            raise PortalError(404, "OBJECT_NOT_FOUND", f"List {name!r} does not exist.")
        return {"list": self._view(found, include_filters=include_filters)}

    # ------------------------------------------------------------------ memberships

    def memberships(self, list_id: str, *, limit: int, after: str | None) -> dict[str, Any]:
        """Members in record id order, `limit` a page from after the record id `after`."""
        if not 1 <= limit <= MAX_MEMBERSHIP_LIMIT:
            raise bad_request(f"limit must be between 1 and {MAX_MEMBERSHIP_LIMIT}, got {limit}")
        found = self._require(list_id)
        joined = self._refresh(found)
        ids = sorted(joined, key=int)
        if after:
            ids = [record_id for record_id in ids if int(record_id) > int(after)] if after.isdigit() else []
        page = ids[:limit]
        body: dict[str, Any] = {
            "results": [{"recordId": record_id, "membershipTimestamp": joined[record_id]} for record_id in page],
            "total": len(joined),
        }
        if len(ids) > limit:
            body["paging"] = {"next": {"after": page[-1], "link": ""}}
        return body

    def record_memberships(self, object_type_id: str, record_id: str) -> dict[str, Any]:
        object_type = _object_type(object_type_id)
        results = []
        for found in self._lists.values():
            if found.object_type != object_type:
                continue
            joined = self._refresh(found).get(record_id)
            if joined is not None:
                results.append(
                    {
                        "listId": found.list_id,
                        "listVersion": found.version,
                        "firstAddedTimestamp": joined,
                        "lastAddedTimestamp": joined,
                    }
                )
        return {"results": results, "total": len(results)}

    # ------------------------------------------------------------------ internals

    def _require(self, list_id: str) -> ObjectList:
        found = self._lists.get(list_id)
        if found is None:
            raise PortalError(404, "OBJECT_NOT_FOUND", f"List {list_id} does not exist.")
        return found

    def _find(self, object_type: str, name: str) -> ObjectList | None:
        wanted = name.strip().lower()  # HubSpot's lookup by name is not case sensitive
        return next(
            (x for x in self._lists.values() if x.object_type == object_type and x.name.strip().lower() == wanted),
            None,
        )

    def _refresh(self, found: ObjectList) -> dict[str, str]:
        """The members now: a record that passes keeps its join time, a newcomer joins now, a leaver is gone."""
        if found.test is None:
            return found.joined
        now = self._clock.iso_now()
        live = (r for r in self._records.tables[found.object_type].values() if not r.archived)
        found.joined = {r.id: found.joined.get(r.id, now) for r in live if found.test(r)}
        return found.joined

    def _view(self, found: ObjectList, *, include_filters: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "listId": found.list_id,
            "listVersion": found.version,
            "name": found.name,
            "objectTypeId": assoc.OBJECT_TYPE_IDS[found.object_type],
            "processingType": found.processing_type,
            "processingStatus": "COMPLETE",
            "createdAt": found.created_at,
            "updatedAt": found.created_at,
            "filtersUpdatedAt": found.created_at,
            "size": len(self._refresh(found)),
        }
        if include_filters and found.filter_branch is not None:
            view["filterBranch"] = copy.deepcopy(found.filter_branch)
        return view

    def _compile_branch(self, object_type: str, branch: Mapping[str, Any]) -> Test:
        kind = branch.get("filterBranchType")
        filters = branch.get("filters") or []
        children = branch.get("filterBranches") or []
        if not isinstance(filters, list) or not isinstance(children, list):
            raise bad_request("filters and filterBranches must be lists.")
        tests = [self._compile_filter(object_type, f) for f in filters]
        for child in children:
            if not isinstance(child, Mapping):
                raise bad_request("Every filter branch must be an object.")
            tests.append(self._compile_branch(object_type, child))
        if kind == "AND":
            return lambda record: all(test(record) for test in tests)
        if kind == "OR":
            return lambda record: any(test(record) for test in tests)
        raise bad_request(f"filterBranchType {kind!r} is not supported by the sandbox (AND, OR)")

    def _compile_filter(self, object_type: str, spec: Any) -> Test:
        if not isinstance(spec, Mapping) or spec.get("filterType") != "PROPERTY":
            kind = spec.get("filterType") if isinstance(spec, Mapping) else spec
            raise bad_request(f"filterType {kind!r} is not supported by the sandbox (PROPERTY)")
        name = spec.get("property")
        if not isinstance(name, str) or name not in self._schema.definitions(object_type):
            raise bad_request(f"Property {name!r} does not exist on {object_type}.")
        operation = spec.get("operation")
        if not isinstance(operation, Mapping):
            raise bad_request(f"The filter on {name} needs an operation.")
        matches = _operation(operation)
        with_no_value = bool(operation.get("includeObjectsWithNoValueSet", False))

        def test(record: Record) -> bool:
            value = record.properties.get(name)
            if value is None or value == "":
                return matches(None) if operation.get("operationType") == "ALL_PROPERTY" else with_no_value
            return matches(value)

        return test


def _object_type(object_type_id: Any) -> str:
    found = assoc.normalize_object_type(str(object_type_id or ""))
    if found is None:
        raise bad_request(f"Unknown objectTypeId {object_type_id!r}")
    return found


def _check_root(branch: Mapping[str, Any]) -> None:
    """HubSpot's shape: an OR branch at the root, whose children are AND branches."""
    if branch.get("filterBranchType") != "OR":
        raise bad_request("The root filter branch must be of type OR.")
    for child in branch.get("filterBranches") or []:
        if not isinstance(child, Mapping) or child.get("filterBranchType") != "AND":
            raise bad_request("The filter branches of the root OR branch must be of type AND.")


def _operation(operation: Mapping[str, Any]) -> Callable[[str | None], bool]:
    """The value test of one property operation (for a set value; ALL_PROPERTY also sees an unset one)."""
    kind, operator = operation.get("operationType"), operation.get("operator")
    if kind == "ALL_PROPERTY" and operator in ("IS_KNOWN", "IS_UNKNOWN"):
        known = operator == "IS_KNOWN"
        return lambda value: (value is not None and value != "") == known
    if kind == "BOOL" and operator in ("IS_EQUAL_TO", "IS_NOT_EQUAL_TO"):
        wanted = operation.get("value")
        if not isinstance(wanted, bool):
            raise bad_request("A BOOL operation needs a boolean value.")
        equal = operator == "IS_EQUAL_TO"
        return lambda value: ((value or "").lower() == str(wanted).lower()) == equal
    if kind == "STRING" and operator in ("IS_EQUAL_TO", "IS_NOT_EQUAL_TO"):
        text = str(operation.get("value", "")).lower()
        equal = operator == "IS_EQUAL_TO"
        return lambda value: ((value or "").lower() == text) == equal
    if kind == "ENUMERATION" and operator in ("IS_ANY_OF", "IS_NONE_OF"):
        values = operation.get("values")
        if not isinstance(values, list):
            raise bad_request("An ENUMERATION operation needs values.")
        options = {str(v).lower() for v in values}
        any_of = operator == "IS_ANY_OF"
        return lambda value: bool({v.lower() for v in (value or "").split(";")} & options) == any_of
    if kind == "NUMBER" and operator in _NUMBER_OPERATORS:
        try:
            number = float(operation.get("value"))  # type: ignore[arg-type]
        except (TypeError, ValueError) as error:
            raise bad_request("A NUMBER operation needs a numeric value.") from error
        compare = _NUMBER_OPERATORS[operator]
        return lambda value: _number(value) is not None and compare(_number(value) or 0.0, number)
    raise bad_request(f"The operation {kind} {operator} is not supported by the sandbox.")


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


_NUMBER_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "IS_EQUAL_TO": lambda a, b: a == b,
    "IS_NOT_EQUAL_TO": lambda a, b: a != b,
    "IS_GREATER_THAN": lambda a, b: a > b,
    "IS_GREATER_THAN_OR_EQUAL_TO": lambda a, b: a >= b,
    "IS_LESS_THAN": lambda a, b: a < b,
    "IS_LESS_THAN_OR_EQUAL_TO": lambda a, b: a <= b,
}
