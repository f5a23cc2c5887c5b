"""CRM search as the portal runs it: a request checked against HubSpot's limits, its filter groups evaluated once
per query (narrowed by association, id, equality and range indexes where a group allows), the matches ordered, the
ordered ids cached, and a page of them shown as search sees them (search lag included).

A cached result serves until the type's generation moves (a write, an archive, an association change) and only
when no record of the type was unsettled when it was computed, so paging through a result costs only the page.
The filter operators and value comparison themselves are `sandbox.search`.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sandbox import associations as assoc
from sandbox.clock import PortalClock
from sandbox.errors import bad_request
from sandbox.indexes import Indexes, range_bounds
from sandbox.limits import MAX_FILTER_GROUPS, MAX_FILTERS, MAX_SEARCH_LIMIT, MAX_SEARCH_RESULTS, Settings
from sandbox.links import Links
from sandbox.records import Records
from sandbox.schema_registry import SchemaRegistry
from sandbox.search import NUMERIC_KINDS, InvalidFilter, compile_filter, normalize
from sandbox.visibility import Visibility

SEARCH_CACHE_SIZE = 128

# Free-text `query` of a search looks in these (HubSpot's default searchable properties, trimmed).
QUERY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "companies": ("name", "domain", "website", "phone"),
    "contacts": ("firstname", "lastname", "email", "phone", "company"),
    "deals": ("dealname",),
}

# One filter ready to run: (its spec, property name, predicate over the record's raw value)
Compiled = tuple[Mapping[str, Any], str, Callable[[Any], bool]]
Sorts = list[tuple[str, bool]]


class SearchEngine:
    """Search over one portal's records. Called under the store lock."""

    def __init__(
        self,
        records: Records,
        schema: SchemaRegistry,
        indexes: Indexes,
        links: Links,
        visibility: Visibility,
        settings: Settings,
        clock: PortalClock,
    ) -> None:
        self._records = records
        self._schema = schema
        self._indexes = indexes
        self._links = links
        self._visibility = visibility
        self._settings = settings
        self._clock = clock
        self._cache: OrderedDict[Any, tuple[int, list[str], int]] = OrderedDict()

    def clear_cache(self) -> None:
        self._cache.clear()

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
        ids = self._search_ids(object_type, groups, sorts, query)
        page_ids = ids[after : after + limit]
        records = self._records.tables[object_type]
        lag = self._settings.search_lag_seconds
        now = self._clock.seconds()
        results = []
        for object_id in page_ids:
            record = records[object_id]
            visible = self._visibility.visible(object_type, record, lag, now)
            if visible is not None:
                results.append(self._records.read_view(object_type, record, requested, visible))
        body: dict[str, Any] = {"total": len(ids), "results": results}
        if after + limit < len(ids):
            body["paging"] = {"next": {"after": str(after + limit), "link": ""}}
        return body

    # ------------------------------------------------------------------ matching

    def _search_ids(self, object_type: str, groups: list[Any], sorts: Sorts, query: str) -> list[str]:
        lag = self._settings.search_lag_seconds
        now = self._clock.seconds()
        histories = self._visibility.settle(object_type, lag, now)
        key = (object_type, json.dumps([groups, sorts, query], sort_keys=True, default=str))
        generation = self._records.generations[object_type]
        cached = self._cache.get(key)
        if cached is not None and cached[0] == generation and cached[2] == 0:
            self._cache.move_to_end(key)
            return cached[1]

        kind_of = self._schema.kind_function(object_type)
        compiled_groups: list[list[Compiled]] = []
        try:
            for group in groups:
                filters = group.get("filters") or []
                compiled_groups.append([(spec, *compile_filter(spec, kind_of)) for spec in filters])
        except InvalidFilter as error:
            raise bad_request(str(error)) from error

        records = self._records.tables[object_type]
        query_names = QUERY_PROPERTIES.get(object_type, ())

        def matches(object_id: str, visible: Mapping[str, str], group: list[Compiled]) -> bool:
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
        archived_count = self._records.archived_count[object_type]
        for group in compiled_groups or [[]]:
            narrowed, residual = self._narrow_by_indexes(object_type, group)
            pool: set[str] = narrowed if narrowed is not None else set(records)
            if residual or query or archived_count:
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
                visible = self._visibility.visible(object_type, record, lag, now)
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
        self._cache[key] = (generation, ordered, unsettled)
        if len(self._cache) > SEARCH_CACHE_SIZE:
            self._cache.popitem(last=False)

    def _aligned_scan(self, object_type: str, group: list[Compiled], sorts: Sorts) -> list[str] | None:
        """Fast path for one filter group with a range filter on the sort property (the usual way to page past
        10,000 results: hs_object_id > last id, sorted by hs_object_id; or a date window sorted by that date).
        The slice of the sort index between the bounds is already in order; the other filters only thin it out.
        Returns None when the query does not have that shape."""
        if len(sorts) > 1:
            return None
        name, descending = sorts[0] if sorts else ("hs_object_id", False)
        kind = self._schema.kind_function(object_type)(name)
        if kind not in NUMERIC_KINDS or name not in self._schema.definitions(object_type):
            return None
        index = self._indexes.range_index(object_type, name, kind)
        start, end = 0, len(index.ids)
        bounded = False
        others = []
        for spec, filter_name, test in group:
            bounds = range_bounds(spec, kind) if filter_name == name else None
            if bounds is None:
                others.append((spec, filter_name, test))
                continue
            low, high = index.slice_bounds(*bounds)
            start, end = max(start, low), min(end, high)
            bounded = True
        if not bounded:
            return None
        candidates = index.ids[start:end] if start < end else []
        records = self._records.tables[object_type]
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
        if residual or self._records.archived_count[object_type]:
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
            linked = self._links.linked(object_type, object_id, to_type)
            if spec.get("operator") in ("EQ", "IN"):
                return any(test(to_id) for to_id in linked)
            if spec.get("operator") == "HAS_PROPERTY":
                return bool(linked)
            if spec.get("operator") == "NOT_HAS_PROPERTY":
                return not linked
            if spec.get("operator") in ("NEQ", "NOT_IN"):
                return all(test(to_id) for to_id in linked)
            # a range says something about the associated ids: a record without any has none in range
            return bool(linked) and all(test(to_id) for to_id in linked)
        if name == "hs_object_id":
            return test(object_id)
        return test(visible.get(name))

    # ------------------------------------------------------------------ indexes

    def _narrow_by_indexes(
        self, object_type: str, filters: Sequence[Compiled]
    ) -> tuple[set[str] | None, list[Compiled]]:
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
        kind = self._schema.kind_function(object_type)(name)
        if name.startswith("associations."):
            if operator not in ("EQ", "IN"):
                return None
            to_type = assoc.normalize_object_type(name.split(".", 1)[1])
            if to_type is None:
                return set()
            raw_values = [spec.get("value")] if operator == "EQ" else list(spec.get("values") or [])
            reverse = self._links.by_id(to_type, object_type)
            return {linked for value in raw_values for linked in reverse.get(str(value), {})}
        if name not in self._schema.definitions(object_type):
            return set() if operator in ("EQ", "IN", "LT", "LTE", "GT", "GTE", "BETWEEN", "HAS_PROPERTY") else None
        if operator in ("EQ", "IN"):
            raw_values = [spec.get("value")] if operator == "EQ" else list(spec.get("values") or [])
            index = self._indexes.value_index(object_type, name, kind)
            found: set[str] = set()
            for value in raw_values:
                normalized = normalize(value, kind)
                if normalized is not None:
                    found |= index.get(normalized, set())
            return found
        bounds = range_bounds(spec, kind)
        if bounds is not None:
            return self._indexes.range_index(object_type, name, kind).between(*bounds)
        return None

    # ------------------------------------------------------------------ ordering

    def _ordered(self, object_type: str, matched: set[str], sorts: Sorts) -> list[str]:
        """Matched ids in the requested order (by id when none); records without the sort value go last."""
        kind_of = self._schema.kind_function(object_type)
        if len(sorts) <= 1:
            name, descending = sorts[0] if sorts else ("hs_object_id", False)
            kind = kind_of(name)
            if kind in NUMERIC_KINDS and name in self._schema.definitions(object_type):
                in_order = [
                    object_id
                    for object_id in self._indexes.range_index(object_type, name, kind).ids
                    if object_id in matched
                ]
                if descending:
                    in_order.reverse()
                if len(in_order) < len(matched):
                    in_order.extend(sorted(matched.difference(in_order), key=int))
                return in_order
        records = self._records.tables[object_type]
        ordered = sorted(matched, key=int)
        for name, descending in reversed(sorts):
            kind = kind_of(name)
            valued: list[tuple[Any, str]] = []
            unvalued = []
            for object_id in ordered:
                value = normalize(records[object_id].properties.get(name), kind)
                if value is None:
                    unvalued.append(object_id)
                else:
                    valued.append((value, object_id))
            valued.sort(key=lambda pair: pair[0], reverse=descending)
            ordered = [object_id for _value, object_id in valued] + unvalued
        return ordered


def _int_field(request: Mapping[str, Any], name: str, default: int) -> int:
    raw = request.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError) as error:
        raise bad_request(f"{name} must be an integer, got {raw!r}") from error


def _sorts(raw: Sequence[Any]) -> Sorts:
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
