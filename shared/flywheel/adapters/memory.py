"""MemoryStateStore: the StateStore of unit tests, with exactly the semantics of the SQLite and Firestore ones.

Values are stored encoded (see state_common) and decoded on every read, so a caller never shares objects with the
store and the memory store refuses what Firestore would refuse. One lock makes every method atomic.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

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


@dataclass(slots=True)
class _Effect:
    status: str
    lease_until: datetime | None
    result: dict[str, Any] | None = None
    holder: str | None = None


class MemoryStateStore:
    page_size = 500

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._effects: dict[str, _Effect] = {}
        self._sequences: dict[str, dict[str, dict[str, Any]]] = {}  # kind -> id -> fields
        self._checkpoints: dict[str, dict[str, Any]] = {}
        self._documents: dict[str, dict[str, dict[str, Any]]] = {}  # collection -> id -> encoded document

    # --- idempotency keys --------------------------------------------------------------------------------------

    def reserve(self, key: str, *, now: datetime, lease: timedelta) -> Reservation:
        require_id(key)
        until = lease_end(now, lease)
        with self._lock:
            effect = self._effects.get(key)
            decision = reservation_decision(
                effect.status if effect else None, effect.lease_until if effect else None, to_utc(now)
            )
            if decision == "done":
                assert effect is not None
                return Reservation(key, "done", decode_mapping(effect.result or {}))
            if decision == "held":
                return Reservation(key, "held")
            token = new_token()
            self._effects[key] = _Effect(PENDING, until, holder=token)
            return Reservation(key, "acquired" if decision == "acquire" else "reclaimed", token=token)

    def complete(self, key: str, result: Mapping[str, Any], *, now: datetime, token: str) -> bool:
        require_id(key)
        to_utc(now)
        encoded = encode_mapping(result, f"result of {key}")
        with self._lock:
            if not self._holds(key, token):
                return False
            self._effects[key] = _Effect(DONE, None, encoded)
            return True

    def release(self, key: str, token: str) -> bool:
        require_id(key)
        with self._lock:
            if not self._holds(key, token):
                return False
            del self._effects[key]
            return True

    def _holds(self, key: str, token: str) -> bool:
        effect = self._effects.get(key)
        return effect is not None and effect.status == PENDING and effect.holder == token

    def lookup(self, key: str) -> Reservation | None:
        require_id(key)
        with self._lock:
            effect = self._effects.get(key)
            if effect is None:
                return None
            if effect.status == DONE:
                return Reservation(key, "done", decode_mapping(effect.result or {}))
            return Reservation(key, "held")

    # --- sequences ---------------------------------------------------------------------------------------------

    def get_sequence(self, kind: str, sequence_id: str) -> SequenceRecord | None:
        require_id(kind, sequence_id)
        with self._lock:
            fields = self._sequences.get(kind, {}).get(sequence_id)
            return None if fields is None else sequence_from_fields(fields)

    def put_sequence(self, record: SequenceRecord, *, expected_version: int | None = None) -> int:
        require_id(record.kind, record.id)
        fields = sequence_to_fields(record)
        with self._lock:
            stored = self._sequences.get(record.kind, {}).get(record.id)
            version = 0 if stored is None else int(stored["version"])
            check_version(version, expected_version, record.kind, record.id)
            self._sequences.setdefault(record.kind, {})[record.id] = {**fields, "version": version + 1}
            return version + 1

    def due_sequences(self, kind: str, by: date) -> Iterator[SequenceRecord]:
        """Active records of `kind` due on or before `by`, in (next_due, id) order, read a page at a time."""
        require_id(kind)
        limit = by.isoformat()

        def page(after: tuple[str, str] | None) -> list[tuple[tuple[str, str], SequenceRecord]]:
            with self._lock:
                due = sorted(
                    (fields["next_due"], sequence_id)
                    for sequence_id, fields in self._sequences.get(kind, {}).items()
                    if fields["next_due"] is not None and fields["next_due"] <= limit
                )
                chosen = [position for position in due if after is None or position > after][: self.page_size]
                rows = self._sequences[kind] if chosen else {}
                return [(position, sequence_from_fields(rows[position[1]])) for position in chosen]

        return keyset_pages(page, self.page_size, identity=lambda record: record.id)

    def sequences(self, kind: str) -> Iterator[SequenceRecord]:
        require_id(kind)

        def page(after: str | None) -> list[tuple[str, SequenceRecord]]:
            with self._lock:
                rows = self._sequences.get(kind, {})
                chosen = sorted(sequence_id for sequence_id in rows if after is None or sequence_id > after)
                return [
                    (sequence_id, sequence_from_fields(rows[sequence_id])) for sequence_id in chosen[: self.page_size]
                ]

        return keyset_pages(page, self.page_size)

    def sequences_of_company(self, kind: str, company_id: str) -> list[SequenceRecord]:
        require_id(kind)
        with self._lock:
            rows = self._sequences.get(kind, {})
            return [
                sequence_from_fields(rows[sequence_id])
                for sequence_id in sorted(rows)
                if rows[sequence_id]["company_id"] == company_id
            ]

    # --- run checkpoints ---------------------------------------------------------------------------------------

    def load_checkpoint(self, name: str) -> dict[str, Any] | None:
        require_id(name)
        with self._lock:
            data = self._checkpoints.get(name)
            return None if data is None else decode_mapping(data)

    def save_checkpoint(self, name: str, data: Mapping[str, Any]) -> None:
        require_id(name)
        encoded = encode_mapping(data, f"checkpoint {name}")
        with self._lock:
            self._checkpoints[name] = encoded

    def clear_checkpoint(self, name: str) -> None:
        require_id(name)
        with self._lock:
            self._checkpoints.pop(name, None)

    # --- plain documents ---------------------------------------------------------------------------------------

    def get_document(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        require_id(collection, doc_id)
        with self._lock:
            data = self._documents.get(collection, {}).get(doc_id)
            return None if data is None else decode_mapping(data)

    def get_documents(self, collection: str, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        require_id(collection, *doc_ids)
        with self._lock:
            stored = self._documents.get(collection, {})
            return {doc_id: decode_mapping(stored[doc_id]) for doc_id in doc_ids if doc_id in stored}

    def put_documents(self, collection: str, documents: Mapping[str, Mapping[str, Any]]) -> None:
        require_id(collection, *documents)
        encoded = {doc_id: encode_mapping(document, f"{collection}/{doc_id}") for doc_id, document in documents.items()}
        with self._lock:
            self._documents.setdefault(collection, {}).update(encoded)

    def delete_documents(self, collection: str, doc_ids: Sequence[str]) -> None:
        require_id(collection, *doc_ids)
        with self._lock:
            stored = self._documents.get(collection, {})
            for doc_id in doc_ids:
                stored.pop(doc_id, None)

    def iter_documents(self, collection: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every document of the collection in id order, read a page at a time."""
        require_id(collection)

        def page(after: str | None) -> list[tuple[str, tuple[str, dict[str, Any]]]]:
            with self._lock:
                stored = self._documents.get(collection, {})
                ids = sorted(doc_id for doc_id in stored if after is None or doc_id > after)[: self.page_size]
                return [(doc_id, (doc_id, decode_mapping(stored[doc_id]))) for doc_id in ids]

        return keyset_pages(page, self.page_size)
