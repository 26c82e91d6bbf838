"""The recorders: each append answers where its statements landed, an incomplete one keeps nothing, the
PostgreSQL append queues on its lock and notifies, and the in-memory ledger places and answers a history
exactly as the SQL backends do. Both SQL backends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
import time
import uuid
from datetime import timedelta
from typing import Any

import orjson
import psycopg
import pytest
from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import sql

from api.settings import Settings
from keys import KeyPair
from ledger.adapters.entries import EntryRow, Placement
from ledger.adapters.memory import MemoryLedgerRecorder
from ledger.adapters.recorders import SQLiteLedgerRecorder
from ledger.application import Ledger, Receipt
from ledger.domain.aggregates import AUTHORITY_ID
from ledger.format.statements import Envelope, format_datetime, parse_envelope, parse_statement
from tests.conftest import PG_URL
from tests.support import ALL_FOOD_ITEMS, Department, World, make_resident_id, make_uscc, now


def _events(n: int) -> tuple[list[StoredEvent], dict[tuple[uuid.UUID, int], EntryRow]]:
    events, entries = [], {}
    for _ in range(n):
        oid = uuid.uuid4()
        events.append(StoredEvent(oid, 1, "tests:Nothing", b"{}"))
        entries[(oid, 1)] = EntryRow(uuid.uuid4(), b"d" * 32, b"h" * 32, format_datetime(now()), key_id="k")
    return events, entries


def _state(world: World) -> tuple[int, int | None]:
    return world.ledger.count(), world.ledger.recorder.max_notification_id()


def test_the_sqlite_recorder_appends_through_the_librarys_insert_events():
    assert SQLiteLedgerRecorder.insert_events is SQLiteApplicationRecorder.insert_events


def test_an_append_answers_where_each_event_landed(world: World):
    assert not hasattr(world.ledger.recorder, "last_appended")
    count, head = _state(world)
    events, entries = _events(3)
    placed = world.ledger.recorder.insert_events(events, entries=entries)
    assert all(isinstance(p, Placement) for p in placed)
    assert sorted((p.leaf_index, p.position) for p in placed) == [(count + i, head + 1 + i) for i in range(3)]
    assert {p.statement_id for p in placed} == {row.statement_id for row in entries.values()}
    found = world.ledger.entries.find_entries([p.statement_id for p in placed])
    assert {(r.leaf_index, r.position) for r in found.values()} == {(p.leaf_index, p.position) for p in placed}


def test_an_append_missing_an_entry_keeps_nothing(world: World):
    before = _state(world)
    events, entries = _events(2)
    del entries[(events[1].originator_id, 1)]
    with pytest.raises(ProgrammingError, match="no ledger entry"):
        world.ledger.recorder.insert_events(events, entries=entries)
    assert _state(world) == before


@pytest.fixture
def pg_world(pg_schema: str, tmp_path: Any) -> Iterator[World]:
    world = World(Settings(data_dir=tmp_path / "data", database_url=PG_URL, database_schema=pg_schema))
    yield world
    world.close()


@pytest.mark.postgres
def test_fewer_entries_than_events_keeps_nothing(pg_world: World):
    recorder = pg_world.ledger.recorder
    before = _state(pg_world)
    recorder.insert_statement = b"SELECT * FROM (" + recorder.insert_statement + b") AS placed LIMIT 1"
    events, entries = _events(2)
    with pytest.raises(ProgrammingError, match="1 entries written for 2 events"):
        recorder.insert_events(events, entries=entries)
    assert _state(pg_world) == before


@pytest.mark.postgres
def test_an_append_queues_on_the_append_lock_with_its_timeout_and_notifies(pg_world: World):
    world = pg_world
    schema = world.settings.database_schema
    dept = world.department()
    outcomes: list[Any] = []
    with psycopg.connect(PG_URL, autocommit=True) as listener, psycopg.connect(PG_URL) as holder:
        listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(world.ledger.recorder.channel_name)))
        holder.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(schema, "ledger_append_lock")))
        appending = threading.Thread(target=lambda: outcomes.extend(world.append(world.submission(dept))))
        appending.start()
        deadline = time.monotonic() + 10
        waiting: list[tuple[int, str]] = []
        while not waiting and time.monotonic() < deadline:
            waiting = [(pid, q) for pid, q in listener.execute(
                "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE %s", (f"%LOCK TABLE%{schema}%",)).fetchall()]
            time.sleep(0.05)
        assert len(waiting) == 1, waiting
        appender, statement = waiting[0]
        assert "SET LOCAL lock_timeout = '30s'" in statement and "NOTIFY" in statement
        assert appending.is_alive() and not outcomes
        holder.commit()
        appending.join(10)
        assert len(outcomes) == 1 and isinstance(outcomes[0], Receipt), outcomes
        # The channel is the database's: other schemas' appends notify on it too.
        for note in listener.notifies(timeout=5):
            if note.pid == appender:
                assert note.channel == world.ledger.recorder.channel_name
                break
        else:
            pytest.fail("the append sent no notification")


def _founding(ledger: Ledger) -> list[Envelope]:
    """The founding statements of a ledger, as envelopes (from its authority's events)."""
    return [Envelope(parse_statement(orjson.loads(ev.statement)), ev.key_id, ev.signature)
            for ev in list(ledger.events.get(AUTHORITY_ID))[:3]]


def test_the_in_memory_ledger_places_and_answers_a_history_as_the_sql_backend_does(world: World):
    memory = Ledger({"PERSISTENCE_MODULE": "eventsourcing.popo"}, authority_public_key=world.authority.public_key,
                    origin=world.settings.log_origin)
    try:
        assert isinstance(memory.recorder, MemoryLedgerRecorder)
        founded = memory.append(_founding(world.ledger))
        assert [(r.position, r.leaf_index) for r in founded] == [(1, 0), (2, 1), (3, 2)]
        at = now()
        memory.clock = world.ledger.clock = lambda: at  # the same recorded_at: the same leaf hashes

        def both(*envelopes: dict[str, Any]) -> list[Any]:
            parsed = [parse_envelope(e) for e in envelopes]
            ours, theirs = memory.append(parsed), world.ledger.append(parsed)
            assert [_answer(o) for o in ours] == [_answer(o) for o in theirs]
            return theirs

        code, key = make_uscc(), KeyPair.generate()  # a department registered through both ledgers
        d = Department(code, key)
        both(world.signed(world.authority_dept, "department.registered", department=code, name="Dept",
                          items=ALL_FOOD_ITEMS, purposes=["administrative_licensing"], roles=[]),
             world.signed(world.authority_dept, "key.added", department=code, key_id=key.key_id,
                          public_key=key.public_key_b64, valid_from=format_datetime(at - timedelta(days=3650))))
        first, second = world.submission(d), world.submission(d)
        record_id = first["statement"]["id"]
        both(first, second, first)
        both(world.signed(d, "record.corrected", record_id=record_id, record_version=1,
                          changes={"summary": "corrected"}, reason="review"),
             world.signed(d, "record.disclosed", record_id=record_id, list="black",
                          notice_served_at=at.date().isoformat()),
             world.signed(d, "record.corrected", record_id=record_id, record_version=1,
                          changes={"summary": "stale"}, reason="review"))
        both(world.signed(d, "query.requested", operator="staff-7", purpose="administrative_licensing",
                          legal_basis="law", scope="archive", subject=make_resident_id()),
             world.signed(d, "query.requested", operator="staff-7", purpose="administrative_licensing",
                          legal_basis="law", scope="access_log"))
        revoked = both(world.signed(world.authority_dept, "key.revoked", key_id=key.key_id,
                                    effective_at=format_datetime(at - timedelta(minutes=30)), reason="lost"))[0]
        assert revoked.compromise_window and len(revoked.compromise_window) == 6
        both(world.submission(d), second)
        assert memory.count() == world.ledger.count()
        assert memory.record(record_id).doc == world.ledger.record(record_id).doc
        assert memory.key_compromise(key.key_id, None, 0, None) == world.ledger.key_compromise(key.key_id, None, 0,
                                                                                              None)
        ids = [uuid.UUID(e["statement"]["id"]) for e in (first, second)]
        assert _rows(memory, ids) == _rows(world.ledger, ids) and len(_rows(memory, ids)) == 2
    finally:
        memory.close()


def _rows(ledger: Ledger, ids: list[uuid.UUID]) -> list[tuple[Any, ...]]:
    found = ledger.entries.find_entries(ids)
    return sorted((r.leaf_index, r.position, r.statement_id, r.statement_digest, r.leaf_hash, r.recorded_at,
                   r.outcome) for r in found.values())


def _answer(outcome: Any) -> Any:
    if isinstance(outcome, Receipt):
        return outcome.as_dict(), outcome.replay
    return type(outcome).__name__, str(outcome)
