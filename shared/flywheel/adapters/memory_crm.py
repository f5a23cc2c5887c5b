"""An in-memory fake of the `Crm` port with HubSpot's semantics, for unit tests of services.

It behaves as the HubSpot adapter does from the outside: 100 records per list page and per batch, 200 per
search page in ascending `hs_object_id` order, filters ANDed with HubSpot's operators and values compared by the
property's type, archived records never found by search, associations readable from both ends, a value HubSpot
would refuse for its property's type (a number, a date) refused, and `calls_made` counting the HTTP calls the
real adapter would make (one per page, per batch of 100, per create and per association it adds after a create,
per half of a batch refused for a bad value). Seeding helpers (`add`, `add_company`, `add_contact`, `add_order`,
...) write directly, check nothing and count no calls, so a test measures only its own code.
tests/integration/test_crm_contract.py runs the same checks on this fake and on the adapter over the sandbox.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Final, Literal, TypeVar

from flywheel.adapters.hubspot import DEFAULT_ASSOCIATION_TYPE_IDS as _IN_CREATE
from flywheel.config import PortalContract
from flywheel.domain.models import CrmRecord, Owner, Page, Pipeline, Stage
from flywheel.ports import AssociationTarget, CrmError, Filter, RecordRefusal

LIST_PAGE_SIZE: Final = 100
BATCH_SIZE: Final = 100
SEARCH_PAGE_SIZE: Final = 200

OBJECT_TYPES: Final = frozenset(
    {"companies", "contacts", "deals", "tasks", "notes", "carts", "line_items", "calls", "emails", "meetings"}
)
# `associations.company`-style search pseudo-properties and list `associations=` parameters use singular names
_SINGULAR_TO_PLURAL: Final = {
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
}
_DEFAULT_PROPERTIES: Final = ("hs_object_id", "createdate", "hs_lastmodifieddate")
# what HubSpot stores for an existing customer contacted on legitimate interest
DEFAULT_LEGAL_BASIS: Final = "Legitimate interest – existing customer"

StageSpec = tuple[str, bool, float | None]  # label, is_closed, probability


@dataclass
class _Stored:
    properties: dict[str, str]
    archived: bool = False


@dataclass
class _Failure:
    error: Exception
    # True: the call takes effect and then fails (a timeout after HubSpot acted), as a crash mid-effect would
    after_effect: bool


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _hubspot_timestamp(instant: datetime) -> str:
    """HubSpot's datetime text: UTC, millisecond precision, `Z` suffix."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number_text(amount: float) -> str:
    return str(int(amount)) if float(amount).is_integer() else repr(float(amount))


def _plural(object_type: str) -> str:
    return _SINGULAR_TO_PLURAL.get(object_type, object_type)


def _id_order(record_id: str) -> tuple[int, str]:
    """HubSpot ids are numbers written as text: order them as numbers (anything else after them)."""
    return (int(record_id), "") if record_id.isdigit() else (1 << 62, record_id)


# --- HubSpot search value semantics -----------------------------------------------------------------------

# HubSpot compares a search value by the type of the property: numbers as numbers, dates and datetimes as
# instants, anything else (string, enumeration, bool) as text without case, even when it looks like a number
# (a phone number "0212345678" is not equal to "212345678"). The fake knows the types of HubSpot's own properties
# below and of the portal contract's; `define_property` teaches it others. A property it does not know is compared
# by what its values look like: as numbers when both are numbers, else as instants when both are, else as text.
PropertyType = Literal["string", "number", "date", "datetime", "enumeration", "bool"]

_HUBSPOT_PROPERTY_TYPES: Final[Mapping[str, Mapping[str, PropertyType]]] = {
    "*": {
        "hs_object_id": "number",
        "createdate": "datetime",
        "hs_lastmodifieddate": "datetime",
        "hubspot_owner_id": "enumeration",
        "hs_timestamp": "datetime",
    },
    "companies": {"name": "string", "domain": "string", "phone": "string", "city": "string"},
    "contacts": {"email": "string", "firstname": "string", "lastname": "string", "phone": "string"},
    "deals": {
        "dealname": "string",
        "amount": "number",
        "closedate": "datetime",
        "pipeline": "enumeration",
        "dealstage": "enumeration",
    },
    "tasks": {
        "hs_task_subject": "string",
        "hs_task_status": "enumeration",
        "hs_task_type": "enumeration",
        "hs_task_priority": "enumeration",
    },
    "line_items": {"quantity": "number", "price": "number", "amount": "number"},
    "carts": {"hs_total_price": "number"},
}


def _contract_property_types(contract: PortalContract) -> dict[str, dict[str, PropertyType]]:
    """The types of the properties the portal contract names (as infra/portal.py provisions or verifies them)."""
    c = contract
    return {
        "companies": {
            c.company_name: "string",
            c.province: "string",
            c.phone: "string",
            c.category: "enumeration",
            c.dp_level: "enumeration",
            c.ecommerce_status: "enumeration",
            c.available_credit: "number",
            c.cashback_available: "number",
            c.sirank: "number",
            c.last_purchase_date: "date",
            c.retention_segment: "enumeration",
            c.revenue_mtd: "number",
            c.revenue_prev_month: "number",
            c.revenue_ytd: "number",
            c.nurture_step: "number",
            c.nurture_status: "enumeration",
        },
        "contacts": {c.contact_email: "string", c.contact_optout: "bool", c.contact_legal_basis: "enumeration"},
        "deals": {
            c.flywheel_key: "string",
            c.wakeup_appointment_at: "datetime",
            c.wakeup_appointment_kind: "enumeration",
            c.wakeup_notes: "string",
        },
        "tasks": {c.flywheel_key: "string"},
    }


def _as_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _as_instant(text: str) -> float | None:
    """Epoch milliseconds of a datetime written as epoch ms, an ISO datetime or an ISO date (midnight UTC)."""
    stripped = text.strip()
    if stripped.lstrip("-").isdigit():
        return float(stripped)
    try:
        if len(stripped) == 10:
            parsed = datetime.combine(date.fromisoformat(stripped), time(0), tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp() * 1000


_Ordered = TypeVar("_Ordered", float, str)


def _order(left: _Ordered, right: _Ordered) -> int:
    return (left > right) - (left < right)


def _compare(left: str, right: str, kind: PropertyType | None) -> int | None:
    """-1, 0 or 1 as HubSpot orders two values of a property of this type; None when they cannot be compared
    (a stored value that is not a number, for a number property)."""
    if kind == "number" or kind is None:
        left_number, right_number = _as_number(left), _as_number(right)
        if left_number is not None and right_number is not None:
            return _order(left_number, right_number)
        if kind == "number":
            return None
    if kind in ("date", "datetime") or kind is None:
        left_instant, right_instant = _as_instant(left), _as_instant(right)
        if left_instant is not None and right_instant is not None:
            return _order(left_instant, right_instant)
        if kind is not None:
            return None
    return _order(left.casefold(), right.casefold())


_OPERATORS: Final = frozenset(
    {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"}
)
_ORDERINGS: Final[Mapping[str, Callable[[int], bool]]] = {
    "LT": lambda c: c < 0,
    "LTE": lambda c: c <= 0,
    "GT": lambda c: c > 0,
    "GTE": lambda c: c >= 0,
}


def _check_filter(flt: Filter, kind: PropertyType | None) -> None:
    """A malformed filter is a 400 whether or not any record would reach it; so is a value that is not a number
    (or a date) for a number (or date) property."""
    operator = flt.operator.upper()
    if operator not in _OPERATORS:
        raise CrmError(f"unknown search operator {flt.operator!r}", status=400)
    if operator in ("IN", "NOT_IN") and not flt.values:
        raise CrmError(f"{operator} on {flt.property_name!r} needs a non-empty `values`", status=400)
    if operator not in ("IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY") and flt.value is None:
        raise CrmError(f"{operator} on {flt.property_name!r} needs `value`", status=400)
    if operator == "BETWEEN" and flt.high_value is None:
        raise CrmError(f"BETWEEN on {flt.property_name!r} needs `high_value`", status=400)
    parse = {"number": _as_number, "date": _as_instant, "datetime": _as_instant}.get(kind or "")
    if parse is not None and operator not in ("IN", "NOT_IN"):
        for value in (flt.value, flt.high_value):
            if value is not None and parse(value) is None:
                raise CrmError(f"{value!r} is not a valid {kind} for {flt.property_name!r}", status=400)


def _matches(values: Sequence[str], flt: Filter, kind: PropertyType | None) -> bool:
    """Whether a property with these values (one for a property, many for an association) passes the (checked)
    filter. Like HubSpot, a record without the property never passes a comparison, but does pass NEQ and NOT_IN."""
    operator = flt.operator.upper()
    if operator == "HAS_PROPERTY":
        return bool(values)
    if operator == "NOT_HAS_PROPERTY":
        return not values
    if operator in ("IN", "NOT_IN"):
        found = any(_compare(v, w, kind) == 0 for v in values for w in flt.values or ())
        return found if operator == "IN" else not found
    expected = flt.value or ""
    if operator == "EQ":
        return any(_compare(v, expected, kind) == 0 for v in values)
    if operator == "NEQ":
        return not any(_compare(v, expected, kind) == 0 for v in values)
    if operator == "BETWEEN":
        high = flt.high_value or ""
        return any(
            (low_side := _compare(v, expected, kind)) is not None
            and low_side >= 0
            and (high_side := _compare(v, high, kind)) is not None
            and high_side <= 0
            for v in values
        )
    ordering = _ORDERINGS[operator]
    return any((c := _compare(v, expected, kind)) is not None and ordering(c) for v in values)


# --- the fake ---------------------------------------------------------------------------------------------


class MemoryCrm:
    """The `Crm` port over dictionaries. Thread-safe, so concurrency tests may share one instance."""

    def __init__(self, *, now: Callable[[], datetime] = _utc_now) -> None:
        self._now = now
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, _Stored]] = defaultdict(dict)
        # (object type, id) -> to-object type -> associated ids; kept symmetric
        self._links: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._owners: list[Owner] = []
        self._pipelines: dict[str, list[Pipeline]] = defaultdict(list)
        self._ids = itertools.count(1001)
        self._calls = 0
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._property_types: dict[str, dict[str, PropertyType]] = defaultdict(dict)
        self.contract = PortalContract()

    # --- seeding -------------------------------------------------------------------------------------------

    @classmethod
    def with_default_schema(
        cls, contract: PortalContract | None = None, *, now: Callable[[], datetime] = _utc_now
    ) -> MemoryCrm:
        """A portal with a few reps, the sales assistant, and the deal pipelines the contract names."""
        crm = cls(now=now)
        crm.contract = contract or PortalContract()
        for first, last in (
            ("Marco", "Rossi"),
            ("Giulia", "Bianchi"),
            ("Luca", "Ferrari"),
            ("Chiara", "Romano"),
        ):
            crm.add_owner(f"{first.lower()}.{last.lower()}@sicomputer.it", first, last)
        crm.add_owner(crm.contract.sales_assistant_email, "Sara", "Conti")
        order_stages: list[StageSpec] = [
            ("Qualificato", False, 0.2),
            ("Offerta inviata", False, 0.6),
            ("Chiuso vinto", True, 1.0),
            ("Chiuso perso", True, 0.0),
        ]
        for index, label in enumerate(crm.contract.order_pipelines):
            # HubSpot's own sales pipeline has the id "default" and well-known stage ids
            if index == 0:
                stage_ids = ["qualifiedtobuy", "contractsent", "closedwon", "closedlost"]
                crm.add_pipeline(label, order_stages, pipeline_id="default", stage_ids=stage_ids)
            else:
                crm.add_pipeline(label, order_stages)
        c = crm.contract
        crm.add_pipeline(
            c.wakeup_pipeline,
            [
                (c.wakeup_stage_new, False, 0.1),
                (c.wakeup_stage_contacted, False, 0.2),
                (c.wakeup_stage_interested, False, 0.4),
                (c.wakeup_stage_appointment, False, 0.6),
                (c.wakeup_stage_won, True, 1.0),
                (c.wakeup_stage_lost, True, 0.0),
            ],
        )
        return crm

    def add_owner(self, email: str, first_name: str = "", last_name: str = "", *, owner_id: str | None = None) -> Owner:
        with self._lock:
            owner = Owner(
                id=owner_id or str(90000 + len(self._owners) + 1),
                email=email,
                first_name=first_name,
                last_name=last_name,
            )
            self._owners.append(owner)
            return owner

    def add_pipeline(
        self,
        label: str,
        stages: Sequence[StageSpec],
        *,
        object_type: str = "deals",
        pipeline_id: str | None = None,
        stage_ids: Sequence[str] | None = None,
    ) -> Pipeline:
        with self._lock:
            ids = list(stage_ids) if stage_ids is not None else [str(next(self._ids)) for _ in stages]
            pipeline = Pipeline(
                id=pipeline_id or str(next(self._ids)),
                label=label,
                stages=tuple(
                    Stage(id=stage_id, label=stage_label, is_closed=closed, probability=probability)
                    for stage_id, (stage_label, closed, probability) in zip(ids, stages, strict=True)
                ),
            )
            self._pipelines[object_type].append(pipeline)
            return pipeline

    def add(
        self,
        object_type: str,
        properties: Mapping[str, str],
        associations: Mapping[str, Sequence[str]] | None = None,
    ) -> str:
        """Store a record as it is (no call counted); associations by to-object type, in both directions."""
        with self._lock:
            return self._insert(object_type, properties, associations or {})

    def archive(self, object_type: str, record_id: str) -> None:
        with self._lock:
            self._stored(object_type, record_id).archived = True

    def define_property(self, object_type: str, name: str, property_type: PropertyType) -> None:
        """Tell the fake the HubSpot type of a property, so that search compares its values as HubSpot would."""
        with self._lock:
            self._property_types[object_type][name] = property_type

    def property_type(self, object_type: str, name: str) -> PropertyType | None:
        """The type search compares a property by: defined here, named by the contract, or HubSpot's own."""
        for table in (
            self._property_types.get(object_type, {}),
            _contract_property_types(self.contract).get(object_type, {}),
            _HUBSPOT_PROPERTY_TYPES.get(object_type, {}),
            _HUBSPOT_PROPERTY_TYPES["*"],
        ):
            if name in table:
                return table[name]
        return None

    def get(self, object_type: str, record_id: str) -> CrmRecord:
        """Every property and every association of one record, archived or not (no call counted)."""
        with self._lock:
            stored = self._stored(object_type, record_id)
            links = self._links.get((object_type, record_id), {})
            return CrmRecord(
                id=record_id,
                properties=dict(stored.properties),
                associations={to_type: self._sorted_ids(ids) for to_type, ids in links.items() if ids},
                archived=stored.archived,
            )

    def all(self, object_type: str, *, archived: bool = False) -> list[CrmRecord]:
        """Every record of a type in id order, archived ones only when asked (no call counted)."""
        with self._lock:
            ids = [i for i, s in self._records[object_type].items() if s.archived == archived]
            return [self.get(object_type, i) for i in sorted(ids, key=_id_order)]

    def owner_by_email(self, email: str) -> Owner:
        return next(o for o in self._owners if o.email == email)

    @property
    def sales_assistant(self) -> Owner:
        return self.owner_by_email(self.contract.sales_assistant_email)

    @property
    def reps(self) -> list[Owner]:
        return [o for o in self._owners if o.email != self.contract.sales_assistant_email]

    def pipeline(self, label_or_id: str, object_type: str = "deals") -> Pipeline:
        for pipeline in self._pipelines[object_type]:
            if label_or_id in (pipeline.label, pipeline.id):
                return pipeline
        raise LookupError(f"no {object_type} pipeline {label_or_id!r}")

    def add_company(
        self,
        name: str = "Azienda di Prova S.r.l.",
        *,
        owner_id: str | None = None,
        category: str | None = "reseller",
        **properties: str,
    ) -> str:
        """A company named by the contract's property names; owned by the first rep unless told otherwise.

        Extra keyword properties are HubSpot property names as they are (`sirank="6000"`, `province="MI"`).
        """
        c = self.contract
        values = {c.company_name: name, **properties}
        owner = owner_id if owner_id is not None else (self.reps[0].id if self.reps else None)
        if owner:
            values["hubspot_owner_id"] = owner
        if category is not None:
            values[c.category] = category
        return self.add("companies", values)

    def add_contact(
        self,
        company_id: str | None,
        email: str | None = None,
        *,
        first_name: str = "Mario",
        last_name: str = "Verdi",
        opted_out: bool = False,
        legal_basis: str | None = DEFAULT_LEGAL_BASIS,
        **properties: str,
    ) -> str:
        """A contact of the company (when given), with consent by default: an address and a legal basis."""
        c = self.contract
        with self._lock:
            values = {
                "firstname": first_name,
                "lastname": last_name,
                c.contact_optout: "true" if opted_out else "false",
                **properties,
            }
            values[c.contact_email] = (
                email if email is not None else f"contatto{len(self._records['contacts']) + 1}@example.it"
            )
            if legal_basis is not None:
                values[c.contact_legal_basis] = legal_basis
            return self.add("contacts", values, {"companies": [company_id]} if company_id else None)

    def add_deal(
        self,
        company_id: str | None,
        *,
        pipeline: str,
        stage: str,
        amount: float | None = None,
        closedate: date | datetime | None = None,
        name: str | None = None,
        **properties: str,
    ) -> str:
        """A deal in a pipeline and stage given by label or id, associated with the company when given."""
        found = self.pipeline(pipeline)
        values = {
            "dealname": name or f"Trattativa {len(self._records['deals']) + 1}",
            "pipeline": found.id,
            "dealstage": found.stage_by_label(stage).id,
            **properties,
        }
        if amount is not None:
            values["amount"] = _number_text(amount)
        if closedate is not None:
            values["closedate"] = _closedate_text(closedate)
        return self.add("deals", values, {"companies": [company_id]} if company_id else None)

    def add_order(
        self,
        company_id: str,
        amount: float,
        closedate: date | datetime,
        pipeline: str | None = None,
        won: bool = True,
        **properties: str,
    ) -> str:
        """A closed deal in an order pipeline (the contract's first by default): won (an order) or lost."""
        found = self.pipeline(pipeline or self.contract.order_pipelines[0])
        stage = next(s for s in found.stages if s.is_closed and s.is_won == won)
        return self.add_deal(
            company_id, pipeline=found.id, stage=stage.id, amount=amount, closedate=closedate, **properties
        )

    # --- failure injection ---------------------------------------------------------------------------------

    def fail_next(self, operation: str, error: Exception, *, after_effect: bool = False) -> None:
        """The next call of `operation` (a Crm method name) raises `error`; with `after_effect` it first acts,
        as when HubSpot created the record but the answer never arrived. Queued failures apply in order."""
        with self._lock:
            self._failures[operation].append(_Failure(error, after_effect))

    def fail_next_create(self, error: Exception | None = None, *, after_effect: bool = False) -> None:
        self.fail_next(
            "create",
            error or CrmError("injected failure", status=503, transient=True),
            after_effect=after_effect,
        )

    def _failure_before(self, operation: str) -> _Failure | None:
        """Raise a queued failure that strikes before the effect; hand back one that strikes after it."""
        queue = self._failures.get(operation)
        if not queue:
            return None
        failure = queue.popleft()
        if not failure.after_effect:
            raise failure.error
        return failure

    # --- the Crm port --------------------------------------------------------------------------------------

    @property
    def calls_made(self) -> int:
        return self._calls

    def owners(self) -> list[Owner]:
        with self._lock:
            self._count(max(1, math.ceil(len(self._owners) / LIST_PAGE_SIZE)))
            self._failure_before("owners")
            return list(self._owners)

    def pipelines(self, object_type: str) -> list[Pipeline]:
        with self._lock:
            self._check_type(object_type)
            self._count()
            self._failure_before("pipelines")
            return list(self._pipelines.get(object_type, []))

    def list_pages(
        self,
        object_type: str,
        properties: Sequence[str],
        *,
        associations: Sequence[str] = (),
        after: str | None = None,
        archived: bool = False,
    ) -> Iterator[Page]:
        self._check_type(object_type)
        to_types = [_plural(a) for a in associations]
        cursor = after
        while True:
            with self._lock:
                self._count()
                self._failure_before("list_pages")
                ids = self._ids_after(object_type, cursor, lambda s: s.archived == archived)
                chunk = ids[:LIST_PAGE_SIZE]
                records = tuple(self._project(object_type, i, properties, to_types) for i in chunk)
            cursor = chunk[-1] if len(ids) > LIST_PAGE_SIZE else None
            yield Page(records=records, after=cursor)
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
        self._check_type(object_type)
        kinds = [
            None if f.property_name.startswith("associations.") else self.property_type(object_type, f.property_name)
            for f in filters
        ]
        for flt, kind in zip(filters, kinds, strict=True):
            _check_filter(flt, kind)
        checks = list(zip(filters, kinds, strict=True))
        cursor = after
        while True:
            with self._lock:
                self._count()
                self._failure_before("search_pages")
                ids = self._ids_after(object_type, cursor, lambda s: not s.archived)
                matching = [i for i in ids if self._passes(object_type, i, checks)]
                chunk = matching[:SEARCH_PAGE_SIZE]
                records = tuple(self._project(object_type, i, properties, ()) for i in chunk)
            cursor = chunk[-1] if len(matching) > SEARCH_PAGE_SIZE else None
            yield Page(records=records, after=cursor)
            if cursor is None:
                return

    def read_batch(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> list[CrmRecord]:
        self._check_type(object_type)
        unique = list(dict.fromkeys(ids))
        with self._lock:
            self._count(math.ceil(len(unique) / BATCH_SIZE))
            self._failure_before("read_batch")
            table = self._records[object_type]
            return [
                self._project(object_type, i, properties, ()) for i in unique if i in table and not table[i].archived
            ]

    def update_batch(self, object_type: str, updates: Sequence[tuple[str, Mapping[str, str]]]) -> list[RecordRefusal]:
        self._check_type(object_type)
        # one input per id (HubSpot refuses duplicate ids in a batch), later values winning, as the adapter sends
        merged: dict[str, dict[str, str]] = {}
        for record_id, values in updates:
            merged.setdefault(record_id, {}).update(values)
        pending = list(merged.items())
        refusals: list[RecordRefusal] = []
        for start in range(0, len(pending), BATCH_SIZE):
            batch = pending[start : start + BATCH_SIZE]
            with self._lock:
                self._count()
                failure = self._failure_before("update_batch")
                refusals += self._update_chunk(object_type, batch)
                if failure is not None:
                    raise failure.error
        return refusals

    def _update_chunk(self, object_type: str, chunk: Sequence[tuple[str, dict[str, str]]]) -> list[RecordRefusal]:
        """One batch update, its call counted. An invalid value makes HubSpot refuse the whole batch (400), which
        the adapter then halves until the bad record stands alone: each half is one more call. Otherwise HubSpot's
        207: the unknown ids are refused, every other record is updated."""
        invalid = {i: problem for i, values in chunk if (problem := self._invalid_value(object_type, values))}
        if invalid:
            if len(chunk) == 1:
                return [RecordRefusal(chunk[0][0], 400, invalid[chunk[0][0]])]
            middle = len(chunk) // 2
            refusals: list[RecordRefusal] = []
            for half in (chunk[:middle], chunk[middle:]):
                self._count()
                refusals += self._update_chunk(object_type, half)
            return refusals
        table = self._records[object_type]
        missing = sorted({i for i, _ in chunk if i not in table or table[i].archived}, key=_id_order)
        stamp = _hubspot_timestamp(self._now())
        for record_id, values in chunk:
            if record_id not in missing:
                table[record_id].properties.update(values)
                table[record_id].properties["hs_lastmodifieddate"] = stamp
        return [RecordRefusal(i, 404, f"OBJECT_NOT_FOUND: {object_type} {i}") for i in missing]

    def _invalid_value(self, object_type: str, values: Mapping[str, str]) -> str | None:
        """Why HubSpot would refuse one of these values for the type of its property (never the value itself,
        which may be personal data); None when it would take them all. An empty value clears a property."""
        for name, value in values.items():
            kind = self.property_type(object_type, name) if value else None
            if kind == "number" and _as_number(value) is None:
                return f"INVALID_FLOAT: {name} is not a number"
            if kind in ("date", "datetime"):
                instant = _as_instant(value)
                if instant is None:
                    return f"INVALID_DATE: {name} is not a {kind}"
                if kind == "date" and instant % 86_400_000:
                    return f"INVALID_DATE: {name} is not midnight UTC, as a date must be"
        return None

    def create(
        self,
        object_type: str,
        properties: Mapping[str, str],
        associations: Sequence[AssociationTarget] = (),
    ) -> CrmRecord:
        self._check_type(object_type)
        links: dict[str, list[str]] = defaultdict(list)
        for target in associations:
            links[_plural(target.to_object_type)].append(target.to_id)
        # the adapter associates in the create for the pairs whose default type id it knows, one call each after
        extra_calls = sum(1 for t in associations if (object_type, _plural(t.to_object_type)) not in _IN_CREATE)
        with self._lock:
            self._count()
            failure = self._failure_before("create")
            problem = self._invalid_value(object_type, properties)
            if problem is not None:
                raise CrmError(f"{object_type} refused: {problem}", status=400)
            record_id = self._insert(object_type, properties, links)
            self._count(extra_calls)
            if failure is not None:
                raise failure.error
            return CrmRecord(
                id=record_id,
                properties=dict(self._records[object_type][record_id].properties),
                associations={to_type: tuple(ids) for to_type, ids in links.items()},
            )

    def associated_ids(self, from_object_type: str, to_object_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        self._check_type(from_object_type)
        to_type = _plural(to_object_type)
        self._check_type(to_type)
        unique = list(dict.fromkeys(ids))
        with self._lock:
            self._count(math.ceil(len(unique) / BATCH_SIZE))
            self._failure_before("associated_ids")
            targets = self._records[to_type]
            result: dict[str, list[str]] = {}
            for record_id in unique:
                linked = self._links.get((from_object_type, record_id), {}).get(to_type, set())
                result[record_id] = list(self._sorted_ids(i for i in linked if not targets[i].archived))
            return result

    def find_by_values(self, object_type: str, property_name: str, values: Sequence[str]) -> dict[str, CrmRecord]:
        wanted = {value.lower(): value for value in values}
        found: dict[str, CrmRecord] = {}
        if not wanted:
            return found  # nothing to search for: no call
        with self._lock:
            # one search call per 100 values, as the real adapter makes
            self._count(math.ceil(len(wanted) / BATCH_SIZE))
            self._failure_before("find_by_values")
            # the real adapter searches, so the match follows search semantics (case-insensitive text)
            for record_id in self._ids_after(object_type, None, lambda s: not s.archived):
                stored = self._values_of(object_type, record_id, property_name)
                value = next((wanted[v.lower()] for v in stored if v.lower() in wanted), None)
                if value is not None and value not in found:
                    found[value] = self._project(object_type, record_id, [property_name], ())
        return found

    # --- internals -----------------------------------------------------------------------------------------

    def _count(self, calls: int = 1) -> None:
        self._calls += calls

    @staticmethod
    def _check_type(object_type: str) -> None:
        if object_type not in OBJECT_TYPES:
            raise CrmError(f"unknown object type {object_type!r}", status=400)

    def _stored(self, object_type: str, record_id: str) -> _Stored:
        try:
            return self._records[object_type][record_id]
        except KeyError:
            raise KeyError(f"no {object_type} record {record_id}") from None

    @staticmethod
    def _sorted_ids(ids: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(ids, key=_id_order))

    def _insert(self, object_type: str, properties: Mapping[str, str], links: Mapping[str, Sequence[str]]) -> str:
        self._check_type(object_type)
        for to_type, to_ids in links.items():
            table = self._records[_plural(to_type)]
            unknown = [i for i in to_ids if i not in table or table[i].archived]
            if unknown:
                raise CrmError(f"cannot associate with unknown {to_type} {', '.join(unknown)}", status=400)
        record_id = str(next(self._ids))
        stamp = _hubspot_timestamp(self._now())
        values = {"createdate": stamp, "hs_lastmodifieddate": stamp, **properties, "hs_object_id": record_id}
        self._records[object_type][record_id] = _Stored(properties=dict(values))
        for to_type, to_ids in links.items():
            for to_id in to_ids:
                self._link(object_type, record_id, _plural(to_type), to_id)
        return record_id

    def _link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self._links[(from_type, from_id)][to_type].add(to_id)
        self._links[(to_type, to_id)][from_type].add(from_id)

    def _ids_after(self, object_type: str, after: str | None, keep: Callable[[_Stored], bool]) -> list[str]:
        table = self._records[object_type]
        ids = sorted((i for i, s in table.items() if keep(s)), key=_id_order)
        if after is None:
            return ids
        threshold = _id_order(after)
        return [i for i in ids if _id_order(i) > threshold]

    def _values_of(self, object_type: str, record_id: str, property_name: str) -> list[str]:
        if property_name.startswith("associations."):
            to_type = _plural(property_name.removeprefix("associations."))
            linked = self._links.get((object_type, record_id), {}).get(to_type, set())
            return sorted(i for i in linked if not self._records[to_type][i].archived)
        value = self._records[object_type][record_id].properties.get(property_name)
        return [] if value is None or value == "" else [value]

    def _passes(self, object_type: str, record_id: str, checks: Sequence[tuple[Filter, PropertyType | None]]) -> bool:
        return all(_matches(self._values_of(object_type, record_id, f.property_name), f, kind) for f, kind in checks)

    def _project(
        self, object_type: str, record_id: str, properties: Sequence[str], to_types: Sequence[str]
    ) -> CrmRecord:
        """What a read returns: the asked properties (None when unset) plus HubSpot's defaults."""
        stored = self._records[object_type][record_id].properties
        names = dict.fromkeys([*_DEFAULT_PROPERTIES, *properties])
        links = self._links.get((object_type, record_id), {})
        associations = {
            to_type: self._sorted_ids(i for i in links.get(to_type, set()) if not self._records[to_type][i].archived)
            for to_type in to_types
        }
        return CrmRecord(
            id=record_id,
            properties={name: stored.get(name) for name in names},
            associations=associations,
            archived=self._records[object_type][record_id].archived,
        )


def _closedate_text(closedate: date | datetime) -> str:
    """A date becomes midnight UTC of that day, which is the same calendar day in Europe/Rome."""
    if isinstance(closedate, datetime):
        return _hubspot_timestamp(closedate)
    return _hubspot_timestamp(datetime.combine(closedate, time(0), tzinfo=UTC))
