"""Storage: migrations build what the library would, tables are append-only, entries are dense."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from psycopg import sql

from api.migrate import MigrationError, available, migrate
from ledger.application import Ledger
from tests.conftest import PG_URL
from tests.support import World

pytestmark = []


def _describe(conn: psycopg.Connection, schema: str, table: str) -> dict:
    cols = conn.execute(
        "SELECT column_name, data_type, is_nullable, column_default IS NOT NULL FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position", (schema, table)).fetchall()
    idx = conn.execute(
        "SELECT indexname, regexp_replace(indexdef, ' ON [^ ]+ ', ' ON t ') FROM pg_indexes "
        "WHERE schemaname = %s AND tablename = %s ORDER BY indexname", (schema, table)).fetchall()
    idx = [(n, d.replace(f"{schema}.", "")) for n, d in idx]
    opts = conn.execute(
        "SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s", (schema, table)).fetchone()
    types = conn.execute(
        "SELECT t.typname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_type t "
        "JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_class c ON c.oid = t.typrelid "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
        "WHERE n.nspname = %s AND c.relkind = 'c' ORDER BY t.typname, a.attnum", (schema,)).fetchall()
    return {"columns": cols, "indexes": idx, "options": opts, "types": types}


@pytest.mark.postgres
def test_migrations_create_the_tables_the_library_would(pg_schema):
    lib_schema = pg_schema + "_lib"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(lib_schema)))
    try:
        # The library creates its own tables in one schema ...
        Ledger({
            "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test", "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "", "POSTGRES_SCHEMA": lib_schema, "CREATE_TABLE": "y",
        }).close()
        # ... the migrations in another.
        applied = migrate(PG_URL, pg_schema)
        assert [m.version for m in applied] == [m.version for m in available()]
        with psycopg.connect(PG_URL) as conn:
            ours = _describe(conn, pg_schema, "ledger_events")
            theirs = _describe(conn, lib_schema, "ledger_events")
            assert ours["columns"] and ours == theirs
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(lib_schema)))


@pytest.mark.postgres
def test_migrate_is_idempotent_and_refuses_an_edited_file(pg_schema):
    assert migrate(PG_URL, pg_schema)
    assert migrate(PG_URL, pg_schema) == []
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("UPDATE {}.schema_migrations SET checksum = 'x' WHERE version = 1")
                     .format(sql.Identifier(pg_schema)))
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(PG_URL, pg_schema)


def test_tables_are_append_only(world: World):
    dept = world.department()
    world.append_ok(world.submission(dept))
    count = world.ledger.count()
    if world.settings.database_url:
        for table in ("ledger_events", "ledger_entries"):
            for stmt in ("UPDATE {t} SET recorded_at = recorded_at" if table == "ledger_entries"
                         else "UPDATE {t} SET topic = topic", "DELETE FROM {t}", "TRUNCATE {t}"):
                with psycopg.connect(PG_URL) as conn:
                    with pytest.raises(psycopg.Error, match="append-only"):
                        conn.execute(sql.SQL(stmt).format(t=sql.Identifier(world.settings.database_schema, table)))
    else:
        conn = sqlite3.connect(world.settings.sqlite_path)
        try:
            for stmt in ("UPDATE stored_events SET topic = topic", "DELETE FROM stored_events",
                         "UPDATE ledger_entries SET recorded_at = recorded_at", "DELETE FROM ledger_entries"):
                with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                    conn.execute(stmt)
        finally:
            conn.close()
    assert world.ledger.count() == count


def test_leaf_indexes_are_dense_and_follow_positions(world: World):
    dept = world.department()
    outcomes = world.append_ok(*[world.submission(dept) for _ in range(50)])
    leaves = [o.leaf_index for o in outcomes]
    positions = [o.position for o in outcomes]
    assert leaves == list(range(leaves[0], leaves[0] + 50))
    assert positions == sorted(positions)
    assert world.ledger.count() == leaves[-1] + 1
