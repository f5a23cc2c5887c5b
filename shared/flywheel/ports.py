"""The four ports services see. Adapters implement them; services never import an adapter.

Object types are HubSpot's plural names: "companies", "contacts", "deals", "tasks", "notes", "carts",
"line_items", and the engagement types "calls", "emails", "meetings".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from flywheel.domain.models import CrmRecord, Owner, Page, Pipeline
from flywheel.errors import FlywheelError, HubSpotRefused, TransientError

# --- Crm -------------------------------------------------------------------------------------------------------


class CrmError(FlywheelError):
    """A CRM call that failed for good. `transient` (429, 5xx, network) means the same call may succeed later;
    otherwise (4xx) the request itself was refused and nothing changed."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient
        # a refusal is HubSpot's answer to us (do not hammer it); anything else may pass on retry
        self.http_status = TransientError.http_status if transient else HubSpotRefused.http_status


@dataclass(frozen=True, slots=True)
class RecordRefusal:
    """One record of a batch write that HubSpot refused, with its reason; the rest of the batch went through."""

    record_id: str
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Filter:
    """One HubSpot search filter: operator is HubSpot's (EQ, NEQ, LT, LTE, GT, GTE, IN, NOT_IN, HAS_PROPERTY,
    NOT_HAS_PROPERTY, BETWEEN); `value` is a string, `values` a list for IN/NOT_IN, `high_value` for BETWEEN."""

    property_name: str
    operator: str
    value: str | None = None
    values: tuple[str, ...] | None = None
    high_value: str | None = None


@dataclass(frozen=True, slots=True)
class AssociationTarget:
    """Associate a new record with an existing one using HubSpot's default association type for the pair."""

    to_object_type: str
    to_id: str


class Crm(Protocol):
    def owners(self) -> list[Owner]: ...

    def pipelines(self, object_type: str) -> list[Pipeline]: ...

    def list_pages(
        self,
        object_type: str,
        properties: Sequence[str],
        *,
        associations: Sequence[str] = (),
        after: str | None = None,
        archived: bool = False,
    ) -> Iterator[Page]:
        """Every record, 100 a page, starting after the cursor `after` (a Page's own `after`)."""
        ...

    def search_pages(
        self,
        object_type: str,
        filters: Sequence[Filter],
        properties: Sequence[str],
        *,
        after: str | None = None,
    ) -> Iterator[Page]:
        """All records matching every filter (AND), 200 a page, in ascending `hs_object_id` order.

        Partitioned on `hs_object_id` so that more than 10,000 matches are still all returned; a Page's
        `after` resumes the search after that page, across partitions.
        """
        ...

    def read_batch(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> list[CrmRecord]:
        """Records by id, in batches of 100; ids that do not exist are left out."""
        ...

    def update_batch(self, object_type: str, updates: Sequence[tuple[str, Mapping[str, str]]]) -> list[RecordRefusal]:
        """Set properties on existing records, in batches of 100. A record HubSpot refuses (not found, an invalid
        value) is returned with the reason and does not stop the others; a transient fault raises CrmError."""
        ...

    def create(
        self,
        object_type: str,
        properties: Mapping[str, str],
        associations: Sequence[AssociationTarget] = (),
    ) -> CrmRecord:
        """Create one record. Never repeated blindly on failure: the caller reconciles by `flywheel_key`."""
        ...

    def associated_ids(self, from_object_type: str, to_object_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Associations v4 batch read: for each id, the ids of the associated records."""
        ...

    def find_by_values(self, object_type: str, property_name: str, values: Sequence[str]) -> dict[str, CrmRecord]:
        """Records whose property equals one of `values`, by value: one search per 100 values."""
        ...

    @property
    def calls_made(self) -> int:
        """HTTP calls this instance has made, retries included (for run summaries and benchmarks)."""
        ...


# --- StateStore ------------------------------------------------------------------------------------------------

ReservationStatus = Literal["acquired", "reclaimed", "held", "done"]


@dataclass(frozen=True, slots=True)
class Reservation:
    """What `reserve` found.

    acquired  - the key was free: act, then complete.
    reclaimed - an earlier holder's lease expired without completing: it may have acted; reconcile first.
    held      - another worker holds a live lease: leave it alone.
    done      - completed before; `result` is what was recorded.

    `token` (acquired and reclaimed only) fences the holder: `complete` and `release` act only with the token of
    the current holder, so a worker whose lease ran out and was taken over cannot free or finish the new
    holder's key.
    """

    key: str
    status: ReservationStatus
    result: Mapping[str, Any] | None = None
    token: str | None = None

    @property
    def owned(self) -> bool:
        return self.status in ("acquired", "reclaimed")


@dataclass(slots=True)
class SequenceRecord:
    """One enrolment of a company in a sequence (e.g. the nurture emails).

    `next_due` is None once the sequence is no longer active, so "due by D" is a single-field range query.
    """

    kind: str
    id: str
    company_id: str
    status: str
    step: int
    next_due: date | None
    data: dict[str, Any] = field(default_factory=dict)
    # how many times it was written (0: never): `put_sequence(..., expected_version=)` compares and sets on it
    version: int = 0


class StaleSequence(TransientError):
    """A compare-and-set write of a sequence found another version stored than the one it was derived from."""


class StateStore(Protocol):
    # idempotency keys
    def reserve(self, key: str, *, now: datetime, lease: timedelta) -> Reservation: ...

    def complete(self, key: str, result: Mapping[str, Any], *, now: datetime, token: str) -> bool:
        """Record the key as done, if `token` still holds it; False (nothing written) when it does not."""
        ...

    def release(self, key: str, token: str) -> bool:
        """Free a pending key, if `token` still holds it; False (nothing changed) when it does not."""
        ...

    def lookup(self, key: str) -> Reservation | None: ...

    # sequences
    def get_sequence(self, kind: str, sequence_id: str) -> SequenceRecord | None: ...

    def put_sequence(self, record: SequenceRecord, *, expected_version: int | None = None) -> int:
        """Store the record; returns its new version. With `expected_version` (0: absent) the write happens only
        if the stored version is that one, else `StaleSequence` is raised and nothing changes."""
        ...

    def due_sequences(self, kind: str, by: date) -> Iterator[SequenceRecord]:
        """Active records of `kind` whose next_due is on or before `by`, in next_due order."""
        ...

    def sequences_of_company(self, kind: str, company_id: str) -> list[SequenceRecord]: ...

    def sequences(self, kind: str) -> Iterator[SequenceRecord]:
        """Every record of `kind`, active or ended, each once, read a page at a time (for reports); in no promised
        order."""
        ...

    # run checkpoints
    def load_checkpoint(self, name: str) -> dict[str, Any] | None: ...

    def save_checkpoint(self, name: str, data: Mapping[str, Any]) -> None: ...

    def clear_checkpoint(self, name: str) -> None: ...

    # plain documents (ledgers, watermarks), grouped in collections
    def get_document(self, collection: str, doc_id: str) -> dict[str, Any] | None: ...

    def get_documents(self, collection: str, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def put_documents(self, collection: str, documents: Mapping[str, Mapping[str, Any]]) -> None: ...

    def delete_documents(self, collection: str, doc_ids: Sequence[str]) -> None: ...

    def iter_documents(self, collection: str) -> Iterator[tuple[str, dict[str, Any]]]: ...


# --- Mailer ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailMessage:
    """A rendered email to one contact. `key` is the effect's idempotency key; `context` its personalisation."""

    key: str
    template: str
    company_id: str
    contact_id: str
    to_email: str
    subject: str
    body_text: str
    context: Mapping[str, str] = field(default_factory=dict)
    # who a reply reaches (the company's owner; the sales assistant for Wake Up), None: the sender
    reply_to: str | None = None
    # the signed one-click unsubscribe link (RFC 8058), also in the body's footer
    unsubscribe_url: str | None = None


@dataclass(frozen=True, slots=True)
class SendReceipt:
    message_id: str
    channel: str


class MailerError(Exception):
    """A send that failed. `transient`: the same send may succeed later. `nothing_sent`: the mailer knows no
    email went out (a 429, a refused connection, an outbox write error, a refusal), so the next run may send;
    otherwise (a timeout, a 5xx, a connection lost after the request) the outcome is unknown."""

    def __init__(self, message: str, *, transient: bool = False, nothing_sent: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.nothing_sent = nothing_sent


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> SendReceipt: ...

    def recover(self, message: EmailMessage) -> SendReceipt | None:
        """After an attempt whose outcome is unknown (its key was reclaimed): the receipt of the message when it
        is known to have gone out, or when sending it again cannot deliver a second copy; None when neither can
        be known (the email then stays uncertain: never resent, never counted as sent)."""
        ...


# --- Clock -----------------------------------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware current instant."""
        ...

    def today(self) -> date:
        """Today's date in the configured business time zone (Europe/Rome)."""
        ...
