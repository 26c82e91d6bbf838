"""Event recorders that also write each event's ledger entry row in the same transaction.

The entries table gives every statement a dense leaf index (0, 1, 2, ... in the order of the
events table's notification ids, assigned under the ledger's append lock, so rolled-back
inserts leave no holes), enforces that a statement id is used once across the whole ledger, and
keeps the digest and leaf hash needed to answer a re-submission or a proof without decoding events.

The application passes ``entries={(originator_id, version): EntryRow}`` through ``save()``. Aggregates
are read only from events that have their entry row, so a row written around an append changes no state.
On PostgreSQL the tables come from ``migrations/``; on SQLite this recorder creates them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier


@dataclass(frozen=True)
class EntryRow:
    """What the ledger keeps about one appended statement, beside its event."""

    statement_id: UUID
    statement_digest: bytes
    leaf_hash: bytes
    recorded_at: str
    leaf_index: int = -1
    position: int = -1
    outcome: dict[str, Any] | None = None
    key_id: str | None = None

    @property
    def outcome_text(self) -> str | None:
        return None if self.outcome is None else orjson.dumps(self.outcome, option=orjson.OPT_SORT_KEYS).decode()


class SignedEntry(NamedTuple):
    """An entry found by the key that signed it, with its stored event."""

    leaf_index: int
    position: int
    statement_id: UUID
    recorded_at: str
    stored: StoredEvent


SIGNED_WITH_LIMIT = 100_000


def _outcome(text: str | None) -> dict[str, Any] | None:
    return None if text is None else orjson.loads(text)


def _entries_of(stored_events: Sequence[StoredEvent], entries: Mapping[tuple[UUID, int], EntryRow] | None
                ) -> list[EntryRow]:
    """Each event's entry row (``entries`` by aggregate id and version), in the events' order."""
    if entries is None:
        raise ProgrammingError("ledger events must be saved with their entries")
    rows = []
    for stored in stored_events:
        key = (UUID(str(stored.originator_id)), stored.originator_version)
        try:
            rows.append(entries[key])
        except KeyError:
            raise ProgrammingError(f"no ledger entry given for event {key}") from None
    return rows


def _rows_in_order(
    stored_events: Sequence[StoredEvent], ids: Sequence[int], entries: Mapping[tuple[UUID, int], EntryRow] | None
) -> list[tuple[int, EntryRow]]:
    return sorted(zip(ids, _entries_of(stored_events, entries), strict=True), key=lambda r: r[0])


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    """PostgreSQL recorder writing ``<app>_entries`` rows beside ``<app>_events``.

    ``last_appended`` maps each statement id of the last insert to its (position, leaf index): the
    ledger reads it right after ``save()``, under its append lock.
    """

    last_appended: dict[UUID, tuple[int, int]] = {}

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.entries_table_name = events_table_name.removesuffix("_events") + "_entries"
        self.append_lock_table_name = events_table_name.removesuffix("_events") + "_append_lock"
        table = Identifier(self.datastore.schema, self.entries_table_name)
        events = Identifier(self.datastore.schema, self.events_table_name)
        # The repository reads an aggregate's events only where each has its entry row: a row written into
        # the events table by other means than an append (which writes both) is never part of the state.
        # The library adds the version bounds and the order to this statement.
        self.select_events_statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {events} e"
            " JOIN {t} n ON n.notification_id = e.notification_id WHERE e.originator_id = %s"
        ).format(events=events, t=table)
        # Events and their entries in one statement of ``ledger_append()`` (migrations/0008): the events'
        # positions come from the insert, each entry joins its event on (aggregate, version), and leaf
        # indexes continue densely in position order. The service's role may insert into neither table
        # itself. Plain arrays bound in binary (%b): far faster to dump than a composite type or text.
        self.insert_statement = SQL(
            "SELECT notification_id, leaf_index, statement_id FROM {}.ledger_append(%b::uuid[], %b::bigint[],"
            " %b::text[], %b::bytea[], %b::uuid[], %b::bytea[], %b::bytea[], %b::text[], %b::text[], %b::text[])"
        ).format(Identifier(self.datastore.schema))
        self.select_entries_statement = SQL(
            "SELECT leaf_index, notification_id, statement_id, statement_digest, leaf_hash, recorded_at, outcome "
            "FROM {t} WHERE statement_id = ANY(%b)"
        ).format(t=table)
        self.count_entries_statement = SQL("SELECT COUNT(*) AS n FROM {t}").format(t=table)
        self.signed_with_statement = SQL(
            "SELECT n.leaf_index, n.notification_id, n.statement_id, n.recorded_at, e.originator_id,"
            " e.originator_version, e.topic, e.state FROM {t} n JOIN {events} e ON e.notification_id = n.notification_id"
            " WHERE n.key_id = %s AND n.notification_id > %s AND n.notification_id < %s AND n.recorded_at >= %s"
            " ORDER BY n.notification_id LIMIT %s"
        ).format(t=table, events=events)
        # What every append does first, sent as one simple query (one round trip). Writers queue on an
        # EXCLUSIVE lock of the empty ``<app>_append_lock`` table, held until commit: positions become
        # visible in order and leaf indexes stay dense, and the events table itself stays open to
        # readers. Taking that lock needs a privilege on the table (an advisory lock would be open to
        # any login, which could then stop every append by holding it).
        self.preamble_statement = SQL(
            "SET LOCAL lock_timeout = '{0}s'; LOCK TABLE {1} IN EXCLUSIVE MODE; NOTIFY {2}"
        ).format(self.datastore.lock_timeout, Identifier(self.datastore.schema, self.append_lock_table_name),
                 Identifier(self.channel_name))
        # Composed once: composing a statement (quoting its identifiers) on every execution cost more
        # client-side time than the rest of a small append's statements.
        for name in ("insert_statement", "select_entries_statement", "count_entries_statement", "preamble_statement"):
            setattr(self, name, getattr(self, name).as_bytes())

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The events and their entry rows (``entries``, by aggregate id and version) in one transaction:
        the lock and the notification, then one statement for both tables. Every append holds the lock
        from that first round trip to its commit, so nothing else runs in between: no pipeline (whose
        client-side machinery cost more than it saved), no Python between the two inserts. Returns the
        events' positions, in order; ``last_appended`` then maps each statement id to (position, leaf)."""
        if not stored_events:
            return []
        rows = _entries_of(stored_events, kwargs.get("entries"))
        originators = [e.originator_id for e in stored_events]
        versions = [e.originator_version for e in stored_events]
        params = (originators, versions, [e.topic for e in stored_events], [e.state for e in stored_events],
                  [r.statement_id for r in rows], [r.statement_digest for r in rows],
                  [r.leaf_hash for r in rows], [r.recorded_at for r in rows], [r.outcome_text for r in rows],
                  [r.key_id for r in rows])
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute(self.preamble_statement)
            curs.execute(self.insert_statement, params, prepare=True)
            placed = curs.fetchall()
            if len(placed) != len(stored_events):  # raised inside the transaction: nothing is kept
                raise ProgrammingError(f"{len(placed)} entries written for {len(stored_events)} events")
        self.last_appended = {row["statement_id"]: (row["notification_id"], row["leaf_index"]) for row in placed}
        return [row["notification_id"] for row in placed]

    def find_entries(self, statement_ids: Iterable[UUID]) -> dict[UUID, EntryRow]:
        """Entry rows of the given statement ids that are in the ledger."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_entries_statement, (list(statement_ids),), prepare=True)
            return {
                row["statement_id"]: EntryRow(
                    statement_id=row["statement_id"], statement_digest=bytes(row["statement_digest"]),
                    leaf_hash=bytes(row["leaf_hash"]), recorded_at=row["recorded_at"],
                    leaf_index=row["leaf_index"], position=row["notification_id"], outcome=_outcome(row["outcome"]),
                )
                for row in curs.fetchall()
            }

    def count_entries(self) -> int:
        """Number of statements in the ledger."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.count_entries_statement)
            return int(curs.fetchone()["n"])

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


class SQLiteLedgerRecorder(SQLiteApplicationRecorder):
    """SQLite recorder writing ``ledger_entries`` rows beside ``stored_events`` (``last_appended`` as above)."""

    last_appended: dict[UUID, tuple[int, int]] = {}

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
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        rows = _rows_in_order(stored_events, ids or [], kwargs.get("entries"))
        c.execute("SELECT COALESCE(MAX(leaf_index), -1) AS m FROM ledger_entries")
        base = int(c.fetchone()["m"]) + 1
        c.executemany(
            "INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest, leaf_hash,"
            " recorded_at, outcome, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (base + i, nid, str(r.statement_id), r.statement_digest, r.leaf_hash, r.recorded_at, r.outcome_text,
                 r.key_id)
                for i, (nid, r) in enumerate(rows)
            ],
        )
        self.last_appended = {r.statement_id: (nid, base + i) for i, (nid, r) in enumerate(rows)}
        return ids

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
                        position=row["notification_id"], outcome=_outcome(row["outcome"]),
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
