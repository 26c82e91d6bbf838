"""Event recorders that also write each event's ledger entry row (``entries``) in the same transaction.

Both extend the library's recorders through its hooks, which add the entry rows and turn the positions
the library returns into ``Placement`` values (position, leaf index, statement id). On SQLite the
library's ``insert_events`` runs them; on PostgreSQL an ``insert_events`` of the same shape runs them
without the library's pipeline. Aggregates are read only from events that have their entry row, so a
row written around an append changes no state. On PostgreSQL the tables come from ``migrations/``; on
SQLite this recorder creates them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from ledger.adapters.entries import (
    SIGNED_WITH_LIMIT, EntryRow, EntryStore, Placement, SignedEntry, entries_of, outcome_of, placed_in_order,
)

__all__ = ["EntryRow", "PostgresLedgerRecorder", "SQLiteLedgerRecorder", "SignedEntry"]


class PostgresLedgerRecorder(PostgresApplicationRecorder, EntryStore):
    """PostgreSQL recorder writing ``<app>_entries`` rows beside ``<app>_events``.

    Built on the library's hooks: ``_lock_table`` runs ``lock_table_statements`` (the lock timeout, the
    append lock and the notification), ``_insert_stored_events`` writes the events and their entries in
    one call of ``ledger_append()`` (migrations/0008; the service's role may insert into neither table
    itself), ``_fetch_ids_after_insert_events`` returns the placements. ``insert_events`` calls them as
    the library's does, in one transaction, but without a pipeline (see there).
    """

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        if self.datastore.enable_db_functions:
            # The library's database function takes no append lock and writes no entries.
            raise ProgrammingError("the ledger appends through ledger_append(): set POSTGRES_ENABLE_DB_FUNCTIONS=n")
        self.entries_table_name = events_table_name.removesuffix("_events") + "_entries"
        self.append_lock_table_name = events_table_name.removesuffix("_events") + "_append_lock"
        schema = self.datastore.schema
        table = Identifier(schema, self.entries_table_name)
        events = Identifier(schema, self.events_table_name)
        # The repository reads an aggregate's events only where each has its entry row: a row written into
        # the events table by other means than an append (which writes both) is never part of the state.
        # The library adds the version bounds and the order to this statement.
        self.select_events_statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {events} e"
            " JOIN {t} n ON n.notification_id = e.notification_id WHERE e.originator_id = %s"
        ).format(events=events, t=table)
        # Events and their entries in one statement: the events' positions come from the insert, each entry
        # joins its event on (aggregate, version), and leaf indexes continue densely in position order.
        # Plain arrays bound in binary (%b): far faster to dump than a composite type or text.
        self.insert_statement = SQL(
            "SELECT notification_id, leaf_index, statement_id FROM {}.ledger_append(%b::uuid[], %b::bigint[],"
            " %b::text[], %b::bytea[], %b::uuid[], %b::bytea[], %b::bytea[], %b::text[], %b::text[], %b::text[])"
        ).format(Identifier(schema))
        self.select_entries_statement = SQL(
            "SELECT leaf_index, notification_id, statement_id, statement_digest, leaf_hash, recorded_at, outcome "
            "FROM {t} WHERE statement_id = ANY(%b)"
        ).format(t=table)
        self.count_entries_statement = SQL("SELECT COUNT(*) AS n FROM {t}").format(t=table)
        self.signed_with_statement = SQL(
            "SELECT n.leaf_index, n.notification_id, n.statement_id, n.recorded_at, e.originator_id,"
            " e.originator_version, e.topic, e.state FROM {t} n"
            " JOIN {events} e ON e.notification_id = n.notification_id"
            " WHERE n.key_id = %s AND n.notification_id > %s AND n.notification_id < %s AND n.recorded_at >= %s"
            " ORDER BY n.notification_id LIMIT %s"
        ).format(t=table, events=events)
        # What every append sends first, as one simple query (one round trip): the lock timeout, then an
        # EXCLUSIVE lock of the empty ``<app>_append_lock`` table that writers queue on, held until commit
        # (positions become visible in order and leaf indexes stay dense, and the events table itself stays
        # open to readers), then the notification to the listeners (delivered at commit). Taking that lock
        # needs a privilege on the table (an advisory lock would be open to any login, which could then
        # stop every append by holding it).
        lock_statements = [
            SQL("SET LOCAL lock_timeout = '{0}s'").format(self.datastore.lock_timeout),
            SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(Identifier(schema, self.append_lock_table_name)),
            SQL("NOTIFY {0}").format(Identifier(self.channel_name)),
        ]
        # Composed once: composing a statement (quoting its identifiers) on every execution cost more
        # client-side time than the rest of a small append's statements.
        for name in ("insert_statement", "select_entries_statement", "count_entries_statement",
                     "signed_with_statement"):
            setattr(self, name, getattr(self, name).as_bytes())
        self.lock_statement = b"; ".join(s.as_bytes() for s in lock_statements)
        self.lock_table_statements = [s.as_bytes() for s in lock_statements]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The events and their entry rows (``entries``, by aggregate id and version) in one transaction,
        through the library's hooks in the order its ``insert_events`` calls them; returns each event's
        ``Placement``.

        Without the library's pipeline, which has no hook of its own: on a local server psycopg's pipeline
        machinery cost more client time than the round trips it saved (single-statement appends through
        ``Ledger.append`` measured 13% slower with it, batches of 500 no faster). The lock statements go
        as one simple query instead, so an append takes four round trips (BEGIN, lock, insert, COMMIT)
        and holds the lock from the second to its commit.
        """
        if not stored_events:
            return []
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _lock_table(self, curs: Cursor[DictRow]) -> None:
        """The lock statements (timeout, append lock, notification) as one simple query."""
        curs.execute(self.lock_statement)

    def _notify_channel(self, curs: Cursor[DictRow]) -> None:
        """Nothing to send: the notification is one of the lock statements, in their round trip."""

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
                              ) -> None:
        """As the library's: the append lock and the notification (``_lock_table``, ``_notify_channel``), then
        the events and their entry rows (``entries``, by aggregate id and version) in one statement."""
        rows = entries_of(stored_events, kwargs.get("entries"))
        params = ([e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
                  [e.topic for e in stored_events], [e.state for e in stored_events],
                  [r.statement_id for r in rows], [r.statement_digest for r in rows],
                  [r.leaf_hash for r in rows], [r.recorded_at for r in rows], [r.outcome_text for r in rows],
                  [r.key_id for r in rows])
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_statement, params, prepare=True)

    def _fetch_ids_after_insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> list[Placement]:
        """Where each event landed: its position, its entry's leaf index and statement id (position order)."""
        placed = [Placement(row["notification_id"], row["leaf_index"], row["statement_id"])
                  for row in curs.fetchall()]
        if len(placed) != len(stored_events):  # raised inside the transaction: nothing is kept
            raise ProgrammingError(f"{len(placed)} entries written for {len(stored_events)} events")
        return placed

    def find_entries(self, statement_ids: Iterable[UUID]) -> dict[UUID, EntryRow]:
        """Entry rows of the given statement ids that are in the ledger."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_entries_statement, (list(statement_ids),), prepare=True)
            return {
                row["statement_id"]: EntryRow(
                    statement_id=row["statement_id"], statement_digest=bytes(row["statement_digest"]),
                    leaf_hash=bytes(row["leaf_hash"]), recorded_at=row["recorded_at"],
                    leaf_index=row["leaf_index"], position=row["notification_id"], outcome=outcome_of(row["outcome"]),
                )
                for row in curs.fetchall()
            }

    def count_entries(self) -> int:
        """Number of statements in the ledger."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.count_entries_statement)
            row = curs.fetchone()
            assert row is not None
            return int(row["n"])

    def entries_signed_with(self, key_id: str, after: int, before: int, recorded_from: str,
                            limit: int = SIGNED_WITH_LIMIT) -> list[SignedEntry]:
        """Entries signed with ``key_id`` at positions in (``after``, ``before``) recorded from
        ``recorded_from`` on, in position order, with their stored events."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.signed_with_statement, (key_id, after, before, recorded_from, limit))
            return [SignedEntry(row["leaf_index"], row["notification_id"], row["statement_id"], row["recorded_at"],
                                StoredEvent(row["originator_id"], row["originator_version"], row["topic"],
                                            bytes(row["state"])))
                    for row in curs.fetchall()]


SQLITE_ENTRIES_DDL = [
    "CREATE TABLE IF NOT EXISTS ledger_entries ("
    " leaf_index INTEGER PRIMARY KEY,"
    " notification_id INTEGER NOT NULL UNIQUE,"
    " statement_id TEXT NOT NULL UNIQUE,"
    " statement_digest BLOB NOT NULL,"
    " leaf_hash BLOB NOT NULL,"
    " recorded_at TEXT NOT NULL,"
    " outcome TEXT,"
    " key_id TEXT)",
]
for _table in ("stored_events", "ledger_entries"):
    for _op in ("UPDATE", "DELETE"):
        SQLITE_ENTRIES_DDL.append(
            f"CREATE TRIGGER IF NOT EXISTS {_table}_no_{_op.lower()} BEFORE {_op} ON {_table} "
            f"BEGIN SELECT RAISE(ABORT, 'ledger tables are append-only: {_op} on {_table} refused'); END"
        )


SQLITE_KEY_INDEX = "CREATE INDEX IF NOT EXISTS ledger_entries_key_id ON ledger_entries (key_id, notification_id)"


class SQLiteLedgerRecorder(SQLiteApplicationRecorder, EntryStore):
    """SQLite recorder writing ``ledger_entries`` rows beside ``stored_events``: the library's
    ``insert_events`` opens the transaction and its ``_insert_events`` hook, extended here, writes the
    events and then their entries."""

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        # As on PostgreSQL: only events with their entry row (the library adds bounds and order).
        self.select_events_statement = (
            f"SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {self.events_table_name} e"
            " JOIN ledger_entries n ON n.notification_id = e.rowid WHERE e.originator_id=? "
        )

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *SQLITE_ENTRIES_DDL]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> list[Placement]:
        """The events, then their entry rows (``entries``, by aggregate id and version); where each landed."""
        rows = entries_of(stored_events, kwargs.get("entries"))
        positions = super()._insert_events(c, stored_events, **kwargs) or []
        c.execute("SELECT COALESCE(MAX(leaf_index), -1) AS m FROM ledger_entries")
        placed = placed_in_order(rows, positions, int(c.fetchone()["m"]) + 1)
        c.executemany(
            "INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest, leaf_hash,"
            " recorded_at, outcome, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            sorted(
                (p.leaf_index, int(p), str(r.statement_id), r.statement_digest, r.leaf_hash, r.recorded_at,
                 r.outcome_text, r.key_id)
                for p, r in zip(placed, rows, strict=True)
            ),
        )
        return placed

    def find_entries(self, statement_ids: Iterable[UUID]) -> dict[UUID, EntryRow]:
        """Entry rows of the given statement ids that are in the ledger."""
        keys = [str(s) for s in statement_ids]
        found: dict[UUID, EntryRow] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                c.execute(
                    "SELECT * FROM ledger_entries WHERE statement_id IN (" + ",".join("?" * len(chunk)) + ")",
                    chunk,
                )
                for row in c.fetchall():
                    sid = UUID(row["statement_id"])
                    found[sid] = EntryRow(
                        statement_id=sid, statement_digest=row["statement_digest"], leaf_hash=row["leaf_hash"],
                        recorded_at=row["recorded_at"], leaf_index=row["leaf_index"],
                        position=row["notification_id"], outcome=outcome_of(row["outcome"]),
                    )
        return found

    def count_entries(self) -> int:
        """Number of statements in the ledger."""
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT COUNT(*) AS n FROM ledger_entries")
            return int(c.fetchone()["n"])

    def create_table(self) -> None:
        """The tables; a file from before entries named their key gets the column, filled in from the events."""
        super().create_table()
        with self.datastore.transaction(commit=True) as c:
            c.execute("PRAGMA table_info(ledger_entries)")
            if any(row["name"] == "key_id" for row in c.fetchall()):
                return
            c.execute("ALTER TABLE ledger_entries ADD COLUMN key_id TEXT")
            c.execute("DROP TRIGGER IF EXISTS ledger_entries_no_update")
            c.execute(f"UPDATE ledger_entries SET key_id = (SELECT json_extract(CAST(e.state AS TEXT), '$.key_id')"
                      f" FROM {self.events_table_name} e WHERE e.rowid = ledger_entries.notification_id"
                      f" AND json_valid(CAST(e.state AS TEXT)))")
            for statement in SQLITE_ENTRIES_DDL[1:]:
                c.execute(statement)
        with self.datastore.transaction(commit=True) as c:
            c.execute(SQLITE_KEY_INDEX)

    def entries_signed_with(self, key_id: str, after: int, before: int, recorded_from: str,
                            limit: int = SIGNED_WITH_LIMIT) -> list[SignedEntry]:
        """Entries signed with ``key_id`` at positions in (``after``, ``before``) recorded from
        ``recorded_from`` on, in position order, with their stored events."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT n.leaf_index, n.notification_id, n.statement_id, n.recorded_at, e.originator_id,"
                f" e.originator_version, e.topic, e.state FROM ledger_entries n JOIN {self.events_table_name} e"
                f" ON e.rowid = n.notification_id WHERE n.key_id = ? AND n.notification_id > ?"
                f" AND n.notification_id < ? AND n.recorded_at >= ? ORDER BY n.notification_id LIMIT ?",
                (key_id, after, before, recorded_from, limit))
            return [SignedEntry(row["leaf_index"], row["notification_id"], UUID(row["statement_id"]),
                                row["recorded_at"], StoredEvent(UUID(row["originator_id"]), row["originator_version"],
                                                                row["topic"], row["state"]))
                    for row in c.fetchall()]
