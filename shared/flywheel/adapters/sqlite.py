"""SqliteStateStore: the embedded StateStore (local runs, the demo), one file shared by threads and processes.

WAL journal so that readers never wait for a writer; one connection per thread (and per process: a forked child
opens its own); every write in a `BEGIN IMMEDIATE` transaction, which takes the write lock up front, so that the
read-decide-write of `reserve` is atomic across processes; `busy_timeout` lets contenders queue instead of failing.
Values are JSON text (see state_common for what can be stored); instants are integer microseconds since the epoch
in UTC, so that comparing them is comparing numbers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
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

SCHEMA_VERSION = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# statements separated by ";" (no ";" inside them, comments included)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS effects (
    key          TEXT PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'done')),
    lease_until  INTEGER,            -- microseconds since the epoch (UTC), NULL once done
    result       TEXT,               -- JSON, once done
    updated_at   INTEGER NOT NULL,
    holder       TEXT                -- the pending holder's fencing token
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sequences (
    kind         TEXT NOT NULL,
    id           TEXT NOT NULL,
    company_id   TEXT NOT NULL,
    status       TEXT NOT NULL,
    step         INTEGER NOT NULL,
    next_due     TEXT,               -- ISO date, NULL when the sequence is no longer active
    data         TEXT NOT NULL,      -- JSON
    version      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sequences_due ON sequences (kind, next_due, id) WHERE next_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS sequences_company ON sequences (kind, company_id);
CREATE TABLE IF NOT EXISTS checkpoints (
    name         TEXT PRIMARY KEY,
    data         TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (
    collection   TEXT NOT NULL,
    id           TEXT NOT NULL,
    data         TEXT NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;
"""
# what a file of an earlier schema version needs to reach this one
_MIGRATIONS = {
    1: (
        "ALTER TABLE effects ADD COLUMN holder TEXT",
        "ALTER TABLE sequences ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    ),
}


def _micros(instant: datetime) -> int:
    return (to_utc(instant) - _EPOCH) // timedelta(microseconds=1)


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class SqliteStateStore:
    page_size = 500
    # rows per executemany: keeps one put_documents of 100,000 ledger entries from building one huge list
    write_chunk = 1000

    def __init__(self, path: str, *, busy_timeout_seconds: float = 30.0) -> None:
        if path in ("", ":memory:") or path.startswith("file:"):
            raise ValueError("SqliteStateStore needs a file path (threads and processes share it)")
        self.path = str(Path(path))
        self.busy_timeout_seconds = busy_timeout_seconds
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._pid = os.getpid()
        self._create_schema()

    # --- connections -------------------------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:
            # a forked child must not use its parent's connections
            self._pid = os.getpid()
            self._local = threading.local()
            self._connections = []
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # isolation_level=None: no implicit transactions; this module opens each one explicitly
            db = sqlite3.connect(
                self.path, timeout=self.busy_timeout_seconds, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _create_schema(self) -> None:
        with self._write() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
            else:
                for step in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[step]:
                        db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close every connection this store opened (tests, the end of a CLI run)."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()

    # --- idempotency keys --------------------------------------------------------------------------------------

    def reserve(self, key: str, *, now: datetime, lease: timedelta) -> Reservation:
        require_id(key)
        until, now_micros = _micros(lease_end(now, lease)), _micros(now)
        with self._write() as db:
            row = db.execute("SELECT status, lease_until, result FROM effects WHERE key = ?", (key,)).fetchone()
            status, lease_until, result = row if row else (None, None, None)
            decision = reservation_decision(status, None if lease_until is None else _instant(lease_until), to_utc(now))
            if decision == "done":
                return Reservation(key, "done", decode_mapping(json.loads(result or "{}")))
            if decision == "held":
                return Reservation(key, "held")
            token = new_token()
            db.execute(
                "INSERT INTO effects (key, status, lease_until, result, updated_at, holder) "
                "VALUES (?, ?, ?, NULL, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET status = excluded.status, lease_until = excluded.lease_until, "
                "updated_at = excluded.updated_at, holder = excluded.holder",
                (key, PENDING, until, now_micros, token),
            )
            return Reservation(key, "acquired" if decision == "acquire" else "reclaimed", token=token)

    def complete(self, key: str, result: Mapping[str, Any], *, now: datetime, token: str) -> bool:
        require_id(key)
        encoded = _dumps(encode_mapping(result, f"result of {key}"))
        with self._write() as db:
            changed = db.execute(
                "UPDATE effects SET status = ?, lease_until = NULL, result = ?, updated_at = ?, holder = NULL "
                "WHERE key = ? AND status = ? AND holder = ?",
                (DONE, encoded, _micros(now), key, PENDING, token),
            ).rowcount
            return changed == 1

    def release(self, key: str, token: str) -> bool:
        require_id(key)
        with self._write() as db:
            deleted = db.execute(
                "DELETE FROM effects WHERE key = ? AND status = ? AND holder = ?", (key, PENDING, token)
            ).rowcount
            return deleted == 1

    def lookup(self, key: str) -> Reservation | None:
        require_id(key)
        row = self._db().execute("SELECT status, result FROM effects WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        status, result = row
        if status == DONE:
            return Reservation(key, "done", decode_mapping(json.loads(result or "{}")))
        return Reservation(key, "held")

    # --- sequences ---------------------------------------------------------------------------------------------

    _SEQUENCE_COLUMNS = "kind, id, company_id, status, step, next_due, data, version"

    @staticmethod
    def _sequence(row: Sequence[Any]) -> SequenceRecord:
        kind, sequence_id, company_id, status, step, next_due, data, version = row
        return sequence_from_fields(
            {
                "kind": kind,
                "id": sequence_id,
                "company_id": company_id,
                "status": status,
                "step": step,
                "next_due": next_due,
                "data": json.loads(data),
                "version": version,
            }
        )

    def get_sequence(self, kind: str, sequence_id: str) -> SequenceRecord | None:
        require_id(kind, sequence_id)
        row = (
            self._db()
            .execute(f"SELECT {self._SEQUENCE_COLUMNS} FROM sequences WHERE kind = ? AND id = ?", (kind, sequence_id))
            .fetchone()
        )
        return None if row is None else self._sequence(row)

    def put_sequence(self, record: SequenceRecord, *, expected_version: int | None = None) -> int:
        require_id(record.kind, record.id)
        fields = sequence_to_fields(record)
        with self._write() as db:
            row = db.execute(
                "SELECT version FROM sequences WHERE kind = ? AND id = ?", (record.kind, record.id)
            ).fetchone()
            version = 0 if row is None else int(row[0])
            check_version(version, expected_version, record.kind, record.id)
            db.execute(
                f"INSERT OR REPLACE INTO sequences ({self._SEQUENCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fields["kind"],
                    fields["id"],
                    fields["company_id"],
                    fields["status"],
                    fields["step"],
                    fields["next_due"],
                    _dumps(fields["data"]),
                    version + 1,
                ),
            )
            return version + 1

    def due_sequences(self, kind: str, by: date) -> Iterator[SequenceRecord]:
        """Active records of `kind` due on or before `by`, in (next_due, id) order, read a page at a time."""
        require_id(kind)
        limit = by.isoformat()

        def page(after: tuple[str, str] | None) -> list[tuple[tuple[str, str], SequenceRecord]]:
            sql = (
                f"SELECT {self._SEQUENCE_COLUMNS} FROM sequences "
                "WHERE kind = ? AND next_due IS NOT NULL AND next_due <= ?"
            )
            parameters: list[Any] = [kind, limit]
            if after is not None:
                sql += " AND (next_due > ? OR (next_due = ? AND id > ?))"
                parameters += [after[0], after[0], after[1]]
            sql += " ORDER BY next_due, id LIMIT ?"
            rows = self._db().execute(sql, [*parameters, self.page_size]).fetchall()
            return [((row[5], row[1]), self._sequence(row)) for row in rows]

        return keyset_pages(page, self.page_size, identity=lambda record: record.id)

    def sequences(self, kind: str) -> Iterator[SequenceRecord]:
        require_id(kind)

        def page(after: str | None) -> list[tuple[str, SequenceRecord]]:
            sql = f"SELECT {self._SEQUENCE_COLUMNS} FROM sequences WHERE kind = ? AND id > ? ORDER BY id LIMIT ?"
            rows = self._db().execute(sql, (kind, after or "", self.page_size)).fetchall()
            return [(row[1], self._sequence(row)) for row in rows]

        return keyset_pages(page, self.page_size)

    def sequences_of_company(self, kind: str, company_id: str) -> list[SequenceRecord]:
        require_id(kind)
        rows = (
            self._db()
            .execute(
                f"SELECT {self._SEQUENCE_COLUMNS} FROM sequences WHERE kind = ? AND company_id = ? ORDER BY id",
                (kind, company_id),
            )
            .fetchall()
        )
        return [self._sequence(row) for row in rows]

    # --- run checkpoints ---------------------------------------------------------------------------------------

    def load_checkpoint(self, name: str) -> dict[str, Any] | None:
        require_id(name)
        row = self._db().execute("SELECT data FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return None if row is None else decode_mapping(json.loads(row[0]))

    def save_checkpoint(self, name: str, data: Mapping[str, Any]) -> None:
        require_id(name)
        encoded = _dumps(encode_mapping(data, f"checkpoint {name}"))
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO checkpoints (name, data) VALUES (?, ?)", (name, encoded))

    def clear_checkpoint(self, name: str) -> None:
        require_id(name)
        with self._write() as db:
            db.execute("DELETE FROM checkpoints WHERE name = ?", (name,))

    # --- plain documents ---------------------------------------------------------------------------------------

    def get_document(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        require_id(collection, doc_id)
        row = (
            self._db()
            .execute("SELECT data FROM documents WHERE collection = ? AND id = ?", (collection, doc_id))
            .fetchone()
        )
        return None if row is None else decode_mapping(json.loads(row[0]))

    def get_documents(self, collection: str, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        require_id(collection, *doc_ids)
        unique = list(dict.fromkeys(doc_ids))
        found: dict[str, dict[str, Any]] = {}
        db = self._db()
        # well below SQLite's limit of bound parameters per statement
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            placeholders = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT id, data FROM documents WHERE collection = ? AND id IN ({placeholders})",
                [collection, *chunk],
            )
            for doc_id, data in rows:
                found[doc_id] = decode_mapping(json.loads(data))
        return found

    def put_documents(self, collection: str, documents: Mapping[str, Mapping[str, Any]]) -> None:
        require_id(collection, *documents)
        rows = [
            (collection, doc_id, _dumps(encode_mapping(document, f"{collection}/{doc_id}")))
            for doc_id, document in documents.items()
        ]
        for start in range(0, len(rows), self.write_chunk):
            with self._write() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO documents (collection, id, data) VALUES (?, ?, ?)",
                    rows[start : start + self.write_chunk],
                )

    def delete_documents(self, collection: str, doc_ids: Sequence[str]) -> None:
        require_id(collection, *doc_ids)
        rows = [(collection, doc_id) for doc_id in doc_ids]
        for start in range(0, len(rows), self.write_chunk):
            with self._write() as db:
                db.executemany(
                    "DELETE FROM documents WHERE collection = ? AND id = ?", rows[start : start + self.write_chunk]
                )

    def iter_documents(self, collection: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every document of the collection in id order, read a page at a time."""
        require_id(collection)

        def page(after: str | None) -> list[tuple[str, tuple[str, dict[str, Any]]]]:
            rows = (
                self._db()
                .execute(
                    "SELECT id, data FROM documents WHERE collection = ? AND id > ? ORDER BY id LIMIT ?",
                    (collection, "" if after is None else after, self.page_size),
                )
                .fetchall()
            )
            return [(doc_id, (doc_id, decode_mapping(json.loads(data)))) for doc_id, data in rows]

        return keyset_pages(page, self.page_size)
