"""The StateStore contract, checked on every adapter: memory, SQLite (a file under tmp_path) and Firestore (the
official emulator; those runs carry the `firestore` mark and skip loudly where the emulator is absent).

Idempotency keys: acquired / held / done / reclaimed with lease expiry, complete, release, lookup, and races
between threads (and, for SQLite, processes) of which exactly one wins. Sequences: due-by-date order with the
edge inclusive, inactive records never due, per-company lookup. Checkpoints. Documents: batches above
Firestore's 500 writes, iteration, awkward ids, and the round trip of dates, datetimes and nested data.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flywheel.adapters.memory import MemoryStateStore
from flywheel.adapters.sqlite import SqliteStateStore
from flywheel.ports import Reservation, SequenceRecord, StaleSequence, StateStore

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=ZoneInfo("Europe/Rome"))
LEASE = timedelta(minutes=5)
KIND = "nurture"

StoreFactory = Callable[[], Any]


@pytest.fixture(params=["memory", "sqlite", pytest.param("firestore", marks=pytest.mark.firestore)])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Builds empty stores of one adapter (a property test needs a fresh one per example)."""
    built: list[Any] = []
    counter = itertools.count()

    if request.param == "memory":
        factory: StoreFactory = MemoryStateStore
    elif request.param == "sqlite":

        def factory() -> SqliteStateStore:
            return SqliteStateStore(str(tmp_path / "state" / f"store-{next(counter)}.db"))

    else:
        factory = request.getfixturevalue("firestore_state_store_factory")

    def build() -> Any:
        store = factory()
        built.append(store)
        return store

    yield build
    for store in built:
        if isinstance(store, SqliteStateStore):
            store.close()


@pytest.fixture
def store(new_store: StoreFactory) -> Any:
    return new_store()


def adapter_of(store: Any) -> str:
    return type(store).__name__


def examples(store: Any, local: int, firestore: int) -> int:
    """Fewer property-test examples on Firestore, where every call is a gRPC round trip."""
    return firestore if adapter_of(store) == "FirestoreStateStore" else local


PROPERTY_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


# --- idempotency keys ------------------------------------------------------------------------------------------


def held(store: StateStore, key: str, now: datetime = T0) -> str:
    """Reserve a free key; the holder's token."""
    reservation = store.reserve(key, now=now, lease=LEASE)
    assert reservation.status == "acquired" and reservation.token
    return reservation.token


def test_a_free_key_is_acquired_then_held_while_its_lease_lasts(store: StateStore) -> None:
    assert store.reserve("cold:42:2026-03", now=T0, lease=LEASE).status == "acquired"
    assert store.reserve("cold:42:2026-03", now=T0, lease=LEASE).status == "held"
    assert store.reserve("cold:42:2026-03", now=T0 + LEASE - timedelta(microseconds=1), lease=LEASE).status == "held"
    assert store.reserve("cold:43:2026-03", now=T0, lease=LEASE).status == "acquired"


def test_an_expired_lease_is_reclaimed_from_the_instant_it_ends_and_then_held_again(store: StateStore) -> None:
    store.reserve("k", now=T0, lease=LEASE)
    assert store.reserve("k", now=T0 + LEASE, lease=LEASE).status == "reclaimed"
    # the reclaimer's own lease now runs from its reservation
    assert store.reserve("k", now=T0 + LEASE + LEASE - timedelta(seconds=1), lease=LEASE).status == "held"
    assert store.reserve("k", now=T0 + 3 * LEASE, lease=LEASE).status == "reclaimed"


def test_a_completed_key_is_done_with_its_result_however_late_it_is_asked(store: StateStore) -> None:
    token = held(store, "k")
    assert store.complete("k", {"id": "981", "sent_on": date(2026, 3, 1), "ids": ["a", "b"]}, now=T0, token=token)
    for later in (T0, T0 + LEASE, T0 + timedelta(days=400)):
        reservation = store.reserve("k", now=later, lease=LEASE)
        assert reservation.status == "done"
        assert reservation.result == {"id": "981", "sent_on": date(2026, 3, 1), "ids": ["a", "b"]}


def test_release_frees_a_pending_key_but_never_undoes_a_completed_one(store: StateStore) -> None:
    token = held(store, "pending")
    assert store.release("pending", token) is True
    assert store.lookup("pending") is None
    assert store.reserve("pending", now=T0, lease=LEASE).status == "acquired"

    token = held(store, "finished")
    store.complete("finished", {"ok": True}, now=T0, token=token)
    assert store.release("finished", token) is False
    assert store.lookup("finished") == Reservation("finished", "done", {"ok": True})

    assert store.release("never-reserved", "no-token") is False
    assert store.lookup("never-reserved") is None


def test_each_reservation_gets_its_own_token(store: StateStore) -> None:
    first = store.reserve("k", now=T0, lease=LEASE)
    reclaimed = store.reserve("k", now=T0 + LEASE, lease=LEASE)

    assert first.token and reclaimed.token and first.token != reclaimed.token
    assert store.reserve("k", now=T0, lease=LEASE).token is None  # held: not ours


def test_a_late_worker_can_neither_release_nor_complete_the_key_its_successor_holds(store: StateStore) -> None:
    late = held(store, "k")
    successor = store.reserve("k", now=T0 + LEASE, lease=LEASE)  # the late worker's lease ran out

    assert store.release("k", late) is False
    assert store.complete("k", {"by": "late"}, now=T0 + LEASE, token=late) is False
    assert store.lookup("k") == Reservation("k", "held")
    assert successor.token is not None
    assert store.complete("k", {"by": "successor"}, now=T0 + LEASE, token=successor.token) is True
    assert store.lookup("k") == Reservation("k", "done", {"by": "successor"})


def test_a_key_completed_once_is_not_completed_again(store: StateStore) -> None:
    token = held(store, "k")
    assert store.complete("k", {"n": 1}, now=T0, token=token) is True

    assert store.complete("k", {"n": 2}, now=T0, token=token) is False
    assert store.lookup("k") == Reservation("k", "done", {"n": 1})


def test_lookup_reports_a_key_without_reserving_it(store: StateStore) -> None:
    assert store.lookup("k") is None
    assert store.lookup("k") is None
    token = held(store, "k")
    assert store.lookup("k") == Reservation("k", "held")
    store.complete("k", {}, now=T0, token=token)
    assert store.lookup("k") == Reservation("k", "done", {})


def test_keys_with_slashes_percents_and_dots_are_distinct_keys(store: StateStore) -> None:
    keys = ["a/b", "a%2Fb", ".", "..", "__x__", "nurture:1:2026-03-01:step/2", "città"]
    tokens = [held(store, key) for key in keys]
    for index, (key, token) in enumerate(zip(keys, tokens, strict=True)):
        store.complete(key, {"n": index}, now=T0, token=token)
    assert [store.lookup(key) for key in keys] == [Reservation(k, "done", {"n": i}) for i, k in enumerate(keys)]


def test_naive_instants_and_empty_keys_are_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.reserve("k", now=datetime(2026, 3, 1, 6, 0), lease=LEASE)
    with pytest.raises(ValueError):
        store.reserve("", now=T0, lease=LEASE)
    assert store.lookup("k") is None


def _race(workers: int, attempt: Callable[[], str]) -> list[str]:
    """Run `attempt` on `workers` threads released at the same instant; their statuses."""
    barrier = threading.Barrier(workers)
    statuses: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        status = attempt()
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def test_two_threads_reserving_one_key_at_once_exactly_one_acquires_it(store: StateStore) -> None:
    for round_number in range(5):
        key = f"race-{round_number}"
        statuses = _race(2, lambda key=key: store.reserve(key, now=T0, lease=LEASE).status)
        assert statuses == ["acquired", "held"]


def test_many_threads_reserving_one_key_at_once_exactly_one_acquires_it(store: StateStore) -> None:
    statuses = _race(8, lambda: store.reserve("crowded", now=T0, lease=LEASE).status)
    assert statuses == ["acquired"] + ["held"] * 7


def test_threads_reclaiming_one_expired_lease_at_once_exactly_one_takes_it_over(store: StateStore) -> None:
    later = T0 + 2 * LEASE
    for round_number in range(3):
        key = f"stale-{round_number}"
        store.reserve(key, now=T0, lease=LEASE)
        statuses = _race(6, lambda key=key: store.reserve(key, now=later, lease=LEASE).status)
        assert statuses == ["held"] * 5 + ["reclaimed"]


def test_threads_of_separate_sqlite_stores_on_one_file_agree_on_one_winner(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    stores = [SqliteStateStore(path) for _ in range(4)]
    turn = itertools.count()
    statuses = _race(4, lambda: stores[next(turn)].reserve("shared", now=T0, lease=LEASE).status)
    assert statuses == ["acquired", "held", "held", "held"]
    for each in stores:
        each.close()


_RESERVE_IN_A_PROCESS = textwrap.dedent(
    """
    import json, sys, time
    from datetime import datetime, timedelta, UTC
    from pathlib import Path
    from flywheel.adapters.sqlite import SqliteStateStore

    path, start_flag, keys = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    store = SqliteStateStore(path)
    while not start_flag.exists():
        time.sleep(0.005)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    print(json.dumps([store.reserve(f"key-{i}", now=now, lease=timedelta(minutes=5)).status for i in range(keys)]))
    """
)


def test_processes_reserving_the_same_sqlite_keys_at_once_exactly_one_acquires_each(tmp_path: Path) -> None:
    import json

    path, start_flag, keys = tmp_path / "state" / "processes.db", tmp_path / "go", 40
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _RESERVE_IN_A_PROCESS, str(path), str(start_flag), str(keys)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    time.sleep(0.3)  # a head start to import and open the file; correctness does not depend on it
    start_flag.touch()
    outputs = [json.loads(child.communicate(timeout=120)[0]) for child in children]
    assert all(child.returncode == 0 for child in children)
    for index in range(keys):
        assert sorted(output[index] for output in outputs) == ["acquired", "held", "held"]


# random operation sequences against a model of the rules

_operations = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "reserve", "complete", "release", "lookup"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=0, max_value=6),  # minutes the clock moves first
        st.integers(min_value=1, max_value=5),  # lease in minutes
    ),
    max_size=30,
)


def test_random_reserve_complete_release_sequences_behave_like_the_model(store: StateStore) -> None:
    example_numbers = itertools.count()

    @settings(max_examples=examples(store, local=80, firestore=25), **PROPERTY_SETTINGS)
    @given(operations=_operations)
    def check(operations: list[tuple[str, str, int, int]]) -> None:
        # each example works on keys of its own, so one store serves them all
        prefix = f"example-{next(example_numbers)}:"
        model: dict[str, tuple[str, datetime | None, dict[str, Any] | None]] = {}
        # the token of the last reservation each key gave, and whether it is still the holder's
        tokens: dict[str, str] = {}
        now = T0
        for step, (operation, name, advance, lease_minutes) in enumerate(operations):
            key = prefix + name
            now += timedelta(minutes=advance)
            lease = timedelta(minutes=lease_minutes)
            entry = model.get(key)
            if operation == "reserve":
                got = store.reserve(key, now=now, lease=lease)
                if entry is None:
                    expected = Reservation(key, "acquired")
                elif entry[0] == "done":
                    expected = Reservation(key, "done", entry[2])
                elif entry[1] is not None and entry[1] > now:
                    expected = Reservation(key, "held")
                else:
                    expected = Reservation(key, "reclaimed")
                if expected.status in ("acquired", "reclaimed"):
                    model[key] = ("pending", now + lease, None)
                    assert got.token is not None
                    tokens[key] = got.token
                assert (got.key, got.status, got.result) == (expected.key, expected.status, expected.result), (
                    step,
                    operation,
                    key,
                )
            elif operation == "complete":
                result = {"step": step, "at": now}
                holder = entry is not None and entry[0] == "pending"
                assert store.complete(key, result, now=now, token=tokens.get(key, "none")) is holder
                if holder:
                    model[key] = ("done", None, result)
            elif operation == "release":
                holder = entry is not None and entry[0] == "pending"
                assert store.release(key, tokens.get(key, "none")) is holder
                if holder:
                    del model[key]
            else:
                got_lookup = store.lookup(key)
                if entry is None:
                    assert got_lookup is None
                elif entry[0] == "done":
                    assert got_lookup == Reservation(key, "done", entry[2])
                else:
                    assert got_lookup == Reservation(key, "held")

    check()


# --- sequences -------------------------------------------------------------------------------------------------


def record(sequence_id: str, next_due: date | None, company_id: str = "c1", **changes: Any) -> SequenceRecord:
    fields: dict[str, Any] = {
        "kind": KIND,
        "id": sequence_id,
        "company_id": company_id,
        "status": "active" if next_due else "completed",
        "step": 1,
        "next_due": next_due,
        "data": {},
    }
    fields.update(changes)
    return SequenceRecord(**fields)


def test_a_sequence_record_round_trips_and_a_put_replaces_it(store: StateStore) -> None:
    assert store.get_sequence(KIND, "s1") is None
    first = record(
        "s1",
        date(2026, 3, 16),
        data={"spell": "2026-01-15", "sends": [{"step": 1, "on": date(2026, 3, 1), "message_id": "m-1"}]},
    )
    assert store.put_sequence(first) == 1
    assert store.get_sequence(KIND, "s1") == replace(first, version=1)

    second = record("s1", None, status="converted", step=2, data={"converted_on": date(2026, 3, 10), "value": 812.5})
    assert store.put_sequence(second) == 2
    assert store.get_sequence(KIND, "s1") == replace(second, version=2)
    assert store.get_sequence("other-kind", "s1") is None


def test_a_compare_and_set_write_lands_only_on_the_version_it_was_derived_from(store: StateStore) -> None:
    with pytest.raises(StaleSequence):
        store.put_sequence(record("s1", date(2026, 3, 16)), expected_version=1)  # there is nothing yet
    assert store.put_sequence(record("s1", date(2026, 3, 16)), expected_version=0) == 1
    read = store.get_sequence(KIND, "s1")
    assert read is not None
    # the order webhook ends it meanwhile
    assert store.put_sequence(record("s1", None, status="converted"), expected_version=read.version) == 2

    with pytest.raises(StaleSequence):
        store.put_sequence(replace(read, step=2), expected_version=read.version)  # the daily run, stale
    assert store.get_sequence(KIND, "s1") == record("s1", None, status="converted", version=2)
    with pytest.raises(StaleSequence):
        store.put_sequence(record("s1", date(2026, 3, 16)), expected_version=0)  # "new" but it exists


def test_threads_writing_one_sequence_version_at_once_exactly_one_lands(store: StateStore) -> None:
    store.put_sequence(record("contended", date(2026, 3, 16)))
    turn = itertools.count()

    def attempt() -> str:
        step = next(turn) + 2
        try:
            store.put_sequence(record("contended", date(2026, 3, 16), step=step), expected_version=1)
            return "landed"
        except StaleSequence:
            return "stale"

    assert _race(4, attempt) == ["landed", "stale", "stale", "stale"]
    stored = store.get_sequence(KIND, "contended")
    assert stored is not None and stored.version == 2


def test_due_sequences_are_those_due_by_the_date_inclusive_in_due_order(store: StateStore) -> None:
    by = date(2026, 3, 15)
    store.put_sequence(record("late", date(2026, 3, 15)))  # due exactly on `by`: included
    store.put_sequence(record("early", date(2026, 2, 1)))
    store.put_sequence(record("tomorrow", date(2026, 3, 16)))  # not yet
    store.put_sequence(record("finished", None))  # inactive: never due
    store.put_sequence(record("mid-b", date(2026, 3, 1)))
    store.put_sequence(record("mid-a", date(2026, 3, 1)))  # same day: ties in id order
    store.put_sequence(SequenceRecord("cashback", "other", "c1", "active", 1, date(2026, 1, 1)))

    assert [r.id for r in store.due_sequences(KIND, by)] == ["early", "mid-a", "mid-b", "late"]
    assert [r.id for r in store.due_sequences(KIND, date(2026, 3, 16))][-1] == "tomorrow"
    assert list(store.due_sequences(KIND, date(2026, 1, 31))) == []
    assert [r.id for r in store.due_sequences("cashback", by)] == ["other"]
    assert list(store.due_sequences("unknown-kind", by)) == []


def test_a_record_that_becomes_inactive_is_no_longer_due(store: StateStore) -> None:
    store.put_sequence(record("s1", date(2026, 3, 1)))
    store.put_sequence(record("s1", None, status="converted"))
    assert list(store.due_sequences(KIND, date(2100, 1, 1))) == []


def test_due_sequences_read_in_pages_yield_each_record_once_even_when_updated_meanwhile(store: Any) -> None:
    store.page_size = 3
    for index in range(10):
        store.put_sequence(record(f"s{index:02}", date(2026, 3, 1) + timedelta(days=index)))
    seen = []
    for due in store.due_sequences(KIND, date(2026, 3, 31)):
        seen.append(due.id)
        # the caller moves each record on to its next step, still within the range being read
        due.next_due = date(2026, 3, 30)
        due.step += 1
        store.put_sequence(due)
    assert seen == [f"s{index:02}" for index in range(10)]
    assert all(r.step == 2 for r in store.due_sequences(KIND, date(2026, 3, 31)))


def test_sequences_of_a_company_are_all_its_records_of_that_kind(store: StateStore) -> None:
    store.put_sequence(record("spell-2", date(2026, 3, 1), company_id="42"))
    store.put_sequence(record("spell-1", None, company_id="42", status="converted"))
    store.put_sequence(record("spell-9", date(2026, 3, 1), company_id="43"))
    store.put_sequence(SequenceRecord("cashback", "x", "42", "active", 1, date(2026, 3, 1)))

    assert [r.id for r in store.sequences_of_company(KIND, "42")] == ["spell-1", "spell-2"]
    assert store.sequences_of_company(KIND, "44") == []
    assert [r.id for r in store.sequences_of_company("cashback", "42")] == ["x"]


def test_all_sequences_of_a_kind_are_listed_active_and_ended_and_no_other_kind(store: StateStore) -> None:
    store.put_sequence(record("spell-2", date(2026, 3, 1), company_id="42"))
    store.put_sequence(record("spell-1", None, company_id="42", status="converted"))
    store.put_sequence(record("a/b%c", date(2026, 3, 1), company_id="43"))
    store.put_sequence(SequenceRecord("cashback", "x", "42", "active", 1, date(2026, 3, 1)))

    assert sorted(r.id for r in store.sequences(KIND)) == ["a/b%c", "spell-1", "spell-2"]
    assert [r.id for r in store.sequences("cashback")] == ["x"]
    assert list(store.sequences("unknown-kind")) == []


def test_a_datetime_is_refused_as_next_due(store: StateStore) -> None:
    with pytest.raises(TypeError):
        store.put_sequence(record("s1", datetime(2026, 3, 1, tzinfo=UTC)))
    assert store.get_sequence(KIND, "s1") is None


_days = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 3, 31))
_records = st.lists(
    st.tuples(st.sampled_from([f"s{i}" for i in range(8)]), st.sampled_from(["1", "2", "3"]), st.none() | _days),
    max_size=14,
)


def test_due_sequences_and_company_lookups_match_a_model_of_random_records(store: Any) -> None:
    example_numbers = itertools.count()

    @settings(max_examples=examples(store, local=60, firestore=20), **PROPERTY_SETTINGS)
    @given(records=_records, by=_days, page_size=st.integers(min_value=1, max_value=4))
    def check(records: list[tuple[str, str, date | None]], by: date, page_size: int) -> None:
        # each example has a sequence kind of its own, so one store serves them all
        kind = f"kind-{next(example_numbers)}"
        store.page_size = page_size
        latest: dict[str, tuple[str, date | None]] = {}
        for sequence_id, company_id, next_due in records:
            store.put_sequence(record(sequence_id, next_due, company_id=company_id, kind=kind))
            latest[sequence_id] = (company_id, next_due)
        expected_due = sorted(
            (next_due, sequence_id)
            for sequence_id, (_, next_due) in latest.items()
            if next_due is not None and next_due <= by
        )
        assert [(r.next_due, r.id) for r in store.due_sequences(kind, by)] == expected_due
        for company_id in ("1", "2", "3"):
            expected_ids = sorted(sid for sid, (company, _) in latest.items() if company == company_id)
            assert [r.id for r in store.sequences_of_company(kind, company_id)] == expected_ids
        every = [r.id for r in store.sequences(kind)]
        assert sorted(every) == sorted(latest)  # each once, active or ended, whatever the page size

    check()


# --- checkpoints -----------------------------------------------------------------------------------------------


def test_a_checkpoint_is_saved_replaced_loaded_and_cleared(store: StateStore) -> None:
    assert store.load_checkpoint("sirank_recalc:full") is None
    store.save_checkpoint("sirank_recalc:full", {"after": "1200", "as_of": date(2026, 3, 1), "pages": 12})
    store.save_checkpoint("sirank_recalc:full", {"after": "1300", "as_of": date(2026, 3, 1), "pages": 13})
    store.save_checkpoint("cold_segment", {"after": None})
    assert store.load_checkpoint("sirank_recalc:full") == {"after": "1300", "as_of": date(2026, 3, 1), "pages": 13}

    store.clear_checkpoint("sirank_recalc:full")
    store.clear_checkpoint("sirank_recalc:full")  # clearing twice is harmless
    assert store.load_checkpoint("sirank_recalc:full") is None
    assert store.load_checkpoint("cold_segment") == {"after": None}


def test_a_loaded_checkpoint_is_the_callers_own_copy(store: StateStore) -> None:
    store.save_checkpoint("run", {"done": ["1", "2"]})
    loaded = store.load_checkpoint("run")
    assert loaded is not None
    loaded["done"].append("3")
    assert store.load_checkpoint("run") == {"done": ["1", "2"]}


# --- documents -------------------------------------------------------------------------------------------------


def test_documents_in_batches_above_500_are_written_read_iterated_and_deleted(store: StateStore) -> None:
    ledger = {f"{company:05}": {"orders": [[f"o{company}", "2026-01-10", 120.5]]} for company in range(701)}
    store.put_documents("ledger", ledger)
    store.put_documents("watermarks", {"sirank": {"at": datetime(2026, 3, 1, 5, 0, tzinfo=UTC)}})

    assert store.get_document("ledger", "00007") == {"orders": [["o7", "2026-01-10", 120.5]]}
    wanted = ["00000", "00500", "00700", "missing"]
    assert store.get_documents("ledger", wanted) == {doc_id: ledger[doc_id] for doc_id in wanted[:3]}
    assert [doc_id for doc_id, _ in store.iter_documents("ledger")] == sorted(ledger)
    assert dict(store.iter_documents("watermarks")) == {"sirank": {"at": datetime(2026, 3, 1, 5, 0, tzinfo=UTC)}}

    # 600 deletions: more than one batch too
    store.delete_documents("ledger", [f"{company:05}" for company in range(701) if company % 7] + ["missing"])
    assert store.get_document("ledger", "00001") is None
    assert [doc_id for doc_id, _ in store.iter_documents("ledger")] == [f"{c:05}" for c in range(0, 701, 7)]
    assert list(store.iter_documents("empty")) == []


def test_a_put_replaces_whole_documents(store: StateStore) -> None:
    store.put_documents("ledger", {"42": {"orders": {"o1": 10}, "total": 10}})
    store.put_documents("ledger", {"42": {"orders": {"o2": 5}}})
    assert store.get_document("ledger", "42") == {"orders": {"o2": 5}}


def test_awkward_document_ids_and_collection_names_round_trip(store: Any) -> None:
    store.page_size = 2
    ids = ["a/b", "a%2Fb", ".", "..", "__name__", "50%", "città", "x y"]
    store.put_documents("ledger/v1", {doc_id: {"id": doc_id} for doc_id in ids})
    assert sorted(doc_id for doc_id, _ in store.iter_documents("ledger/v1")) == sorted(ids)
    assert all(store.get_document("ledger/v1", doc_id) == {"id": doc_id} for doc_id in ids)
    assert list(store.iter_documents("ledger")) == []


@pytest.mark.parametrize(
    "unstorable",
    [
        {"at": datetime(2026, 3, 1, 6, 0)},  # naive datetime
        {"ids": {"1", "2"}},  # a set
        {"big": 2**63},  # beyond 64 bits
        {"ratio": float("nan")},
        {"$date": "2026-03-01"},  # a key reserved for the codec
        {"__name__": 1},  # a key Firestore reserves
        {"": 1},
        {"nested": {1: "x"}},  # a key that is not a string
    ],
)
def test_unstorable_values_are_refused_and_nothing_of_the_batch_is_stored(
    store: StateStore, unstorable: dict[Any, Any]
) -> None:
    with pytest.raises((TypeError, ValueError)):
        store.put_documents("ledger", {"good": {"n": 1}, "bad": unstorable})
    with pytest.raises((TypeError, ValueError)):
        store.save_checkpoint("run", unstorable)
    assert store.get_documents("ledger", ["good", "bad"]) == {}
    assert store.load_checkpoint("run") is None


_zones = st.sampled_from([UTC, ZoneInfo("Europe/Rome"), timezone(timedelta(hours=-5, minutes=-30))])
_keys = st.text(min_size=1, max_size=8).filter(lambda k: not k.startswith("$") and not (k[:2] == k[-2:] == "__"))
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
    | st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
    | st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=_zones)
)
_values = st.recursive(
    _leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4), max_leaves=16
)
_documents = st.dictionaries(_keys, _values, max_size=5)


def canonical(value: Any) -> Any:
    """A value with its types spelled out, so that 1 and 1.0, or one instant in two offsets, differ."""
    if isinstance(value, datetime):
        return ("datetime", value.isoformat())
    if isinstance(value, date):
        return ("date", value.isoformat())
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return (type(value).__name__, value)


def test_dates_datetimes_and_nested_data_round_trip_exactly(store: StateStore) -> None:
    example_numbers = itertools.count()

    @settings(max_examples=examples(store, local=50, firestore=25), **PROPERTY_SETTINGS)
    @given(document=_documents)
    def check(document: dict[str, Any]) -> None:
        name = f"example-{next(example_numbers)}"
        store.put_documents("docs", {name: document})
        store.save_checkpoint(name, document)
        store.complete(name, document, now=T0, token=held(store, name))
        store.put_sequence(record(name, date(2026, 3, 1), data=document))
        expected = canonical(document)
        assert canonical(store.get_document("docs", name)) == expected
        assert canonical(store.load_checkpoint(name)) == expected
        assert canonical((store.lookup(name) or Reservation(name, "held")).result) == expected
        assert canonical((store.get_sequence(KIND, name) or record(name, None)).data) == expected

    check()


# --- SQLite specifics ------------------------------------------------------------------------------------------

_SCHEMA_V1 = """
CREATE TABLE effects (key TEXT PRIMARY KEY, status TEXT NOT NULL, lease_until INTEGER, result TEXT,
                      updated_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE sequences (kind TEXT NOT NULL, id TEXT NOT NULL, company_id TEXT NOT NULL, status TEXT NOT NULL,
                        step INTEGER NOT NULL, next_due TEXT, data TEXT NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID;
CREATE TABLE checkpoints (name TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE documents (collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
                        PRIMARY KEY (collection, id)) WITHOUT ROWID;
INSERT INTO effects VALUES ('sent', 'done', NULL, '{"message_id":"m-1"}', 0);
INSERT INTO sequences VALUES ('nurture', 's1', 'c1', 'active', 2, '2026-03-16', '{}');
PRAGMA user_version = 1;
"""


def test_a_state_file_of_the_first_schema_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA_V1)

    store = SqliteStateStore(str(path))

    assert store.lookup("sent") == Reservation("sent", "done", {"message_id": "m-1"})
    stored = store.get_sequence(KIND, "s1")
    assert stored is not None and (stored.step, stored.version) == (2, 0)
    assert store.put_sequence(replace(stored, step=3), expected_version=0) == 1
    assert store.reserve("new", now=T0, lease=LEASE).token
    store.close()


# --- Firestore specifics ---------------------------------------------------------------------------------------


@pytest.mark.firestore
def test_a_firestore_store_built_as_the_bootstrap_builds_it_makes_its_own_client_on_first_use(
    firestore_project: str,
) -> None:
    from flywheel.adapters.firestore import FirestoreStateStore

    store = FirestoreStateStore(firestore_project, prefix=f"lazy{time.time_ns()}")
    try:
        assert store.reserve("k", now=T0, lease=LEASE).status == "acquired"
        assert FirestoreStateStore(firestore_project, prefix=store.prefix).lookup("k") == Reservation("k", "held")
    finally:
        store.close()


@pytest.mark.firestore
def test_the_emulator_reset_endpoint_empties_the_database(firestore_emulator_host: str, firestore_project: str) -> None:
    from firestore_emulator import clear

    from flywheel.adapters.firestore import FirestoreStateStore

    # a project of its own: clearing the shared one would pull data from under session-wide fixtures
    project = f"{firestore_project}-reset"
    store = FirestoreStateStore(project, database="(default)")
    other = FirestoreStateStore(firestore_project, prefix=f"kept{time.time_ns()}")
    store.put_documents("ledger", {"1": {"n": 1}})
    store.save_checkpoint("run", {"after": "1"})
    other.save_checkpoint("run", {"after": "2"})
    clear(firestore_emulator_host, project)
    assert store.get_document("ledger", "1") is None
    assert store.load_checkpoint("run") is None
    assert other.load_checkpoint("run") == {"after": "2"}
    store.close()
    other.close()
