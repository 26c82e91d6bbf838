"""Where a ledger is read from when it is copied, and what a database says about the ledger in it.

A source reads the history verbatim, a page at a time by key (memory stays flat): the events with their
positions, the entry rows, the signed checkpoints, each as a tuple of plain values (``UUID``, ``int``,
``str``, ``bytes``, ``None``) that are the same for a SQLite file and a PostgreSQL schema. While a copy runs,
the source is held in one transaction that also keeps appends out (SQLite: ``BEGIN IMMEDIATE``;
PostgreSQL: a repeatable-read snapshot taken after the append lock), and ``mark_moved`` makes it refuse
every later append, in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ledger.errors import MOVED_LEDGER

PAGE = 2000
Row = tuple[Any, ...]

EVENT_COLUMNS = ("notification_id", "originator_id", "originator_version", "topic", "state")
EVENT_TYPES = ("int8", "uuid", "int8", "text", "bytea")
ENTRY_COLUMNS = ("leaf_index", "notification_id", "statement_id", "statement_digest", "leaf_hash", "recorded_at",
                 "outcome", "key_id")
ENTRY_TYPES = ("int8", "int8", "uuid", "bytea", "bytea", "text", "text", "text")
CHECKPOINT_COLUMNS = ("size", "root", "note", "created_at")
CHECKPOINT_TYPES = ("int8", "bytea", "text", "text")

MOVED_TRIGGER = "ledger_events_moved"  # on PostgreSQL: refuses inserts; its comment says where the ledger went


@dataclass(frozen=True)
class Head:
    """What a database holds of a ledger: its size (entries), its first leaf (hash and signing key id),
    whether it holds any row at all (events, entries or checkpoints), and where ``copy`` moved it."""

    size: int
    first_leaf_hash: bytes | None
    first_key_id: str | None
    holds_rows: bool
    moved_to: str | None


EMPTY = Head(0, None, None, False, None)


class Source(Protocol):
    """A ledger being copied."""

    def begin(self) -> None: ...
    def count_events(self) -> int: ...
    def events(self, after: int) -> list[Row]: ...
    def entries(self, after: int) -> list[Row]: ...
    def checkpoints(self, after: int) -> list[Row]: ...
    def mark_moved(self, destination: str, when: str) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


def _moved_message(destination: str) -> str:
    return f"this ledger was moved to {destination} by credit-ledger copy: {MOVED_LEDGER}"


class SQLiteSource:
    """The ledger in a SQLite file (the library's ``stored_events``, whose row id is the position)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def begin(self) -> None:
        """Take the write lock until commit: appends wait, and every read sees one state."""
        self.conn.execute("BEGIN IMMEDIATE")

    def _has(self, table: str) -> bool:
        return bool(self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                      (table,)).fetchall())

    def count_events(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])

    def events(self, after: int) -> list[Row]:
        rows = self.conn.execute("SELECT rowid, originator_id, originator_version, topic, state FROM stored_events"
                                 " WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, PAGE)).fetchall()
        return [(r[0], UUID(r[1]), *r[2:]) for r in rows]  # a BLOB arrives as bytes

    def entries(self, after: int) -> list[Row]:
        rows = self.conn.execute(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM ledger_entries WHERE leaf_index > ?"
                                 " ORDER BY leaf_index LIMIT ?", (after, PAGE)).fetchall()
        return [(r[0], r[1], UUID(r[2]), *r[3:]) for r in rows]

    def checkpoints(self, after: int) -> list[Row]:
        if not self._has("log_checkpoints"):
            return []
        return self.conn.execute("SELECT size, root, note, created_at FROM log_checkpoints WHERE size > ?"
                                 " ORDER BY size LIMIT ?", (after, PAGE)).fetchall()

    def mark_moved(self, destination: str, when: str) -> None:
        """Record where the ledger went and refuse every later insert of an event or an entry."""
        message = _moved_message(destination).replace("'", "''")
        self.conn.execute("CREATE TABLE IF NOT EXISTS ledger_moved (moved_to TEXT NOT NULL, moved_at TEXT NOT NULL,"
                          " size INTEGER NOT NULL)")
        size = self.conn.execute("SELECT COUNT(*) FROM ledger_entries").fetchone()[0]
        self.conn.execute("INSERT INTO ledger_moved VALUES (?, ?, ?)", (destination, when, size))
        for table in ("stored_events", "ledger_entries"):
            self.conn.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_moved BEFORE INSERT ON {table}"
                              f" BEGIN SELECT RAISE(ABORT, '{message}'); END")

    def commit(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.rollback()
        self.conn.close()


class PostgresSource:
    """The ledger in a PostgreSQL schema; ``conninfo`` should be its owner's (marking it moved is DDL)."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self.schema = schema
        self.conn = conn

    @classmethod
    def connect(cls, conninfo: str, schema: str) -> PostgresSource:
        """A source over a new connection of its own."""
        return cls(psycopg.connect(conninfo, autocommit=False, connect_timeout=10), schema)

    def _t(self, table: str) -> sql.Composable:
        return sql.Identifier(self.schema, table)

    def begin(self) -> None:
        """The append lock first, then a repeatable-read snapshot: appends wait, and every read sees one state."""
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.execute("SET LOCAL lock_timeout = '30s'")
        self.conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self._t("ledger_append_lock")))

    def _page(self, table: str, columns: tuple[str, ...], key: str, after: int) -> list[Row]:
        query = sql.SQL("SELECT {} FROM {} WHERE {} > %s ORDER BY {} LIMIT %s").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), self._t(table), sql.Identifier(key), sql.Identifier(key))
        return self.conn.execute(query, (after, PAGE)).fetchall()  # bytea arrives as bytes

    def count_events(self) -> int:
        row = self.conn.execute(sql.SQL("SELECT COUNT(*) FROM {}").format(self._t("ledger_events"))).fetchone()
        return int(row[0]) if row else 0

    def events(self, after: int) -> list[Row]:
        return self._page("ledger_events", EVENT_COLUMNS, "notification_id", after)

    def entries(self, after: int) -> list[Row]:
        return self._page("ledger_entries", ENTRY_COLUMNS, "leaf_index", after)

    def checkpoints(self, after: int) -> list[Row]:
        return self._page("log_checkpoints", CHECKPOINT_COLUMNS, "size", after)

    def mark_moved(self, destination: str, when: str) -> None:
        """A trigger refusing every later insert of an event (so of any append), its comment saying where the
        ledger went and when."""
        message = sql.Literal(_moved_message(destination))
        function = sql.Identifier(self.schema, "ledger_refuse_moved")
        self.conn.execute(sql.SQL(
            "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $moved$ BEGIN RAISE EXCEPTION USING MESSAGE = {},"
            " ERRCODE = 'insufficient_privilege'; END $moved$").format(function, message))
        self.conn.execute(sql.SQL("CREATE TRIGGER {} BEFORE INSERT ON {} FOR EACH STATEMENT EXECUTE FUNCTION {}()")
                          .format(sql.Identifier(MOVED_TRIGGER), self._t("ledger_events"), function))
        self.conn.execute(sql.SQL("COMMENT ON TRIGGER {} ON {} IS {}").format(
            sql.Identifier(MOVED_TRIGGER), self._t("ledger_events"),
            sql.Literal(json.dumps({"moved_to": destination, "moved_at": when}))))

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def sqlite_head(path: Path) -> Head:
    """What the SQLite file at ``path`` holds (nothing if it does not exist; it is never created here)."""
    path = Path(path)
    if not path.exists():
        return EMPTY
    conn = sqlite3.connect(path, timeout=30)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        moved = None
        if "ledger_moved" in tables:
            found = conn.execute("SELECT moved_to FROM ledger_moved ORDER BY rowid DESC LIMIT 1").fetchone()
            moved = found[0] if found else None
        holds = any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]  # noqa: S608 - fixed names
                    for t in ("stored_events", "ledger_entries", "log_checkpoints") if t in tables)
        if "ledger_entries" not in tables:
            return Head(0, None, None, holds, moved)
        size = conn.execute("SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM ledger_entries").fetchone()[0]
        columns = {r[1] for r in conn.execute("PRAGMA table_info(ledger_entries)")}
        first = conn.execute("SELECT leaf_hash, " + ("key_id" if "key_id" in columns else "NULL")
                             + " FROM ledger_entries WHERE leaf_index = 0").fetchone()
    finally:
        conn.close()
    return Head(int(size), bytes(first[0]) if first else None, first[1] if first else None, holds, moved)


def postgres_head(conninfo: str, schema: str) -> Head:
    """What the PostgreSQL schema holds (nothing if its tables do not exist yet; nothing is created here)."""
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        def exists(table: str) -> bool:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                               (sql.Identifier(schema, table).as_string(conn),)).fetchone()
            return bool(row and row[0])

        if not exists("ledger_entries"):
            return EMPTY
        found = conn.execute(
            "SELECT obj_description(t.oid, 'pg_trigger') FROM pg_trigger t WHERE t.tgrelid = to_regclass(%s)"
            " AND t.tgname = %s", (sql.Identifier(schema, "ledger_events").as_string(conn), MOVED_TRIGGER)).fetchone()
        moved = None
        if found is not None:
            try:
                moved = str(json.loads(found[0] or "{}").get("moved_to") or "another database")
            except ValueError:
                moved = "another database"
        holds = any((conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(schema, t)))
                     .fetchone() or (False,))[0] for t in ("ledger_events", "ledger_entries", "log_checkpoints")
                    if exists(t))
        row = conn.execute(sql.SQL("SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM {}").format(
            sql.Identifier(schema, "ledger_entries"))).fetchone()
        size = int(row[0]) if row else 0
        cur = conn.cursor(row_factory=dict_row)
        first = cur.execute(sql.SQL("SELECT * FROM {} WHERE leaf_index = 0").format(
            sql.Identifier(schema, "ledger_entries"))).fetchone()
    if first is None:
        return Head(size, None, None, holds, moved)
    return Head(size, bytes(first["leaf_hash"]), first.get("key_id"), holds, moved)
