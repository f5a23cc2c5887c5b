"""The Crm port over HubSpot's public API, through hubspot-api-client.

Built for long batch runs inside HubSpot's limits:
- the client is created on first use (never at import or construction), once per instance, with urllib3's own
  retries turned off so that a single policy acts: ours (`flywheel.adapters.ratelimit`);
- every HTTP call goes through a client-side rolling-window rate limiter, and 429 / 5xx / network failures are
  retried, honouring `Retry-After`, wherever repeating the request is harmless (reads, searches, batch reads,
  batch updates, association reads and default-association PUTs); a create is only repeated after a 429 or a
  refused connection, when HubSpot certainly did not process it;
- lists go 100 a page, searches 200 a page, batches 100 inputs a call; searches are partitioned on
  `hs_object_id` so that more than 10,000 matches are all returned without ever paging past 10,000.

Request bodies are plain dicts in HubSpot's JSON shape (the client serialises them as they are). Answers are
taken as JSON (`_preload_content=False`, a parameter of every client method) and mapped straight to `CrmRecord`:
building the client's models for a 200-record search page costs about 70 ms of dateutil parsing of
`createdAt`/`updatedAt`, which Flywheel never reads, more than the sandbox takes to answer.

Log lines carry ids, counts and statuses only: never property values, which may be personal data.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from flywheel.adapters.ratelimit import (
    Failure,
    RequestFailed,
    RetryPolicy,
    RollingWindowLimiter,
    call_with_retries,
    parse_retry_after,
)
from flywheel.clock import RunBudget
from flywheel.domain.models import CrmRecord, Owner, Page, Pipeline, Stage
from flywheel.ports import AssociationTarget, CrmError, Filter, RecordRefusal

log = logging.getLogger(__name__)

# values of one IN filter: one search answers up to 100 keys
MAX_IN_VALUES = 100

T = TypeVar("T")
Json = dict[str, Any]

LIST_PAGE_SIZE = 100
BATCH_SIZE = 100
SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000

# HubSpot-defined default (unlabeled) association type ids, from -> to, as HubSpot documents them ("Associate
# records", v4 associations guide, association type IDs) for every pair of the port's object types documented in
# both directions. `create` associates these pairs in the create call itself; any other pair (carts with companies)
# gets HubSpot's own default through one more call. The sandbox keeps its own table (sandbox/associations.py) on
# purpose; tests/integration/test_crm_contract.py pins both to the documented ids.
DEFAULT_ASSOCIATION_TYPE_IDS: Mapping[tuple[str, str], int] = {
    ("companies", "contacts"): 280,
    ("companies", "deals"): 342,
    ("companies", "tasks"): 191,
    ("companies", "notes"): 189,
    ("companies", "calls"): 181,
    ("companies", "emails"): 185,
    ("companies", "meetings"): 187,
    ("contacts", "companies"): 279,
    ("contacts", "deals"): 4,
    ("contacts", "tasks"): 203,
    ("contacts", "notes"): 201,
    ("contacts", "calls"): 193,
    ("contacts", "emails"): 197,
    ("contacts", "meetings"): 199,
    ("contacts", "carts"): 587,
    ("deals", "companies"): 341,
    ("deals", "contacts"): 3,
    ("deals", "tasks"): 215,
    ("deals", "notes"): 213,
    ("deals", "calls"): 205,
    ("deals", "emails"): 209,
    ("deals", "meetings"): 211,
    ("deals", "line_items"): 19,
    ("deals", "carts"): 1346,
    ("tasks", "companies"): 192,
    ("tasks", "contacts"): 204,
    ("tasks", "deals"): 216,
    ("notes", "companies"): 190,
    ("notes", "contacts"): 202,
    ("notes", "deals"): 214,
    ("calls", "companies"): 182,
    ("calls", "contacts"): 194,
    ("calls", "deals"): 206,
    ("emails", "companies"): 186,
    ("emails", "contacts"): 198,
    ("emails", "deals"): 210,
    ("meetings", "companies"): 188,
    ("meetings", "contacts"): 200,
    ("meetings", "deals"): 212,
    ("line_items", "deals"): 20,
    ("line_items", "carts"): 591,
    ("carts", "contacts"): 586,
    ("carts", "deals"): 1347,
    ("carts", "line_items"): 590,
}

# Association keys as the object endpoints may spell them -> the plural object-type names of the ports.
_ASSOCIATION_KEY_ALIASES: Mapping[str, str] = {
    "company": "companies",
    "contact": "contacts",
    "deal": "deals",
    "task": "tasks",
    "note": "notes",
    "cart": "carts",
    "line_item": "line_items",
    "call": "calls",
    "email": "emails",
    "meeting": "meetings",
    "ticket": "tickets",
    "product": "products",
    "quote": "quotes",
}

_SEARCH_CURSOR_PREFIX = "p1"


def normalise_object_type(name: str) -> str:
    """'company', 'Companies', 'line items' -> 'companies', 'companies', 'line_items'."""
    key = name.strip().lower().replace(" ", "_")
    return _ASSOCIATION_KEY_ALIASES.get(key, key)


def encode_search_cursor(floor_id: str | None, offset: int) -> str:
    """A search position: records with hs_object_id above `floor_id` (all when None), skipping `offset`."""
    return f"{_SEARCH_CURSOR_PREFIX}:{floor_id or ''}:{offset}"


def decode_search_cursor(cursor: str | None) -> tuple[str | None, int]:
    if cursor is None:
        return None, 0
    parts = cursor.split(":")
    if len(parts) != 3 or parts[0] != _SEARCH_CURSOR_PREFIX or not parts[2].isdigit():
        raise ValueError(f"not a search cursor of this adapter: {cursor!r}")
    return (parts[1] or None), int(parts[2])


class HubSpotCrm:
    """flywheel.ports.Crm over HubSpot (or the sandbox portal: any `api_base` speaking HubSpot's API)."""

    def __init__(
        self,
        *,
        api_base: str,
        access_token: str,
        rate_limit_per_10s: int = 190,
        max_retries: int = 6,
        timeout_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        budget: RunBudget | None = None,
    ) -> None:
        self._api_base = api_base.rstrip("/")
        self._access_token = access_token
        self._timeout = timeout_seconds
        self._sleep = sleep
        # the app's one rate limit: the HubSpot mailer takes its calls through this same limiter
        self.limiter = RollingWindowLimiter(rate_limit_per_10s, monotonic=monotonic, sleep=sleep)
        self.policy = RetryPolicy(max_retries=max_retries)
        self.budget = budget
        self._client: Any = None
        self._apis: dict[str, Any] = {}
        self._client_lock = threading.Lock()
        self._calls = 0
        self._calls_lock = threading.Lock()

    # --- Crm ---------------------------------------------------------------------------------------------------

    @property
    def calls_made(self) -> int:
        return self._calls

    def owners(self) -> list[Owner]:
        api = self._api("owners")
        owners: list[Owner] = []
        after: str | None = None
        while True:
            page = self._call("owners page", partial(api.get_page, limit=LIST_PAGE_SIZE, after=after, archived=False))
            for owner in _results(page):
                owners.append(
                    Owner(
                        id=str(owner["id"]),
                        email=owner.get("email") or "",
                        first_name=owner.get("firstName") or "",
                        last_name=owner.get("lastName") or "",
                    )
                )
            after = _next_after(page)
            if after is None:
                return owners

    def pipelines(self, object_type: str) -> list[Pipeline]:
        answer = self._call(f"{object_type} pipelines", partial(self._api("pipelines").get_all, object_type))
        pipelines: list[Pipeline] = []
        for pipeline in _results(answer):
            stages = sorted(pipeline.get("stages") or [], key=lambda s: s.get("displayOrder") or 0)
            pipelines.append(
                Pipeline(
                    id=str(pipeline["id"]),
                    label=pipeline.get("label") or "",
                    stages=tuple(_stage(s) for s in stages),
                )
            )
        return pipelines

    def list_pages(
        self,
        object_type: str,
        properties: Sequence[str],
        *,
        associations: Sequence[str] = (),
        after: str | None = None,
        archived: bool = False,
    ) -> Iterator[Page]:
        api = self._api("objects.basic")
        wanted = tuple(normalise_object_type(a) for a in associations)
        cursor = after
        while True:
            answer = self._call(
                f"list {object_type}",
                partial(
                    api.get_page,
                    object_type,
                    limit=LIST_PAGE_SIZE,
                    after=cursor,
                    properties=list(properties) or None,
                    associations=list(associations) or None,
                    archived=archived,
                ),
            )
            records = [_record(obj, wanted) for obj in _results(answer)]
            if wanted:
                records = self._complete_associations(object_type, _results(answer), records)
            cursor = _next_after(answer)
            yield Page(records=tuple(records), after=cursor)
            if cursor is None:
                return

    def search_pages(
        self,
        object_type: str,
        filters: Sequence[Filter],
        properties: Sequence[str],
        *,
        after: str | None = None,
    ) -> Iterator[Page]:
        api = self._api("objects.search")
        floor_id, offset = decode_search_cursor(after)
        base_filters = [_filter_json(f) for f in filters]
        while True:
            partition = [{"propertyName": "hs_object_id", "operator": "GT", "value": floor_id}] if floor_id else []
            conditions = base_filters + partition
            body: dict[str, Any] = {
                "filterGroups": [{"filters": conditions}] if conditions else [],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": list(properties),
                "limit": SEARCH_PAGE_SIZE,
            }
            if offset:
                body["after"] = str(offset)
            answer = self._call(f"search {object_type}", partial(api.do_search, object_type, body))
            records = tuple(_record(obj, ()) for obj in _results(answer))
            following = _next_after(answer)
            next_offset = int(following) if following is not None and following.isdigit() else None
            if following is None:
                yield Page(records=records, after=None)
                return
            if next_offset is not None and next_offset + SEARCH_PAGE_SIZE <= SEARCH_RESULT_CAP:
                offset = next_offset
            elif records:
                # the next page would reach past the 10,000-result cap: open a new partition above this page
                floor_id, offset = _highest_id(records), 0
            else:
                # nothing on this page to partition above (all of it still settling into the index): a new
                # partition would start over, so end here rather than loop; the next run sees the rest
                log.warning("search of %s ended at an empty page at the result cap", object_type)
                yield Page(records=records, after=None)
                return
            # a page may be short, even empty, while records settle into the search index: go on while
            # HubSpot says there is more
            yield Page(records=records, after=encode_search_cursor(floor_id, offset))

    def read_batch(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> list[CrmRecord]:
        api = self._api("objects.batch")
        unique = list(dict.fromkeys(str(i) for i in ids))
        found: dict[str, CrmRecord] = {}
        for chunk in _chunks(unique, BATCH_SIZE):
            body = {"inputs": [{"id": i} for i in chunk], "properties": list(properties), "propertiesWithHistory": []}
            try:
                answer = self._call(f"batch read {object_type}", partial(api.read, object_type, body, archived=False))
            except CrmError as error:
                if error.status == 404:  # none of the ids exists
                    continue
                raise
            for obj in _results(answer):
                record = _record(obj, ())
                found[record.id] = record
        missing = len(unique) - len(found)
        if missing:
            log.info("batch read of %d %s: %d ids not found", len(unique), object_type, missing)
        return [found[i] for i in unique if i in found]

    def update_batch(self, object_type: str, updates: Sequence[tuple[str, Mapping[str, str]]]) -> list[RecordRefusal]:
        api = self._api("objects.batch")
        # one input per id (HubSpot refuses duplicate ids in a batch); later updates win, as if applied in order
        merged: dict[str, dict[str, str]] = {}
        for record_id, properties in updates:
            merged.setdefault(str(record_id), {}).update(properties)
        refusals: list[RecordRefusal] = []
        for chunk in _chunks(list(merged.items()), BATCH_SIZE):
            refusals += self._update_chunk(object_type, api, chunk)
        if refusals:
            log.warning("batch update of %d %s: %d refused", len(merged), object_type, len(refusals))
        return refusals

    def _update_chunk(
        self, object_type: str, api: Any, chunk: Sequence[tuple[str, dict[str, str]]]
    ) -> list[RecordRefusal]:
        """One batch. A 207 names the records it refused; a 400 refuses the whole batch for one bad input, so the
        batch is halved until the bad record stands alone and everything else is applied (a batch update is
        idempotent, so sending a half again is safe)."""
        body = {"inputs": [{"id": i, "properties": props} for i, props in chunk]}
        try:
            answer = self._call(f"batch update {object_type}", partial(api.update, object_type, body))
        except CrmError as error:
            if error.transient or error.status != 400:
                raise
            if len(chunk) == 1:
                return [RecordRefusal(chunk[0][0], 400, str(error))]
            middle = len(chunk) // 2
            return self._update_chunk(object_type, api, chunk[:middle]) + self._update_chunk(
                object_type, api, chunk[middle:]
            )
        refusals = []
        for entry in answer.get("errors") or []:
            status = 404 if entry.get("category") == "OBJECT_NOT_FOUND" else _int_or(entry.get("status"), 400)
            reason = f"{entry.get('category') or 'REFUSED'}: {entry.get('message') or ''}".strip()
            refusals += [RecordRefusal(record_id, status, reason) for record_id in _error_ids(entry)]
        return refusals

    def create(
        self,
        object_type: str,
        properties: Mapping[str, str],
        associations: Sequence[AssociationTarget] = (),
    ) -> CrmRecord:
        in_body: list[dict[str, Any]] = []
        afterwards: list[AssociationTarget] = []
        for target in associations:
            type_id = DEFAULT_ASSOCIATION_TYPE_IDS.get((object_type, normalise_object_type(target.to_object_type)))
            if type_id is None:
                afterwards.append(target)
                continue
            in_body.append(
                {
                    "to": {"id": str(target.to_id)},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                }
            )
        body = {"properties": dict(properties), "associations": in_body}
        created = self._call(
            f"create {object_type}",
            partial(self._api("objects.basic").create, object_type, body),
            repeat_safe=False,
        )
        record_id = str(created["id"])
        for target in afterwards:
            # a default association is a PUT of a fixed pair: repeating it is harmless
            self._call(
                f"default association {object_type}->{target.to_object_type}",
                partial(
                    self._api("associations.basic").create_default,
                    object_type,
                    record_id,
                    normalise_object_type(target.to_object_type),
                    str(target.to_id),
                ),
            )
        linked: dict[str, list[str]] = {}
        for target in associations:
            linked.setdefault(normalise_object_type(target.to_object_type), []).append(str(target.to_id))
        log.info("created %s %s with %d associations", object_type, record_id, len(associations))
        return CrmRecord(
            id=record_id,
            properties=_properties(created),
            associations={k: tuple(v) for k, v in linked.items()},
            archived=bool(created.get("archived", False)),
        )

    def create_batch(self, object_type: str, inputs: Sequence[Mapping[str, str]]) -> list[CrmRecord]:
        """Create records in ONE batch call (HubSpot takes at most 100 inputs; more is refused with 400).

        Not part of the Crm port (services create one keyed record at a time): for seeding and provisioning.
        Like `create`, it is never repeated after a 5xx or a timeout, only after a 429.
        """
        body = {"inputs": [{"properties": dict(properties)} for properties in inputs]}
        answer = self._call(
            f"batch create {object_type}",
            partial(self._api("objects.batch").create, object_type, body),
            repeat_safe=False,
        )
        errors = answer.get("errors") or []
        if errors:
            status = _int_or(errors[0].get("status"), 400)
            raise CrmError(
                f"HubSpot refused {len(errors)} of {len(inputs)} {object_type} creates",
                status=status,
                transient=status == 429 or status >= 500,
            )
        return [_record(obj, ()) for obj in _results(answer)]

    def associated_ids(self, from_object_type: str, to_object_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        api = self._api("associations.batch")
        to_type = normalise_object_type(to_object_type)
        unique = list(dict.fromkeys(str(i) for i in ids))
        linked: dict[str, dict[str, None]] = {i: {} for i in unique}  # dict as an ordered set
        pending: list[dict[str, str]] = [{"id": i} for i in unique]
        while pending:
            following: list[dict[str, str]] = []
            for chunk in _chunks(pending, BATCH_SIZE):
                answer = self._call(
                    f"associations {from_object_type}->{to_type}",
                    partial(api.get_page, from_object_type, to_type, {"inputs": chunk}),
                )
                for result in _results(answer):
                    from_id = str(result["from"]["id"])
                    targets = linked.setdefault(from_id, {})
                    for associated in result.get("to") or []:
                        targets[str(associated["toObjectId"])] = None
                    after = _next_after(result)
                    if after is not None:
                        following.append({"id": from_id, "after": after})
                # errors of a 207 are ids without associations of this type: they keep an empty list
            pending = following
        return {i: list(targets) for i, targets in linked.items()}

    def find_by_values(self, object_type: str, property_name: str, values: Sequence[str]) -> dict[str, CrmRecord]:
        # search matches text case-insensitively: map each hit back to the value asked for, ignoring case
        wanted = {value.lower(): value for value in values}
        found: dict[str, CrmRecord] = {}
        for chunk in _chunks(sorted(wanted.values()), MAX_IN_VALUES):
            filters = [Filter(property_name, "IN", values=tuple(chunk))]
            for page in self.search_pages(object_type, filters, [property_name]):
                for record in page.records:
                    value = wanted.get((record.prop(property_name) or "").lower())
                    if value is not None and value not in found:
                        found[value] = record
        return found

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _api(self, name: str) -> Any:
        """The client's API object `name`, built on first use; the client itself is built once per instance."""
        with self._client_lock:
            api = self._apis.get(name)
            if api is None:
                if self._client is None:
                    self._client = self._build_client()
                api = _API_FACTORIES[name](self._client)
                self._apis[name] = api
            return api

    def _build_client(self) -> Any:
        from hubspot import Client  # imported here: a cold start that never reaches HubSpot does not pay for it

        # retry=False hands urllib3 `retries=False`: no hidden retries (of POSTs either) under our policy
        return Client.create(
            access_token=self._access_token,
            host=self._api_base,
            retry=False,
            connection_pool_maxsize=16,
        )

    def _call(self, what: str, request: Callable[..., Any], *, repeat_safe: bool = True) -> Json:
        """One API call of the client, limited and retried; its answer as JSON (an empty dict if none)."""

        def attempt() -> Json:
            response = request(_request_timeout=self._timeout, _preload_content=False)
            try:
                data = response.data  # read inside the attempt: a connection lost mid-body is retried too
            finally:
                response.release_conn()
            parsed = json.loads(data) if data else {}
            return parsed if isinstance(parsed, dict) else {"results": parsed}

        try:
            return call_with_retries(
                attempt,
                classify=classify_failure,
                policy=self.policy,
                limiter=self.limiter,
                budget=self.budget,
                sleep=self._sleep,
                repeat_safe=repeat_safe,
                on_attempt=self._count_call,
            )
        except RequestFailed as failed:
            failure = failed.failure
            log.warning("HubSpot %s failed after %d attempt(s): status %s", what, failed.attempts, failure.status)
            budget = "; the run's time budget left no room to retry" if failed.out_of_time else ""
            raise CrmError(
                f"HubSpot {what} failed (status {failure.status}, {failed.attempts} attempts): {failure.message}"
                f"{budget}",
                status=failure.status,
                transient=failure.transient,
            ) from failed

    def _count_call(self) -> None:
        with self._calls_lock:
            self._calls += 1

    def _complete_associations(
        self, object_type: str, objects: Sequence[Json], records: list[CrmRecord]
    ) -> list[CrmRecord]:
        """The list endpoint pages a record's associations when there are many: read the rest through v4."""
        truncated: dict[str, list[str]] = {}
        for obj in objects:
            for key, collection in (obj.get("associations") or {}).items():
                if _next_after(collection) is not None:
                    truncated.setdefault(normalise_object_type(key), []).append(str(obj["id"]))
        if not truncated:
            return records
        complete = {to_type: self.associated_ids(object_type, to_type, ids) for to_type, ids in truncated.items()}
        completed: list[CrmRecord] = []
        for record in records:
            associations = dict(record.associations)
            for to_type, by_id in complete.items():
                if record.id in by_id:
                    associations[to_type] = tuple(by_id[record.id])
            completed.append(
                CrmRecord(
                    id=record.id, properties=record.properties, associations=associations, archived=record.archived
                )
            )
        return completed


_API_FACTORIES: Mapping[str, Callable[[Any], Any]] = {
    "objects.basic": lambda client: client.crm.objects.basic_api,
    "objects.batch": lambda client: client.crm.objects.batch_api,
    "objects.search": lambda client: client.crm.objects.search_api,
    "associations.batch": lambda client: client.crm.associations.v4.batch_api,
    "associations.basic": lambda client: client.crm.associations.v4.basic_api,
    "pipelines": lambda client: client.crm.pipelines.pipelines_api,
    "owners": lambda client: client.crm.owners.owners_api,
}


# --- failures ----------------------------------------------------------------------------------------------


def classify_failure(error: Exception) -> Failure | None:
    """A failed HTTP call as a Failure; None for anything else (a bug: let it propagate)."""
    from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError

    if _is_api_exception(error):
        status = getattr(error, "status", None)
        if not isinstance(status, int) or status == 0:  # the client's way of reporting an SSL failure
            return Failure(status=None, message=_scrub(str(getattr(error, "reason", "")) or type(error).__name__))
        headers = getattr(error, "headers", None) or {}
        retry_after = parse_retry_after(headers.get("Retry-After") if hasattr(headers, "get") else None)
        return Failure(status=status, message=_error_summary(error), retry_after=retry_after)
    if isinstance(error, NewConnectionError | ConnectTimeoutError):
        # no connection, so no request: HubSpot cannot have acted on it
        return Failure(status=None, message=type(error).__name__, sent=False)
    if isinstance(error, HTTPError | OSError):
        return Failure(status=None, message=type(error).__name__)
    return None


def _is_api_exception(error: Exception) -> bool:
    # each API package of hubspot-api-client has its own ApiException; all derive from an OpenApiException
    return any(cls.__name__ == "OpenApiException" for cls in type(error).__mro__)


_QUOTED = re.compile(r"(\"(?:[^\"\\]|\\.)*\"|'[^']*')(\s*:)?")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# quoted text kept in error messages: error codes (INVALID_EMAIL) and property names (hs_email_optout)
_HARMLESS = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


def _scrub(text: str) -> str:
    """Error text without values that may be personal data: quoted text is kept only when it is a JSON key,
    an error code or a property name; email addresses go wherever they are."""

    def keep_or_hide(match: re.Match[str]) -> str:
        quoted, colon = match.group(1), match.group(2)
        if colon or _HARMLESS.fullmatch(quoted[1:-1]):
            return match.group(0)
        return quoted[0] + "…" + quoted[-1]

    return _EMAIL.sub("<email>", _QUOTED.sub(keep_or_hide, text))[:500]


def _error_summary(error: Exception) -> str:
    body = getattr(error, "body", None)
    try:
        parsed = json.loads(body) if isinstance(body, str | bytes) and body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        category = parsed.get("category") or "error"
        return f"{category}: {_scrub(str(parsed.get('message', '')))}"
    return _scrub(str(getattr(error, "reason", "") or "error"))


# --- mapping -----------------------------------------------------------------------------------------------


def _results(answer: Json) -> list[Json]:
    results = answer.get("results")
    return results if isinstance(results, list) else []


def _next_after(answer: Json) -> str | None:
    after = ((answer.get("paging") or {}).get("next") or {}).get("after")
    return None if after in (None, "") else str(after)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _properties(obj: Json) -> dict[str, str | None]:
    return {str(k): _text(v) for k, v in (obj.get("properties") or {}).items()}


def _record(obj: Json, wanted_associations: Sequence[str]) -> CrmRecord:
    associations: dict[str, dict[str, None]] = {name: {} for name in wanted_associations}
    for key, collection in (obj.get("associations") or {}).items():
        ids = associations.setdefault(normalise_object_type(key), {})
        for associated in _results(collection):
            ids[str(associated["id"])] = None  # one entry per association type: keep each id once
    return CrmRecord(
        id=str(obj["id"]),
        properties=_properties(obj),
        associations={k: tuple(v) for k, v in associations.items()},
        archived=bool(obj.get("archived", False)),
    )


def _stage(stage: Json) -> Stage:
    metadata = stage.get("metadata") or {}
    probability = metadata.get("probability")
    try:
        parsed = float(probability) if probability not in (None, "") else None
    except (TypeError, ValueError):
        parsed = None
    return Stage(
        id=str(stage["id"]),
        label=stage.get("label") or "",
        is_closed=str(metadata.get("isClosed", "false")).strip().lower() == "true",
        probability=parsed,
    )


def _filter_json(condition: Filter) -> dict[str, Any]:
    body: dict[str, Any] = {"propertyName": condition.property_name, "operator": condition.operator}
    if condition.value is not None:
        body["value"] = condition.value
    if condition.values is not None:
        body["values"] = list(condition.values)
    if condition.high_value is not None:
        body["highValue"] = condition.high_value
    return body


def _highest_id(records: Sequence[CrmRecord]) -> str:
    return max((r.id for r in records), key=lambda i: (len(i), i))  # numeric order of decimal ids


def _error_ids(error: Json) -> list[str]:
    context = error.get("context") or {}
    ids = context.get("ids") or context.get("id") or []
    return [str(i) for i in ids]


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
