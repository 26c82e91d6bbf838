"""The views' positions are the eventsourcing library's tracking: its recorder writes them with the rows,
reads them and waits for them; its table is the one the library makes; a store whose positions were kept
in the older ``projection_positions`` layout continues from them; the service's role keeps its grants;
``follow`` wakes a worker on each append. Both backends where both apply."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.migrate import grant, migrate
from api.runtime import open_views
from api.settings import Settings
from projections.follow import follow
from projections.pgstore import PostgresStore
from projections.store import SQLiteViewTracking
from tests.conftest import PG_URL, login_role
from tests.support import World, random_history

VIEWS = ("archive", "access_log", "log_tree")


def _caught_up(world: World):  # type: ignore[no-untyped-def]
    views = open_views(world.settings, world.ledger)
    for view in (views.archive, views.access_log, views.tree):
        view.catch_up_all()
    return views


def test_positions_are_written_read_and_waited_for_through_the_librarys_recorder(world: World):
    random_history(world, 200, seed=31)
    views = _caught_up(world)
    try:
        tracking = views.store.tracking
        expected = SQLiteViewTracking if world.settings.backend == "sqlite" else PostgresTrackingRecorder
        assert isinstance(tracking, expected)
        if isinstance(tracking, SQLiteViewTracking):  # the library's insert, counted instead of returned
            assert tracking.counted_statement and "RETURNING" not in tracking.counted_statement
        head = world.ledger.recorder.max_notification_id() or 0
        assert tracking.max_tracking_id("archive") == views.archive.position() == head > 0
        assert tracking.max_tracking_id("log_tree") == views.tree.size() == world.ledger.count()
        assert tracking.has_tracking_id("archive", head) and not tracking.has_tracking_id("archive", head + 1)
        views.archive.wait(head, timeout=1)
        with pytest.raises(TimeoutError):
            views.archive.wait(head + 1, timeout=0.2)
        with pytest.raises(IntegrityError):  # single-row tracking: a position never moves back
            tracking.insert_tracking(Tracking("archive", head - 1))
        # a position written in a transaction that fails is not kept, nor are the rows written with it
        with pytest.raises(RuntimeError), views.store.transaction() as tx:
            tx.execute("INSERT INTO view_departments (code, name) VALUES (%s, %s)", ("X-1", "never"))
            tx.track("archive", head + 10)
            raise RuntimeError("fails before commit")
        assert views.archive.position() == head
        assert not views.store.query("SELECT 1 FROM view_departments WHERE code = %s", ("X-1",))
        views.archive.reset()
        assert tracking.max_tracking_id("archive") is None and views.archive.position() == 0
    finally:
        views.close()


def test_a_worker_in_another_thread_is_waited_for(world: World):
    views = _caught_up(world)
    worker = views.worker(world.settings)
    worker.start()
    try:
        dept = world.department()
        (receipt,) = world.append_ok(world.submission(dept))
        worker.notify()
        views.archive.wait(receipt.position, timeout=30)
        assert views.store.query("SELECT 1 FROM archive_records WHERE record_id = %s", (str(receipt.statement_id),))
    finally:
        worker.stop()
        views.close()


def _to_projection_positions(world: World) -> None:
    """Put the views' positions back into the layout of a store written before the library kept them."""
    if world.settings.backend == "sqlite":
        with sqlite3.connect(world.settings.sqlite_path) as lite:
            lite.execute("CREATE TABLE projection_positions (name TEXT PRIMARY KEY, position INTEGER NOT NULL)")
            lite.execute("INSERT INTO projection_positions SELECT application_name, notification_id FROM tracking"
                         " WHERE application_name <> '__migration__'")
            lite.execute("DROP TABLE tracking")
        return
    with psycopg.connect(PG_URL, autocommit=True) as conn, conn.transaction():
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(world.settings.database_schema)))
        conn.execute("DELETE FROM projection_positions WHERE application_name = '__migration__'")
        conn.execute("ALTER TABLE projection_positions RENAME COLUMN application_name TO name")
        conn.execute("ALTER TABLE projection_positions RENAME COLUMN notification_id TO position")
        conn.execute("ALTER TABLE projection_positions ALTER COLUMN position SET NOT NULL")
        conn.execute("ALTER TABLE projection_positions RESET (autovacuum_enabled, autovacuum_vacuum_threshold,"
                     " autovacuum_vacuum_scale_factor, autovacuum_analyze_threshold, autovacuum_analyze_scale_factor)")
        conn.execute("DELETE FROM schema_migrations WHERE version = 10")


def test_a_store_with_projection_positions_continues_from_them(world: World):
    random_history(world, 300, seed=32)
    views = _caught_up(world)
    try:
        before = {view.name: view.position() for view in (views.archive, views.access_log, views.tree)}
    finally:
        views.close()
    assert all(before.values())
    _to_projection_positions(world)
    if world.settings.database_url:
        assert [m.version for m in migrate(PG_URL, world.settings.database_schema)] == [10]
    random_history(world, 100, seed=33)  # more events, after the positions the views had reached
    views = open_views(world.settings, world.ledger)
    try:
        targets = (views.archive, views.access_log, views.tree)
        assert {view.name: view.position() for view in targets} == before  # continued, not started again
        assert views.store.tracking.max_tracking_id("__migration__") == 1
        new_leaves = world.ledger.count() - before["log_tree"]
        assert views.tree.catch_up_all() == new_leaves
        assert 0 < views.archive.catch_up_all() < new_leaves  # the new events of its topics only
        views.access_log.catch_up_all()
        live = [view.digest() for view in targets]
        for view in targets:
            view.reset()
            view.catch_up_all()
        assert [view.digest() for view in targets] == live
    finally:
        views.close()
    if world.settings.backend == "sqlite":
        with sqlite3.connect(world.settings.sqlite_path) as conn:  # moved once: the older table is gone
            assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'projection_positions'").fetchall()


def _pg_table(conn: psycopg.Connection, schema: str, table: str) -> dict:
    columns = conn.execute("SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                           " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                           (schema, table)).fetchall()
    indexes = conn.execute("SELECT regexp_replace(indexdef, ' ON [^ ]+ ', ' ON t ') FROM pg_indexes"
                           " WHERE schemaname = %s AND tablename = %s", (schema, table)).fetchall()
    options = conn.execute("SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                           " WHERE n.nspname = %s AND c.relname = %s", (schema, table)).fetchone()
    rows = conn.execute(sql.SQL("SELECT application_name, notification_id FROM {}").format(
        sql.Identifier(schema, table))).fetchall()
    return {"columns": columns, "indexes": indexes, "options": options, "rows": rows}


@pytest.mark.postgres
def test_the_migrated_tracking_table_is_the_one_the_library_makes(pg_schema):
    lib_schema = pg_schema + "_lib"
    migrate(PG_URL, pg_schema)
    params = conninfo_to_dict(PG_URL)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(lib_schema)))
    datastore = PostgresDatastore(str(params.get("dbname")), str(params.get("host", "127.0.0.1")),
                                  str(params.get("port", 5432)), str(params.get("user")),
                                  str(params.get("password", "")), schema=lib_schema)
    try:
        PostgresTrackingRecorder(datastore, tracking_table_name="projection_positions").create_table()
        with psycopg.connect(PG_URL) as conn:
            ours = _pg_table(conn, pg_schema, "projection_positions")
            assert ours["columns"] == [("application_name", "text", "NO"), ("notification_id", "bigint", "YES")]
            assert ours == _pg_table(conn, lib_schema, "projection_positions")
    finally:
        datastore.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(lib_schema)))


def test_the_sqlite_tracking_table_is_the_one_the_library_makes(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    world = World(settings)
    try:
        open_views(settings, world.ledger).close()
    finally:
        world.close()
    library_file = tmp_path / "library.sqlite3"
    datastore = SQLiteDatastore(str(library_file))
    SQLiteTrackingRecorder(datastore).create_table()
    datastore.close()

    def table(path: str | Path) -> tuple:
        with sqlite3.connect(path) as conn:
            return (conn.execute("SELECT sql FROM sqlite_master WHERE name = 'tracking'").fetchall(),
                    conn.execute("SELECT * FROM tracking WHERE application_name = '__migration__'").fetchall())

    assert table(settings.sqlite_path) == table(library_file)


@pytest.mark.postgres
def test_a_service_role_granted_before_the_library_kept_positions_still_tracks(pg_schema, tmp_path):
    with login_role() as (role, url):
        migrate(PG_URL, pg_schema)
        owner = World(Settings(data_dir=tmp_path / "data", database_url=PG_URL, database_schema=pg_schema))
        try:
            _to_projection_positions(owner)  # as a store was before migration 0010 ...
            grant(PG_URL, pg_schema, role)  # ... when its service role was granted
        finally:
            owner.close()
        settings = Settings(data_dir=tmp_path / "data", database_url=url, database_schema=pg_schema,
                            migration_database_url=PG_URL)
        world = World(settings)  # migrates (0010 now) as the owner, runs as the role
        try:
            world.append_ok(world.submission(world.department()))
            views = _caught_up(world)
            try:
                assert views.archive.position() == world.ledger.recorder.max_notification_id()
                views.archive.reset()
                assert views.archive.catch_up_all() > 0
            finally:
                views.close()
        finally:
            world.close()
        with psycopg.connect(PG_URL) as conn:
            table = f"{pg_schema}.projection_positions"
            held = {p for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
                    if conn.execute("SELECT has_table_privilege(%s, %s, %s)", (role, table, p)).fetchone()[0]}
        assert held == {"SELECT", "INSERT", "UPDATE", "DELETE"}


@pytest.mark.postgres
def test_the_views_connections_keep_every_parameter_of_the_database_url(pg_schema):
    migrate(PG_URL, pg_schema)
    store = PostgresStore(make_conninfo(PG_URL, application_name="views-of-the-ledger"), pg_schema)
    try:
        assert store.query("SELECT current_setting('application_name'), current_schema()") == [
            ("views-of-the-ledger", pg_schema)]
    finally:
        store.close()


def _following(ledger, woken: threading.Event, stop: threading.Event) -> threading.Thread:  # type: ignore[no-untyped-def]
    follower = threading.Thread(target=follow, args=(ledger, woken.set, stop), kwargs={"check_seconds": 0.1},
                                daemon=True)
    follower.start()
    return follower


def test_follow_wakes_on_each_notification_and_ends_when_stopped(world: World, monkeypatch):
    woken, stop = threading.Event(), threading.Event()
    if world.settings.backend == "sqlite":  # no notifications there: it returns at once
        follower = _following(world.ledger, woken, stop)
        follower.join(5)
        assert not follower.is_alive() and not woken.is_set()
        return
    # A channel of this test's own (the ledger's is named after its events table, in every schema alike)
    channel = "t_follow_" + uuid.uuid4().hex[:8]
    monkeypatch.setattr(world.ledger.recorder, "channel_name", channel)
    follower = _following(world.ledger, woken, stop)
    try:
        time.sleep(0.3)
        assert not woken.is_set()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for _ in range(2):
                conn.execute(sql.SQL("NOTIFY {}").format(sql.Identifier(channel)))
                assert woken.wait(10)
                woken.clear()
    finally:
        stop.set()
        follower.join(5)
    assert not follower.is_alive()


@pytest.mark.postgres
def test_follow_wakes_on_an_append(pg_schema, tmp_path):
    world = World(Settings(data_dir=tmp_path / "data", database_url=PG_URL, database_schema=pg_schema))
    woken, stop = threading.Event(), threading.Event()
    dept = world.department()
    follower = _following(world.ledger, woken, stop)
    try:
        time.sleep(0.3)
        woken.clear()
        world.append_ok(world.submission(dept))
        assert woken.wait(10)
    finally:
        stop.set()
        follower.join(5)
        world.close()
    assert not follower.is_alive()
