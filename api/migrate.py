"""Apply ``migrations/NNNN_*.sql`` to PostgreSQL in order, once each, under an advisory lock."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from importlib import resources

import psycopg
from psycopg import sql

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
LOCK_KEY = 0x6C6564676572  # "ledger"


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text, to notice an applied file that was edited."""
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def available() -> list[Migration]:
    """The migration files shipped in the ``migrations`` package, in order."""
    found = []
    for entry in resources.files("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("migration files must be numbered 0001, 0002, ... without gaps")
    return found


class MigrationError(RuntimeError):
    """An applied migration's file changed, or the database is ahead of this code."""


def _up_to_date(conn: psycopg.Connection[Any], schema: str, todo: list[Migration]) -> bool:
    """Whether every migration is applied, unchanged, and none unknown (read without any lock)."""
    table = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".schema_migrations',)).fetchone()
    if table is None or table[0] is None:
        return False
    applied = dict(conn.execute(sql.SQL("SELECT version, checksum FROM {}").format(
        sql.Identifier(schema, "schema_migrations"))).fetchall())
    conn.rollback()
    return applied == {m.version: m.checksum for m in todo}


def migrate(conninfo: str, schema: str = "public", lock_timeout_seconds: int = 60) -> list[Migration]:
    """Apply pending migrations in one transaction; return those applied now.

    With nothing pending, no lock is taken: the migrations' advisory lock is open to any login, so one that
    held it could otherwise stop every start of the service. Applying migrations waits for it at most
    ``lock_timeout_seconds``."""
    todo = available()
    with psycopg.connect(conninfo, autocommit=False) as conn:
        if _up_to_date(conn, schema, todo):
            return []
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{lock_timeout_seconds}s")))
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {
            row[0]: row[1] for row in conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        }
        known = {m.version for m in todo}
        ahead = sorted(set(applied) - known)
        if ahead:
            raise MigrationError(f"database has migrations {ahead} that this version does not know")
        done = []
        for m in todo:
            if m.version in applied:
                if applied[m.version] != m.checksum:
                    raise MigrationError(f"migration {m.version:04d}_{m.name}.sql changed after it was applied")
                continue
            conn.execute(m.sql)  # trusted file shipped with the package
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (m.version, m.name, m.checksum),
            )
            done.append(m)
        conn.commit()
    return done


LEDGER_TABLES = ("ledger_events", "ledger_entries", "log_checkpoints")  # history: select (checkpoints: insert too)
APPEND_FUNCTION = "ledger_append(uuid[], bigint[], text[], bytea[], uuid[], bytea[], bytea[], text[], text[], text[])"
# Empty tables that order writers (appends; each view's writers): UPDATE only, the least LOCK TABLE accepts.
LOCK_TABLES = ("ledger_append_lock", "view_lock_log_tree", "view_lock_archive", "view_lock_access_log")
VIEW_TABLES = ("projection_positions", "log_nodes", "archive_records", "view_departments", "view_catalogues",
               "view_responsibilities", "view_open_items", "view_measures_applied", "view_measures_filled",
               "access_log", "access_log_subjects")  # read models: rebuilt, so also update and delete


def grant(conninfo: str, schema: str, role: str) -> None:
    """Give the service's role what it needs and no more: it reads the ledger's tables and appends to the
    history only through ``ledger_append()`` (positions from the sequence, every event with its entry, leaves
    dense), inserts checkpoints, never updates or deletes (privileges, and the append-only triggers
    besides), and may lock the lock tables, which hold nothing to change."""
    with psycopg.connect(conninfo, autocommit=False) as conn:
        ident = sql.Identifier(role)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), ident))
        for table in LEDGER_TABLES:
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(sql.Identifier(schema, table), ident))
            kinds = "SELECT, INSERT" if table == "log_checkpoints" else "SELECT"
            conn.execute(sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(kinds), sql.Identifier(schema, table), ident))
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {}.{} TO {}").format(
            sql.Identifier(schema), sql.SQL(APPEND_FUNCTION), ident))
        for table in LOCK_TABLES:
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(sql.Identifier(schema, table), ident))
            conn.execute(sql.SQL("GRANT UPDATE ON {} TO {}").format(sql.Identifier(schema, table), ident))
        for table in VIEW_TABLES:
            conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {}")
                         .format(sql.Identifier(schema, table), ident))
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(schema, "schema_migrations"), ident))
        conn.commit()
