"""Rows written around an append: refused by PostgreSQL whichever role writes them, ignored by the live
ledger and named by the audit when they get in anyway (a superuser with the triggers off, anyone with the
SQLite file); and the append lock, which a login without privileges can neither take nor hold."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from api.cli import main as cli
from api.problems import status_of
from api.runtime import open_ledger, open_views
from api.settings import Settings
from keys import KeyPair
from ledger.domain.aggregates import AUTHORITY_ID, Authority, CreditRecord
from ledger.errors import LedgerError
from ledger.format.statements import format_datetime, parse_envelope
from tests.conftest import PG_URL, login_role, need_postgres
from tests.support import Department, World, make_resident_id, now

OLD_APPEND_LOCK_KEY = 7810759523990396769  # the advisory lock key appends used to queue on


# Forged events, as the attacker builds them: a real event's class and encoding, another statement.

def forged_revocation(world: World, dept: Department, record_id: str) -> StoredEvent:
    """The record's next event, revoking it, under a statement its department never signed."""
    statement = world.statement("record.revoked", dept.code, record_id=record_id, reason="forged",
                                annulling_document="none")
    version = world.ledger.record(record_id).version + 1
    return world.ledger.mapper.to_stored_event(CreditRecord.Revoked(
        originator_id=uuid.UUID(record_id), originator_version=version, timestamp=datetime.now(timezone.utc),
        statement=orjson.dumps(statement).decode(), key_id=dept.key.key_id, signature="forged",
        recorded_at=format_datetime(now())))


def forged_key(world: World, dept: Department, key: KeyPair) -> StoredEvent:
    """The authority's next event, registering the attacker's key for the department."""
    statement = world.statement("key.added", world.authority_dept.code, department=dept.code, key_id=key.key_id,
                                public_key=key.public_key_b64,
                                valid_from=format_datetime(now() - timedelta(days=1)))
    authority = world.ledger.authority()
    assert authority is not None
    return world.ledger.mapper.to_stored_event(Authority.KeyAdded(
        originator_id=AUTHORITY_ID, originator_version=authority.version + 1, timestamp=datetime.now(timezone.utc),
        statement=orjson.dumps(statement).decode(), key_id=world.authority.key_id, signature="forged",
        recorded_at=format_datetime(now())))


def insert_event(conn: Any, event: StoredEvent, position: int | None) -> None:
    """Insert the event row at ``position``, or where the sequence puts it."""
    if isinstance(conn, sqlite3.Connection):
        conn.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state)"
                     " VALUES (?, ?, ?, ?, ?)", (position, uuid.UUID(str(event.originator_id)).hex,
                                                 event.originator_version, event.topic, event.state))
    else:
        conn.execute("INSERT INTO ledger_events (originator_id, originator_version, topic, state, notification_id)"
                     " VALUES (%s, %s, %s, %s, COALESCE(%s, nextval('ledger_events_notification_id_seq')))",
                     (event.originator_id, event.originator_version, event.topic, event.state, position))


@contextmanager
def superuser_without_triggers(world: World) -> Iterator[Any]:
    """A connection that writes past every check: the SQLite file itself, or a PostgreSQL superuser with
    the triggers off."""
    if world.settings.database_url:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(world.settings.database_schema)))
            yield conn
    else:
        conn = sqlite3.connect(world.settings.sqlite_path, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()


def forge(world: World, event: StoredEvent) -> None:
    """Write the event at position -1, outside the leaf sequence, with no entry row."""
    with superuser_without_triggers(world) as conn:
        insert_event(conn, event, -1)


def audit(world: World, monkeypatch: pytest.MonkeyPatch) -> int:
    if world.settings.database_url:
        monkeypatch.setenv("CREDIT_LEDGER_DATABASE_URL", world.settings.database_url)
        monkeypatch.setenv("CREDIT_LEDGER_DATABASE_SCHEMA", world.settings.database_schema)
    return cli(["audit", "verify", "--data", str(world.settings.data_dir)])


# The live ledger and the audit, whatever got into the tables.

def test_live_ledger_ignores_a_revocation_without_its_entry(world: World, monkeypatch, capsys):
    dept = world.department()
    record_id = world.append_ok(world.submission(dept))[0].statement_id
    event = forged_revocation(world, dept, str(record_id))
    assert audit(world, monkeypatch) == 0
    forge(world, event)
    assert not world.ledger.record(record_id).revoked
    capsys.readouterr()
    assert audit(world, monkeypatch) == 1
    err = capsys.readouterr().err
    assert f"audit FAILED at event {record_id} version {event.originator_version} (position -1)" in err
    assert "no entry row" in err


def test_live_ledger_ignores_a_key_without_its_entry(world: World, monkeypatch, capsys):
    dept = world.department()
    attacker = KeyPair.generate()
    forge(world, forged_key(world, dept, attacker))
    forged = world.append(world.submission(Department(dept.code, attacker)))[0]
    assert isinstance(forged, LedgerError) and status_of(forged) == 401, forged
    world.append_ok(world.submission(dept))  # the ledger goes on, with the registry its appends wrote
    assert audit(world, monkeypatch) == 1
    assert f"audit FAILED at event {AUTHORITY_ID} version " in capsys.readouterr().err


def test_audit_names_an_entry_and_event_outside_the_leaf_sequence(tmp_path, monkeypatch, capsys):
    """On SQLite, where whoever holds the file can write a matching pair at leaf -1 and position -1 (on
    PostgreSQL a CHECK refuses a negative leaf index to every role)."""
    world = World(Settings(data_dir=tmp_path / "data"))
    try:
        dept = world.department()
        record_id = str(world.append_ok(world.submission(dept))[0].statement_id)
        event = forged_revocation(world, dept, record_id)
        with superuser_without_triggers(world) as conn:
            insert_event(conn, event, -1)
            conn.execute("INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest,"
                         " leaf_hash, recorded_at) VALUES (-1, -1, ?, ?, ?, ?)",
                         (str(uuid.uuid4()), b"\0" * 32, b"\0" * 32, format_datetime(now())))
        capsys.readouterr()
        assert audit(world, monkeypatch) == 1
        err = capsys.readouterr().err
        assert f"audit FAILED at event {record_id} version {event.originator_version} (position -1)" in err
        assert "outside the leaf sequence" in err
    finally:
        world.close()


# PostgreSQL refuses the rows themselves, to the service's own role.

@pytest.fixture(params=["owner", "service role"])
def pg_world(request: pytest.FixtureRequest, pg_schema: str, tmp_path, monkeypatch) -> Iterator[tuple[World, str]]:
    """A founded PostgreSQL ledger and the conninfo the service uses: the owner's (the default), or a role
    granted what ``migrate --grant-to`` grants, the owner running the migrations."""
    need_postgres()
    if request.param == "owner":
        world = World(Settings(data_dir=tmp_path / "data", database_url=PG_URL, database_schema=pg_schema))
        try:
            yield world, PG_URL
        finally:
            world.close()
        return
    with login_role() as (role, url):
        monkeypatch.setenv("CREDIT_LEDGER_DATABASE_URL", PG_URL)
        monkeypatch.setenv("CREDIT_LEDGER_DATABASE_SCHEMA", pg_schema)
        assert cli(["migrate", "--grant-to", role]) == 0
        world = World(Settings(data_dir=tmp_path / "data", database_url=url, database_schema=pg_schema,
                               migration_database_url=PG_URL))
        try:
            yield world, url
        finally:
            world.close()


def _pair(conn: psycopg.Connection, event: StoredEvent, position: str, leaf_after_last: int = 1) -> None:
    """The event at ``position`` (SQL) and its entry row at ``leaf_after_last`` past the last leaf, in one
    statement as an append writes them."""
    conn.execute(sql.SQL(
        "WITH ev AS (INSERT INTO ledger_events (originator_id, originator_version, topic, state, notification_id)"
        " VALUES (%s, %s, %s, %s, {}) RETURNING notification_id)"
        " INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest, leaf_hash,"
        " recorded_at) SELECT (SELECT COALESCE(MAX(leaf_index), -1) FROM ledger_entries) + %s, notification_id, %s,"
        " %s, %s, %s FROM ev").format(sql.SQL(position)),
        (event.originator_id, event.originator_version, event.topic, event.state, leaf_after_last, uuid.uuid4(),
         b"\0" * 32, b"\0" * 32, format_datetime(now())))


def _event_at_minus_one(conn, event):
    insert_event(conn, event, -1)


def _event_without_entry(conn, event):
    insert_event(conn, event, None)


def _entry_without_event(conn, event):
    position = conn.execute("SELECT nextval('ledger_events_notification_id_seq')").fetchone()[0]
    last = conn.execute("SELECT MAX(leaf_index) FROM ledger_entries").fetchone()[0]
    conn.execute("INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest, leaf_hash,"
                 " recorded_at) VALUES (%s, %s, %s, %s, %s, %s)",
                 (last + 1, position, uuid.uuid4(), b"\0" * 32, b"\0" * 32, format_datetime(now())))


def _pair_at_minus_one(conn, event):
    conn.execute("SELECT nextval('ledger_events_notification_id_seq')")
    _pair(conn, event, "-1")


def _pair_at_a_position_not_drawn(conn, event):
    conn.execute("SELECT nextval('ledger_events_notification_id_seq')")
    _pair(conn, event, "currval('ledger_events_notification_id_seq') + 1000")


def _pair_past_the_end_of_the_leaf_sequence(conn, event):
    _pair(conn, event, "DEFAULT", leaf_after_last=6)


FORGERIES = [_event_at_minus_one, _event_without_entry, _entry_without_event, _pair_at_minus_one,
             _pair_at_a_position_not_drawn, _pair_past_the_end_of_the_leaf_sequence]


@pytest.mark.postgres
@pytest.mark.parametrize("pg_world", ["service role"], indirect=True)
@pytest.mark.parametrize("kind", ["revocation", "key"])
@pytest.mark.parametrize("forgery", FORGERIES, ids=[f.__name__.strip("_") for f in FORGERIES])
def test_postgres_refuses_forged_rows_from_the_services_own_role(pg_world, kind, forgery):
    """The service's role writes history only through ledger_append(): it may insert no row itself."""
    world, service_url = pg_world
    dept = world.department()
    record_id = str(world.append_ok(world.submission(dept))[0].statement_id)
    event = forged_revocation(world, dept, record_id) if kind == "revocation" else forged_key(world, dept,
                                                                                             KeyPair.generate())
    before = world.ledger.count()
    with psycopg.connect(service_url) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(world.settings.database_schema)))
        with pytest.raises(psycopg.Error) as refused:
            forgery(conn, event)
            conn.commit()
    assert isinstance(refused.value, psycopg.errors.InsufficientPrivilege)
    assert world.ledger.count() == before and not world.ledger.record(record_id).revoked
    with psycopg.connect(PG_URL) as conn:
        table = sql.Identifier(world.settings.database_schema, "ledger_events")
        assert conn.execute(sql.SQL("SELECT COUNT(*) FROM {} WHERE originator_id = %s AND originator_version = %s")
                            .format(table), (event.originator_id, event.originator_version)).fetchone()[0] == 0
    world.append_ok(world.submission(dept))  # appends are unaffected


# The append lock.

@pytest.mark.postgres
def test_a_login_without_privileges_can_neither_take_nor_hold_the_append_lock(pg_world, monkeypatch):
    """A login that may see the schema but holds no privilege on its tables cannot lock the append lock
    table in any mode that would block an append, and holding the advisory lock appends once queued on
    blocks nothing."""
    world, _ = pg_world
    schema = world.settings.database_schema
    dept = world.department()
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=5s")  # a blocked append fails instead of hanging
    appender = open_ledger(world.settings)  # new connections, with that timeout
    try:
        with login_role(usage_on_schema=schema) as (_, intruder_url), psycopg.connect(intruder_url) as intruder:
            for mode in ("EXCLUSIVE", "ACCESS EXCLUSIVE", "SHARE"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    intruder.execute(sql.SQL("LOCK TABLE {} IN {} MODE").format(
                        sql.Identifier(schema, "ledger_append_lock"), sql.SQL(mode)))
                intruder.rollback()
            intruder.execute("SELECT pg_advisory_lock(%s)", (OLD_APPEND_LOCK_KEY,))  # held until it disconnects
            intruder.commit()
            outcome = appender.append([parse_envelope(world.submission(dept))])[0]
            assert not isinstance(outcome, Exception), outcome
    finally:
        appender.close()


@pytest.mark.postgres
def test_the_service_role_may_lock_the_append_lock_table_but_never_change_it(pg_world):
    """UPDATE is the one privilege granted, for LOCK TABLE; a table without columns leaves no UPDATE to write."""
    world, service_url = pg_world
    target = sql.Identifier(world.settings.database_schema, "ledger_append_lock")
    with psycopg.connect(service_url) as conn:
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(target))
        conn.rollback()
        for statement in ("INSERT INTO {} DEFAULT VALUES", "DELETE FROM {}", "TRUNCATE {}"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL(statement).format(target))
            conn.rollback()


@pytest.mark.postgres
def test_a_login_without_privileges_cannot_stop_queries_by_holding_a_view_lock(pg_world, monkeypatch):
    """Query answers wait for their view to catch up; the views' writer locks are tables a login without
    privileges can neither lock nor block by holding the advisory keys they once were."""
    world, _ = pg_world
    schema = world.settings.database_schema
    dept = world.department()
    subject = make_resident_id()
    record = world.submission(dept, subject=subject)
    world.append_ok(record)
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=5s")  # a blocked catch-up fails instead of hanging
    with login_role(usage_on_schema=schema) as (_, intruder_url), psycopg.connect(intruder_url) as intruder:
        for view in ("archive", "access_log", "log_tree"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                intruder.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                    sql.Identifier(schema, "view_lock_" + view)))
            intruder.rollback()
        for name in ("archive", "access_log", "log_tree"):  # the advisory keys views once queued on
            intruder.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        intruder.commit()
        views = open_views(world.settings, world.ledger)
        try:
            q = world.signed(dept, "query.requested", operator="staff-1", purpose="administrative_licensing",
                             legal_basis="L", scope="archive", subject=subject)
            (receipt,) = world.append_ok(q)
            data = views.answers.answer(q["statement"], now(), receipt.position)
            assert [r["record_id"] for r in data["records"]] == [record["statement"]["id"]]
            views.tree.catch_up()
        finally:
            views.close()


@pytest.mark.postgres
@pytest.mark.parametrize("pg_world", ["service role"], indirect=True)
@pytest.mark.parametrize("kind", ["revocation", "key"])
def test_a_well_formed_forged_pair_through_the_append_function_changes_nothing(pg_world, kind, monkeypatch):
    """The service's role may call ledger_append() as an append does, with an event no department signed:
    the live ledger refuses to decide on it (500 ledger-integrity, nothing accepted) and the audit names it."""
    from ledger.errors import IntegrityFailure

    world, service_url = pg_world
    dept = world.department()
    attacker = KeyPair.generate()
    record_id = str(world.append_ok(world.submission(dept))[0].statement_id)
    event = forged_revocation(world, dept, record_id) if kind == "revocation" else forged_key(world, dept, attacker)
    with psycopg.connect(service_url) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(world.settings.database_schema)))
        conn.execute("SELECT * FROM ledger_append(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                     ([event.originator_id], [event.originator_version], [event.topic], [event.state],
                      [uuid.uuid4()], [b"\0" * 32], [b"\0" * 32], [format_datetime(now())], [None], [None]))
    fresh = open_ledger(world.settings)
    try:
        if kind == "revocation":
            with pytest.raises(IntegrityFailure):
                fresh.record(record_id)
            (outcome,) = fresh.append([parse_envelope(world.signed(dept, "record.corrected", record_id=record_id,
                                                                   record_version=1, changes={"summary": "x"},
                                                                   reason="r"))])
        else:
            forged = world.envelope(world.statement("record.submitted", dept.code, subject=make_resident_id(),
                                                    subject_name="李四", item="food_drug.serious", summary="s",
                                                    decision_date="2026-01-10", document_number="D",
                                                    legal_basis="L"), attacker)
            with pytest.raises(IntegrityFailure):
                fresh.append([parse_envelope(forged)])
            outcome = IntegrityFailure("refused")
        assert isinstance(outcome, IntegrityFailure)
    finally:
        fresh.close()
    assert audit(world, monkeypatch) == 1


def test_audit_names_an_entry_whose_key_id_was_changed_to_hide_it_from_a_compromise_window(world, monkeypatch,
                                                                                           capsys):
    """The entries' key ids find a compromise window; one changed (by a writer past every check) so that a
    stolen key's statement drops out of the window is named by the audit."""
    dept = world.department()
    (receipt,) = world.append_ok(world.submission(dept))
    assert audit(world, monkeypatch) == 0
    with superuser_without_triggers(world) as conn:
        if not world.settings.database_url:
            conn.execute("DROP TRIGGER ledger_entries_no_update")
        conn.execute("UPDATE ledger_entries SET key_id = %s WHERE leaf_index = %s".replace(
            "%s", "%s" if world.settings.database_url else "?"), ("ed25519:" + "0" * 32, receipt.leaf_index))
    capsys.readouterr()
    assert audit(world, monkeypatch) == 1
    assert f"leaf {receipt.leaf_index}" in capsys.readouterr().err
