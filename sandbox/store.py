"""The in-memory portal behind the sandbox server: `PortalStore`, the one object the server, tests, the demo and
the chaos harness call.

Every public method takes the store lock, so the threaded HTTP server and in-process helpers see one consistent
portal; the modules it delegates to hold one idea each and run under that lock:

- `sandbox.limits`: HubSpot's size limits, the rate window, injected faults and the call accounting
- `sandbox.schema_registry`: property definitions and groups, pipelines, owners
- `sandbox.records`: the records, their validation, create / read / update / archive / upsert, list pages
- `sandbox.indexes`: equality and range indexes over property values, kept current on every write
- `sandbox.search_engine`: search requests: filters, sorting, the result cache
- `sandbox.visibility`: search lag, the versions of recently written records search still shows
- `sandbox.links`: associations between records (link, unlink, v3 and v4 reads)
- `sandbox.outbox`: marketing single-send
- `sandbox.lists`: lists (segments) of the Lists API v3, members of a dynamic list by its property filters
- `sandbox.marketing_emails`: marketing emails of the Marketing Emails API v3 (Flywheel's, on a provisioned portal)

Methods raise `PortalError` with HubSpot's status, category and message; the server turns it into HubSpot's
error JSON.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sandbox import associations as assoc
from sandbox.clock import PortalClock
from sandbox.errors import PortalError, bad_request, batch_envelope, batch_error
from sandbox.indexes import Indexes
from sandbox.limits import (
    MAX_BATCH_INPUTS,
    MAX_FILTER_GROUPS,
    MAX_FILTERS,
    MAX_LIST_LIMIT,
    MAX_SEARCH_LIMIT,
    MAX_SEARCH_RESULTS,
    Admission,
    Limits,
    Settings,
)
from sandbox.links import Links
from sandbox.lists import FLYWHEEL_LISTS, Lists
from sandbox.marketing_emails import MarketingEmails, flywheel_emails
from sandbox.outbox import Outbox, check_single_send
from sandbox.records import (
    DEFAULT_READ_PROPERTIES,
    Record,
    Records,
    Tables,
    collector_paused,
    empty_tables,
    iso_from_epoch_ms,
    properties_of,
)
from sandbox.schema_registry import SYSTEM_PROPERTIES, SchemaRegistry
from sandbox.search_engine import QUERY_PROPERTIES, SEARCH_CACHE_SIZE, SearchEngine
from sandbox.visibility import Visibility

if TYPE_CHECKING:
    from sandbox.generator import GeneratedPortal

__all__ = [
    "DEFAULT_READ_PROPERTIES",
    "MAX_BATCH_INPUTS",
    "MAX_FILTERS",
    "MAX_FILTER_GROUPS",
    "MAX_LIST_LIMIT",
    "MAX_SEARCH_LIMIT",
    "MAX_SEARCH_RESULTS",
    "QUERY_PROPERTIES",
    "ROME",
    "SEARCH_CACHE_SIZE",
    "SYSTEM_PROPERTIES",
    "PortalError",
    "PortalStore",
    "Record",
    "bad_request",
    "batch_envelope",
    "batch_error",
    "iso_from_epoch_ms",
]

ROME = ZoneInfo("Europe/Rome")  # the generated portal's "today" is the portal's date in Rome


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
        # settings and schema numbering outlive a reset; the rest is rebuilt by it
        self._settings = Settings(rate_limit, search_lag_seconds, fault_rate, latency_ms)
        self._limits = Limits(self._settings, seed)
        self._schema = SchemaRegistry(self.clock, provisioned=provisioned)
        self._provisioned = provisioned
        self._lists: Lists | None = None
        self._initial_objects: dict[str, list[dict[str, Any]]] = {}
        self._initial_associations: list[tuple[str, str, str, str]] = []
        # The generator's output (with its buyer profiles), for the demo's simulated activity; None when empty.
        self.generated: GeneratedPortal | None = None
        if companies > 0:
            from sandbox.generator import generate_portal

            with collector_paused():
                portal = generate_portal(companies, seed, today or self.clock.now().astimezone(ROME).date())
            self.generated = portal
            self._initial_objects = portal.objects
            self._initial_associations = list(portal.associations)
        self.reset()

    # ------------------------------------------------------------------ lifecycle and sandbox-only helpers

    def reset(self) -> None:
        """Back to the initially generated portal: records, associations, schema, outbox, statistics."""
        with self._lock:
            self._schema.reset()
            self._limits.reset_counters()
            tables = empty_tables()
            self._indexes = Indexes(tables, self._schema)
            self._visibility = Visibility(self._settings, self.clock)
            self._objects = Records(tables, self.clock, self._schema, self._indexes, self._visibility)
            self._links = Links(self._objects)
            self._search = SearchEngine(
                self._objects, self._schema, self._indexes, self._links, self._visibility, self._settings, self.clock
            )
            self._outbox = Outbox()
            # marketing emails (v3): thread-safe on their own, served without the store lock
            self.marketing_emails = MarketingEmails(self.clock, flywheel_emails() if self._provisioned else ())
            # list ids keep counting across resets; a provisioned portal has Flywheel's list
            self._lists = Lists(
                self._objects, self._schema, self.clock, next_id=self._lists.next_id if self._lists else 1
            )
            self._lists.reset(FLYWHEEL_LISTS if self._provisioned else ())
            with collector_paused():
                self._objects.load(self._initial_objects)
                self._links.load(self._initial_associations)
            if self._initial_objects:
                # The generated portal lives as long as the store: keep the cyclic GC's full collections from
                # rescanning its million objects (reference counting still frees them after a reset).
                gc.freeze()

    @property
    def _records(self) -> Tables:
        """The record tables by type and id, for in-process checks (tests, benchmarks) that hold the lock."""
        return self._objects.tables

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
            self._limits.configure(
                rate_limit=rate_limit,
                search_lag_seconds=search_lag_seconds,
                fault_rate=fault_rate,
                latency_ms=latency_ms,
                throttle_rate=throttle_rate,
                reset_rate=reset_rate,
                on_search_lag=self._search.clear_cache,
            )
            return self._limits.settings_view()

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return self._limits.settings_view()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._limits.stats()

    def outbox(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._outbox.messages()

    def counts(self) -> dict[str, int]:
        """Live (not archived) records per object type."""
        with self._lock:
            return self._objects.counts()

    def all_records(self, object_type: str) -> list[Record]:
        """Copies of every live record of a type, for checks that must not go through the API's limits."""
        with self._lock:
            return self._objects.live_copies(object_type)

    # ------------------------------------------------------------------ call accounting (used by the server)

    def count_call(self, endpoint: str) -> None:
        """Count an API call that is answered before the limits apply (401)."""
        with self._lock:
            self._limits.count_call(endpoint)

    def admit_call(self, endpoint: str) -> Admission:
        """Count one API call and apply the limits: (retry-after seconds if rate limited, latency s, fault), the
        fault an HTTP status (502, 503 before acting, 504 after) or "reset_before" / "reset_after".

        A call refused by the rate limit does not use up the window, so a client that waits Retry-After gets in.
        """
        with self._lock:
            return self._limits.admit_call(endpoint)

    # ------------------------------------------------------------------ schema

    def object_type(self, name: str) -> str:
        normalized = assoc.normalize_object_type(name)
        if normalized is None:
            raise bad_request(f"Unable to infer object type from: {name}")
        return normalized

    def property_definitions(self, object_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._schema.property_definitions(object_type)

    def property_definition(self, object_type: str, name: str) -> dict[str, Any]:
        with self._lock:
            return self._schema.property_definition(object_type, name)

    def create_property(self, object_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._schema.create_property(object_type, definition)

    def property_groups(self, object_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._schema.property_groups(object_type)

    def create_property_group(self, object_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._schema.create_property_group(object_type, definition)

    def pipelines(self, object_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return self._schema.pipelines(object_type)

    def create_pipeline(self, object_type: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        """A new pipeline with its stages, numbered as HubSpot numbers custom pipelines and stages."""
        with self._lock:
            return self._schema.create_pipeline(object_type, definition)

    def pipeline(self, object_type: str, pipeline_id: str) -> dict[str, Any]:
        with self._lock:
            return self._schema.pipeline(object_type, pipeline_id)

    def owners(self, *, email: str | None = None, archived: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            return self._schema.owners(email=email, archived=archived)

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
            return dict(self._objects.require(self.object_type(object_type), str(object_id), archived=None).properties)

    def associated_ids(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        """Ids of the live records of `to_type` associated with one record, for tests and the demo."""
        with self._lock:
            return list(self._links.live(self.object_type(from_type), str(from_id), self.object_type(to_type)))

    # ------------------------------------------------------------------ records: API operations

    def create(
        self, object_type: str, properties: Mapping[str, Any], associations: Sequence[Mapping[str, Any]] = ()
    ) -> Record:
        with self._lock:
            return self._create_all(object_type, [(properties, associations)])[0]

    def create_many(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> list[Record]:
        """Batch create: every input is validated before any record is written (a bad input fails the batch)."""
        with self._lock:
            # a generator: each input's properties are read as it is validated, in order
            return self._create_all(
                object_type, ((properties_of(item), item.get("associations") or []) for item in inputs)
            )

    def update(
        self, object_type: str, object_id: str, properties: Mapping[str, Any], id_property: str | None = None
    ) -> Record:
        with self._lock:
            return self._objects.update(object_type, object_id, properties, id_property)

    def update_many(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> tuple[list[Record], list[str]]:
        """Batch update: (updated records, ids not found). Invalid values fail the whole batch."""
        with self._lock:
            return self._objects.update_many(object_type, inputs)

    def upsert_many(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> list[tuple[Record, bool]]:
        """Batch upsert by a unique property (or by id): (record, created?) per input."""
        with self._lock:
            return self._objects.upsert_many(object_type, inputs)

    def archive(self, object_type: str, object_id: str) -> None:
        with self._lock:
            self._objects.archive(object_type, object_id)

    def archive_many(self, object_type: str, ids: Iterable[str]) -> None:
        with self._lock:
            self._objects.archive_many(object_type, ids)

    def get(
        self, object_type: str, object_id: str, *, archived: bool = False, id_property: str | None = None
    ) -> Record:
        with self._lock:
            return self._objects.get(object_type, object_id, archived=archived, id_property=id_property)

    def read_many(
        self, object_type: str, ids: Iterable[str], id_property: str | None = None, archived: bool = False
    ) -> tuple[list[Record], list[str]]:
        with self._lock:
            return self._objects.read_many(object_type, ids, id_property, archived)

    def list_page(
        self, object_type: str, *, limit: int, after: str | None, archived: bool
    ) -> tuple[list[Record], str | None]:
        """One page of records in id order starting at the cursor `after` (the id of the first record to show)."""
        with self._lock:
            return self._objects.list_page(object_type, limit=limit, after=after, archived=archived)

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
            return self._objects.read_view(object_type, record, requested, properties, every=every)

    def v3_associations(self, object_type: str, object_id: str, to_types: Sequence[str]) -> dict[str, Any]:
        """The `associations` member of a v3 read: {to type: {"results": [{"id", "type"}]}} (non-empty only)."""
        with self._lock:
            return self._links.v3_associations(object_type, object_id, to_types)

    def _create_all(
        self, object_type: str, inputs: Iterable[tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]]
    ) -> list[Record]:
        """Validate every input (values and associations), then create each record with its associations."""
        prepared = [
            (
                self._objects.validated_new(object_type, properties),
                self._links.validated_for_create(object_type, associations),
            )
            for properties, associations in inputs
        ]
        created = []
        for values, links in prepared:
            record = self._objects.insert(object_type, values)
            for to_type, to_id, type_id in links:
                self._links.add(object_type, record.id, to_type, to_id, type_id)
            created.append(record)
        return created

    # ------------------------------------------------------------------ search

    def search(self, object_type: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """The body of POST /crm/v3/objects/{type}/search."""
        with self._lock:
            return self._search.search(object_type, request)

    # ------------------------------------------------------------------ associations (v4)

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None = None) -> int:
        """Associate two records (both must exist); returns the type id used (the pair's default if None)."""
        with self._lock:
            return self._links.link(from_type, from_id, to_type, to_id, type_id)

    def unlink(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        with self._lock:
            self._links.unlink(from_type, from_id, to_type, to_id)

    def links_of(self, from_type: str, from_id: str, to_type: str) -> dict[str, list[int]]:
        """Live associations of one record to a type: to id -> type ids."""
        with self._lock:
            return self._links.links_of(from_type, from_id, to_type)

    def exists(self, object_type: str, object_id: str) -> bool:
        with self._lock:
            return self._objects.exists(object_type, object_id)

    # ------------------------------------------------------------------ lists (v3)

    @property
    def _list_book(self) -> Lists:
        assert self._lists is not None  # built by reset() in __init__
        return self._lists

    def create_list(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The body of POST /crm/v3/lists: {"list": {...}}."""
        with self._lock:
            return self._list_book.create(body)

    def get_list(self, list_id: str, *, include_filters: bool = False) -> dict[str, Any]:
        with self._lock:
            return self._list_book.get(list_id, include_filters=include_filters)

    def list_by_name(self, object_type_id: str, name: str, *, include_filters: bool = False) -> dict[str, Any]:
        with self._lock:
            return self._list_book.by_name(object_type_id, name, include_filters=include_filters)

    def list_memberships(self, list_id: str, *, limit: int = 100, after: str | None = None) -> dict[str, Any]:
        """A page of a list's members (record ids in order, with the time each joined)."""
        with self._lock:
            return self._list_book.memberships(list_id, limit=limit, after=after)

    def record_list_memberships(self, object_type_id: str, record_id: str) -> dict[str, Any]:
        with self._lock:
            return self._list_book.record_memberships(object_type_id, record_id)

    # ------------------------------------------------------------------ single send

    def single_send(self, body: Mapping[str, Any]) -> dict[str, Any]:
        check_single_send(body)
        now = self.clock.iso_now()
        with self._lock:
            return self._outbox.single_send(body, now)
