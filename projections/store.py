"""A small database handle for read models, one code path for SQLite and PostgreSQL.

SQL is written once with ``%s`` placeholders and standard syntax both engines accept
(``INSERT ... ON CONFLICT``, row values); on SQLite the placeholders become ``?``. Views write
their rows and their tracking position in one ``transaction()``.

Positions are kept by the eventsourcing library's tracking recorder of each backend (``tracking``):
one row per view, ``Tracking(view name, position)``, written by the recorder's insert on the
transaction's cursor (``Tx.track``; on SQLite without ``RETURNING``, see ``SQLiteViewTracking``), so
rows and position commit together; the recorder's ``max_tracking_id``, ``has_tracking_id`` and
``wait`` read them outside a transaction. On PostgreSQL the views' connections come from the
library's ``PostgresDatastore``, the one the recorder uses (``projections.pgstore``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder

from projections.pgstore import PostgresStore

__all__ = ["MIGRATION", "PostgresStore", "SQLiteStore", "SQLiteViewTracking", "Store", "Tx", "scan",
           "sqlite_tracking_ddl"]

MIGRATION = "__migration__"  # the row the library's recorder writes into a single-row tracking table it made


class Tx(Protocol):
    """What a view sees of a transaction."""

    def execute(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows (empty for writes)."""

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows."""

    def insert_many(self, table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]],
                    conflict: str = "") -> None:
        """Insert many rows with one statement per call where the engine allows it.

        ``types`` are the columns' PostgreSQL types; ``conflict`` an optional ``ON CONFLICT`` clause.
        Rows must not repeat a conflict key.
        """

    def lock(self, name: str) -> None:
        """Hold the named view's writer lock until the transaction ends."""

    def position(self, name: str) -> int:
        """The named view's tracked position in this transaction (0: none)."""

    def track(self, name: str, position: int) -> None:
        """Record the view's position, above its last one, in this transaction."""

    def untrack(self, name: str) -> None:
        """Drop the view's position (it starts again from the first event)."""


class Store(Protocol):
    """A database holding views."""

    kind: str
    @property
    def tracking(self) -> TrackingRecorder:
        """The library's recorder of the views' positions."""

    def transaction(self) -> Any:
        """Context manager yielding a ``Tx``; commits on success, rolls back on error."""

    def query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read in a short transaction of its own."""

    def position(self, name: str) -> int:
        """The named view's tracked position (0: none), read on its own."""

    def close(self) -> None:
        """Release connections."""


class SQLiteViewTracking(SQLiteTrackingRecorder):
    """The library's SQLite tracking recorder, its insert counted rather than returned.

    The library's statement ends in ``RETURNING notification_id`` and an insert that returns no row (the
    position would not move forward) fails. Without ``RETURNING`` the same statement changes no row in
    that case, which the cursor's row count tells: the same check, and the same ``IntegrityError``. In a
    view's transaction, after an access-log page, SQLite's ``RETURNING`` made the library's insert take
    13-15 µs, the statement without it 4 µs; measured in one process, alternating, the access log's
    answer to a query took 269 and 264 µs (medians of two runs) with the library's insert, 257 and
    252 µs counted, and a catch-up of one event by the three views 377 and 368 µs, 367 and 358 µs."""

    RETURNING = " RETURNING notification_id"

    def __init__(self, datastore: SQLiteDatastore) -> None:
        super().__init__(datastore)
        statement = self.insert_tracking_statement
        self.counted_statement = statement.removesuffix(self.RETURNING) if statement.endswith(self.RETURNING) else None

    def _insert_tracking(self, c: SQLiteCursor, tracking: Tracking) -> None:
        if self.counted_statement is None or not self.datastore.single_row_tracking:
            super()._insert_tracking(c, tracking)
            return
        cursor: Any = getattr(c, "sqlite_cursor", c)  # a wrapped or a plain ``sqlite3.Cursor``
        cursor.execute(self.counted_statement, {"application_name": tracking.application_name,
                                                "notification_id": tracking.notification_id})
        if cursor.rowcount != 1:
            raise IntegrityError(f"Failed to record tracking for {tracking.application_name} "
                                 f"{tracking.notification_id}")


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection, tracking: SQLiteTrackingRecorder) -> None:
        self.conn = conn
        self.tracking = tracking

    def lock(self, name: str) -> None:
        """Serialise writers of one view (BEGIN IMMEDIATE already holds the database's write lock)."""

    def execute(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(query.replace("%s", "?"), tuple(params)).fetchall()

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(query.replace("%s", "?"), rows)

    def insert_many(self, table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]],
                    conflict: str = "") -> None:
        """``executemany`` of one prepared ``INSERT`` (SQLite runs it in process, without round trips)."""
        if rows:
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['?'] * len(columns))}) {conflict}",
                rows)

    # The recorder's statements run on this transaction's cursor, a plain ``sqlite3.Cursor`` as in the
    # library's own transactions.
    def position(self, name: str) -> int:
        return self.tracking._max_tracking_id(name, self.conn.cursor()) or 0  # type: ignore[arg-type]  # noqa: SLF001

    def track(self, name: str, position: int) -> None:
        self.tracking._insert_tracking(self.conn.cursor(), Tracking(name, position))  # type: ignore[arg-type]  # noqa: SLF001

    def untrack(self, name: str) -> None:
        self.conn.execute("DELETE FROM tracking WHERE application_name = ?", (name,))


def sqlite_tracking_ddl(recorder: SQLiteTrackingRecorder) -> list[str]:
    """The library's tracking table, marked as its recorder marks one it made (so that its own
    ``create_table`` finds nothing to convert)."""
    return [*recorder.create_table_statements,
            f"INSERT INTO tracking (application_name, notification_id) VALUES ('{MIGRATION}', 1)"
            " ON CONFLICT (application_name) DO NOTHING"]


# A file written before the library kept the positions: they move into its table, once (the old table goes
# with them, in the same transaction), so every view continues from where it was.
_LEGACY_POSITIONS = [
    "INSERT INTO tracking (application_name, notification_id) SELECT name, position FROM projection_positions"
    " WHERE true ON CONFLICT (application_name) DO NOTHING",
    "DROP TABLE projection_positions",
]


class SQLiteStore:
    """Views in the ledger's SQLite file (WAL), one connection per thread.

    ``ddl`` runs once at opening, in the same transaction that makes the tracking table (and moves the
    positions of an older file into it)."""

    kind = "sqlite"

    def __init__(self, path: Path, ddl: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # The library's datastore on the same file serves the recorder's own reads (``max_tracking_id``,
        # ``wait``); it connects at first use.
        self.tracking = SQLiteViewTracking(SQLiteDatastore(str(self.path), lock_timeout=30, pool_size=1,
                                                           max_overflow=4))
        with self.transaction() as tx:
            for statement in sqlite_tracking_ddl(self.tracking):
                tx.execute(statement)
            if tx.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'projection_positions'"):
                for statement in _LEGACY_POSITIONS:
                    tx.execute(statement)
            for statement in ddl:
                tx.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[_SQLiteTx]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield _SQLiteTx(conn, self.tracking)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self._conn()
        return conn.execute(query.replace("%s", "?"), tuple(params)).fetchall()

    def position(self, name: str) -> int:
        """Through the recorder's statement on this thread's connection: a query's answer asks this first,
        and the recorder's own ``max_tracking_id`` (a transaction on a pooled connection) took 38 µs
        where this took 9-14 µs."""
        return self.tracking._max_tracking_id(name, self._conn().cursor()) or 0  # type: ignore[arg-type]  # noqa: SLF001

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
        self.tracking.datastore.close()


def scan(store: Store, query: str, first: tuple[Any, ...], key: Any, page: int = 5000) -> Any:
    """Yield every row of ``query`` a page at a time (keyset pagination: memory stays flat).

    ``query`` takes the key values of the last row seen, then the page size; ``first`` is a key below
    every row; ``key(row)`` gives a row's key.
    """
    after = first
    while True:
        rows = store.query(query, (*after, page))
        yield from rows
        if len(rows) < page:
            return
        after = key(rows[-1])
