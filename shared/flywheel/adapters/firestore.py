"""FirestoreStateStore: the production StateStore, on Cloud Firestore (native mode).

Layout, one document per thing and no shared counters (a hot document serialises writers, and the emulator
locks pessimistically):

    {prefix}_effects                 one document per idempotency key: status, lease_until, result
    {prefix}_sequences_{kind}        one document per sequence record; next_due an ISO date string or null
    {prefix}_checkpoints             one document per run checkpoint
    {prefix}_documents_{collection}  one document per plain document (ledger entries, watermarks)

Names are escaped into valid Firestore ids ("/" and "%" percent-encoded; ".", ".." and "__x__" made legal) and
unescaped on the way back. `due_sequences` is a single-field range query (`next_due <= by`, ordered by
next_due) within the kind's collection, which needs no composite index; null (inactive) never matches a string
range. Reads of many records go a page at a time with a cursor, so no gRPC stream stays open while the caller
works.

`reserve` creates the key's document with `create()`, which is atomic create-if-absent. Taking over an expired
lease is a compare-and-set: an update with a `last_update_time` precondition, which Firestore applies only if
nobody wrote the document since we read it, so exactly one of several concurrent reclaimers wins. That is the
guarantee a read-write transaction would give, in one write and without a transaction's locks (which the
emulator, and Firestore's server client libraries, take pessimistically). Never call HubSpot while reserving.

Values: see state_common (JSON data, dates, aware datetimes). Firestore cannot hold an array directly inside an
array, so such inner arrays are stored as a one-key map `{"$array": [...]}` and unwrapped on reading.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound

from flywheel.adapters.state_common import (
    DONE,
    PENDING,
    check_version,
    decode_mapping,
    encode_mapping,
    keyset_pages,
    lease_end,
    new_token,
    require_id,
    reservation_decision,
    sequence_from_fields,
    sequence_to_fields,
    to_utc,
)
from flywheel.ports import Reservation, SequenceRecord

if TYPE_CHECKING:
    from google.cloud.firestore import Client, CollectionReference, DocumentReference, DocumentSnapshot

ARRAY_TAG = "$array"
_RESERVED_ID = re.compile(r"^__.*__$")
# Firestore's limits: 500 writes per batch and 10 MiB per request; stay clear of the latter with margin
MAX_BATCH_WRITES = 500
MAX_BATCH_BYTES = 8 * 1024 * 1024
# a reserve that keeps losing races (created, released, re-created by others) gives up after this many rounds
MAX_RESERVE_ROUNDS = 25


def firestore_id(name: str) -> str:
    """A name as a valid Firestore document or collection id; `plain_id` reverses it."""
    require_id(name)
    escaped = name.replace("%", "%25").replace("/", "%2F")
    if escaped in (".", "..") or _RESERVED_ID.match(escaped):
        escaped = f"%{ord(escaped[0]):02X}{escaped[1:]}"
    return escaped


def plain_id(escaped: str) -> str:
    return unquote(escaped)


def _wrap_arrays(value: Any, inside_array: bool = False) -> Any:
    if isinstance(value, dict):
        return {key: _wrap_arrays(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_wrap_arrays(item, inside_array=True) for item in value]
        return {ARRAY_TAG: items} if inside_array else items
    return value


def _unwrap_arrays(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and ARRAY_TAG in value:
            return [_unwrap_arrays(item) for item in value[ARRAY_TAG]]
        return {key: _unwrap_arrays(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap_arrays(item) for item in value]
    return value


def _to_firestore(mapping: Mapping[str, Any], where: str) -> dict[str, Any]:
    wrapped: dict[str, Any] = _wrap_arrays(encode_mapping(mapping, where))
    return wrapped


def _from_firestore(fields: Mapping[str, Any] | None) -> dict[str, Any]:
    return decode_mapping(_unwrap_arrays(dict(fields or {})))


class FirestoreStateStore:
    page_size = 300

    def __init__(
        self,
        project: str,
        database: str = "(default)",
        *,
        client: Client | None = None,
        prefix: str = "flywheel",
    ) -> None:
        require_id(project, database, prefix)
        self.project = project
        self.database = database
        self.prefix = prefix
        self._client = client
        self._owns_client = client is None
        self._client_lock = threading.Lock()

    # --- client and collections --------------------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The Firestore client, built on first use (never at import or construction: cold starts stay cheap)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from google.cloud import firestore

                    self._client = firestore.Client(project=self.project, database=self.database)
        return self._client

    def close(self) -> None:
        if self._client is not None and self._owns_client:
            self._client.close()  # type: ignore[no-untyped-call]
            self._client = None

    def _collection(self, family: str, name: str | None = None) -> CollectionReference:
        suffix = "" if name is None else f"_{firestore_id(name)}"
        return self.client.collection(f"{self.prefix}_{family}{suffix}")

    def _effect(self, key: str) -> DocumentReference:
        return self._collection("effects").document(firestore_id(key))

    # --- idempotency keys --------------------------------------------------------------------------------------

    def reserve(self, key: str, *, now: datetime, lease: timedelta) -> Reservation:
        until, now_utc = lease_end(now, lease), to_utc(now)
        ref = self._effect(key)
        for _ in range(MAX_RESERVE_ROUNDS):
            token = new_token()
            try:
                ref.create({"status": PENDING, "lease_until": until, "reserved_at": now_utc, "holder": token})
                return Reservation(key, "acquired", token=token)
            except AlreadyExists:
                pass
            snapshot = ref.get()
            if not snapshot.exists:
                continue  # released between our create and our read: try to create it again
            fields = snapshot.to_dict() or {}
            decision = reservation_decision(fields.get("status"), fields.get("lease_until"), now_utc)
            if decision == "done":
                return Reservation(key, "done", _from_firestore(fields.get("result")))
            if decision == "held":
                return Reservation(key, "held")
            try:
                ref.update(
                    {"lease_until": until, "reserved_at": now_utc, "holder": token},
                    option=self.client.write_option(last_update_time=snapshot.update_time),
                )
                return Reservation(key, "reclaimed", token=token)
            except (FailedPrecondition, NotFound):
                continue  # someone wrote (or released) it since our read: look again
        raise RuntimeError(f"could not settle the reservation of {key!r} after {MAX_RESERVE_ROUNDS} rounds")

    def complete(self, key: str, result: Mapping[str, Any], *, now: datetime, token: str) -> bool:
        encoded = _to_firestore(result, f"result of {key}")
        done = {"status": DONE, "lease_until": None, "result": encoded, "completed_at": to_utc(now), "holder": None}
        # update() replaces each named field whole (`result` included), unlike set(merge=True)
        return self._as_holder(key, token, lambda ref, option: ref.update(done, **option))

    def release(self, key: str, token: str) -> bool:
        return self._as_holder(key, token, lambda ref, option: ref.delete(**option))

    def _as_holder(self, key: str, token: str, write: Callable[[DocumentReference, dict[str, Any]], Any]) -> bool:
        """Write a pending key only while `token` holds it: read, check the holder, then write with the read's
        update time as precondition, so a takeover between the two makes the write fail instead of land."""
        ref = self._effect(key)
        for _ in range(MAX_RESERVE_ROUNDS):
            snapshot = ref.get()
            fields = snapshot.to_dict() or {} if snapshot.exists else {}
            if fields.get("status") != PENDING or fields.get("holder") != token:
                return False  # completed, released, or taken over by another holder
            try:
                write(ref, {"option": self.client.write_option(last_update_time=snapshot.update_time)})
                return True
            except (FailedPrecondition, NotFound):
                continue
        raise RuntimeError(f"could not settle {key!r} as its holder after {MAX_RESERVE_ROUNDS} rounds")

    def lookup(self, key: str) -> Reservation | None:
        snapshot = self._effect(key).get()
        if not snapshot.exists:
            return None
        fields = snapshot.to_dict() or {}
        if fields.get("status") == DONE:
            return Reservation(key, "done", _from_firestore(fields.get("result")))
        return Reservation(key, "held")

    # --- sequences ---------------------------------------------------------------------------------------------

    @staticmethod
    def _sequence(snapshot: DocumentSnapshot[Any]) -> SequenceRecord:
        fields = snapshot.to_dict() or {}
        return sequence_from_fields({**fields, "data": _unwrap_arrays(fields.get("data") or {})})

    def get_sequence(self, kind: str, sequence_id: str) -> SequenceRecord | None:
        snapshot = self._collection("sequences", kind).document(firestore_id(sequence_id)).get()
        return self._sequence(snapshot) if snapshot.exists else None

    def put_sequence(self, record: SequenceRecord, *, expected_version: int | None = None) -> int:
        """A compare-and-set without a transaction: a new record is `create()`d (atomic create-if-absent), an
        existing one written with the update time of the read as precondition."""
        fields = sequence_to_fields(record)
        fields["data"] = _wrap_arrays(fields["data"])
        ref = self._collection("sequences", record.kind).document(firestore_id(record.id))
        for _ in range(MAX_RESERVE_ROUNDS):
            snapshot = ref.get()
            version = int((snapshot.to_dict() or {}).get("version") or 0) if snapshot.exists else 0
            check_version(version, expected_version, record.kind, record.id)
            try:
                if snapshot.exists:
                    option = self.client.write_option(last_update_time=snapshot.update_time)
                    ref.update({**fields, "version": version + 1}, option=option)
                else:
                    ref.create({**fields, "version": 1})
                return version + 1
            except (AlreadyExists, FailedPrecondition, NotFound):
                continue  # written by someone else since our read: compare again
        raise RuntimeError(f"could not write sequence {record.kind}/{record.id} after {MAX_RESERVE_ROUNDS} rounds")

    def due_sequences(self, kind: str, by: date) -> Iterator[SequenceRecord]:
        """Active records of `kind` due on or before `by`, in next_due order (ties by id), a page at a time."""
        from google.cloud.firestore import FieldFilter

        query = (
            self._collection("sequences", kind)
            .where(filter=FieldFilter("next_due", "<=", by.isoformat()))
            .order_by("next_due")
            .limit(self.page_size)
        )

        def page(after: DocumentSnapshot[Any] | None) -> list[tuple[DocumentSnapshot[Any], SequenceRecord]]:
            current = query if after is None else query.start_after(after)
            return [(snapshot, self._sequence(snapshot)) for snapshot in current.get()]

        return keyset_pages(page, self.page_size, identity=lambda record: record.id)

    def sequences(self, kind: str) -> Iterator[SequenceRecord]:
        # paged on the document name: a cursor that stays valid whatever the records' fields
        query = self._collection("sequences", kind).order_by("__name__").limit(self.page_size)

        def page(after: DocumentSnapshot[Any] | None) -> list[tuple[DocumentSnapshot[Any], SequenceRecord]]:
            current = query if after is None else query.start_after(after)
            return [(snapshot, self._sequence(snapshot)) for snapshot in current.get()]

        return keyset_pages(page, self.page_size)

    def sequences_of_company(self, kind: str, company_id: str) -> list[SequenceRecord]:
        from google.cloud.firestore import FieldFilter

        query = self._collection("sequences", kind).where(filter=FieldFilter("company_id", "==", company_id))
        return sorted((self._sequence(snapshot) for snapshot in query.stream()), key=lambda record: record.id)

    # --- run checkpoints ---------------------------------------------------------------------------------------

    def load_checkpoint(self, name: str) -> dict[str, Any] | None:
        snapshot = self._collection("checkpoints").document(firestore_id(name)).get()
        return _from_firestore(snapshot.to_dict()) if snapshot.exists else None

    def save_checkpoint(self, name: str, data: Mapping[str, Any]) -> None:
        encoded = _to_firestore(data, f"checkpoint {name}")
        self._collection("checkpoints").document(firestore_id(name)).set(encoded)

    def clear_checkpoint(self, name: str) -> None:
        self._collection("checkpoints").document(firestore_id(name)).delete()

    # --- plain documents ---------------------------------------------------------------------------------------

    def get_document(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        snapshot = self._collection("documents", collection).document(firestore_id(doc_id)).get()
        return _from_firestore(snapshot.to_dict()) if snapshot.exists else None

    def get_documents(self, collection: str, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        documents = self._collection("documents", collection)
        refs = [documents.document(firestore_id(doc_id)) for doc_id in dict.fromkeys(doc_ids)]
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(refs), self.page_size):
            for snapshot in self.client.get_all(refs[start : start + self.page_size]):
                if snapshot.exists:
                    found[plain_id(snapshot.id)] = _from_firestore(snapshot.to_dict())
        return found

    def put_documents(self, collection: str, documents: Mapping[str, Mapping[str, Any]]) -> None:
        """Batched writes of at most 500 documents (and well under 10 MiB) each; atomic per batch only."""
        target = self._collection("documents", collection)
        encoded = [
            (target.document(firestore_id(doc_id)), _to_firestore(document, f"{collection}/{doc_id}"))
            for doc_id, document in documents.items()
        ]
        batch, writes, size = self.client.batch(), 0, 0
        for ref, fields in encoded:
            # JSON length approximates Firestore's own size accounting closely enough for a safety margin
            fields_size = len(json.dumps(fields, ensure_ascii=False)) + len(ref.id) + 64
            if writes and (writes >= MAX_BATCH_WRITES or size + fields_size > MAX_BATCH_BYTES):
                batch.commit()
                batch, writes, size = self.client.batch(), 0, 0
            batch.set(ref, fields)
            writes, size = writes + 1, size + fields_size
        if writes:
            batch.commit()

    def delete_documents(self, collection: str, doc_ids: Sequence[str]) -> None:
        target = self._collection("documents", collection)
        refs = [target.document(firestore_id(doc_id)) for doc_id in doc_ids]
        for start in range(0, len(refs), MAX_BATCH_WRITES):
            batch = self.client.batch()
            for ref in refs[start : start + MAX_BATCH_WRITES]:
                batch.delete(ref)
            batch.commit()

    def iter_documents(self, collection: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every document of the collection in (escaped) id order, a page at a time."""
        # "__name__" is the document id's field path; ordering by it needs no index
        query = self._collection("documents", collection).order_by("__name__").limit(self.page_size)

        def page(after: DocumentSnapshot[Any] | None) -> list[tuple[DocumentSnapshot[Any], tuple[str, dict[str, Any]]]]:
            current = query if after is None else query.start_after(after)
            return [
                (snapshot, (plain_id(snapshot.id), _from_firestore(snapshot.to_dict()))) for snapshot in current.get()
            ]

        return keyset_pages(page, self.page_size)
