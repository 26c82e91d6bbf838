"""The views' PostgreSQL store: the eventsourcing library's datastore and tracking recorder.

The views' connections come from a ``PostgresDatastore`` (the library's pool, which turns driver errors
into the library's, as the ledger's reads do), and their positions are kept by a
``PostgresTrackingRecorder`` on it, in ``projection_positions`` (the library's single-row tracking
table, ``migrations/0010``). The pool is the views' own, not the ledger's recorder's:

- the views' SQL names tables without their schema (one text for SQLite and PostgreSQL), so their
  connections search the views' schema (set once per connection here); the ledger's connections do not
  (the library names its tables with their schema), and setting it on each borrowing is one more round
  trip per read: a primary-key read took 33 µs, 59 µs after ``SET search_path`` (medians of 40
  interleaved rounds), so a proof, a few such reads, would take half as long again;
- a catch-up holds its transaction's connection while it reads the next page of events on another
  (``EventPages``), and the ledger's pool (``CREDIT_LEDGER_POOL_SIZE``, no overflow) is sized for the
  appends and their reads: shared, a rebuild's connections would be taken from the appends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Connection
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row, tuple_row

TRACKING_TABLE = "projection_positions"


class _ViewDatastore(PostgresDatastore):
    """The library's datastore whose connections also search the views' schema."""

    def after_connect_func(self) -> Callable[[Connection[Any]], None]:
        configure = super().after_connect_func()
        search_path = pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema))

        def after_connect(conn: Connection[Any]) -> None:
            configure(conn)  # autocommit, as before: a single read is one round trip
            conn.execute(search_path)

        return after_connect


class _ViewTracking(PostgresTrackingRecorder):
    """The library's tracking recorder with its two statements composed once: composing one (quoting its
    identifiers) on every execution cost more client-side time than running it."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, tracking_table_name=TRACKING_TABLE)
        for name in ("insert_tracking_statement", "max_tracking_id_statement"):
            setattr(self, name, getattr(self, name).as_bytes())


_LOCK_VIEW: dict[str, str] = {}  # view name -> its LOCK TABLE statement
COPY_MIN_ROWS = 64  # below it, COPY's extra messages cost more than the one prepared INSERT


class _PostgresTx:
    def __init__(self, conn: Any, tracking: _ViewTracking) -> None:
        self.conn = conn
        self.tracking = tracking

    def lock(self, name: str) -> None:
        """Serialise writers of one view across threads and processes, until the transaction ends: an
        ``EXCLUSIVE`` lock of the view's empty lock table, which only a role with a privilege on it can take
        (an advisory lock would be open to any login)."""
        statement = _LOCK_VIEW.get(name)
        if statement is None:
            statement = _LOCK_VIEW[name] = pgsql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                pgsql.Identifier("view_lock_" + name)).as_string(self.conn)
        self.conn.execute(statement)

    def execute(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor(row_factory=tuple_row)
        cur.execute(query, tuple(params), prepare=True)
        return cur.fetchall() if cur.description else []

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(query, rows)

    def insert_many(self, table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]],
                    conflict: str = "") -> None:
        """Without a conflict clause and from ``COPY_MIN_ROWS`` rows on, a binary ``COPY`` (the server's
        cheapest way in: about half the cost of the statement below for a page of archive documents);
        otherwise one ``INSERT ... SELECT FROM unnest(arrays)``, the arrays sent in binary (no quoting or
        escaping): one statement and one round trip for all rows. Either fails on a repeated key."""
        if not rows:
            return
        if not conflict and len(rows) >= COPY_MIN_ROWS:
            with self.conn.cursor() as cur, cur.copy(_copy_statement(table, tuple(columns))) as copy:
                copy.set_types(list(types))
                for row in rows:
                    copy.write_row(row)
            return
        self.conn.execute(_insert_statement(table, tuple(columns), tuple(types), conflict),
                          [list(column) for column in zip(*rows, strict=True)], prepare=True)

    def position(self, name: str) -> int:
        return self.tracking._max_tracking_id(name, self.conn.cursor()) or 0  # noqa: SLF001

    def track(self, name: str, position: int) -> None:
        self.tracking._insert_tracking(self.conn.cursor(), Tracking(name, position))  # noqa: SLF001

    def untrack(self, name: str) -> None:
        self.conn.execute(f"DELETE FROM {TRACKING_TABLE} WHERE application_name = %s", (name,), prepare=True)


# Statements composed once per shape: composing (quoting identifiers) costs more than the rest of a
# small write's client-side work.
@functools.lru_cache(maxsize=64)
def _copy_statement(table: str, columns: tuple[str, ...]) -> bytes:
    return pgsql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))).as_bytes()


@functools.lru_cache(maxsize=64)
def _insert_statement(table: str, columns: tuple[str, ...], types: tuple[str, ...], conflict: str) -> bytes:
    return pgsql.SQL("INSERT INTO {} ({}) SELECT * FROM unnest({}) {}").format(
        pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns)),
        pgsql.SQL(", ").join(pgsql.SQL("%b::{}[]").format(pgsql.SQL(t)) for t in types),
        pgsql.SQL(conflict)).as_bytes()


class PostgresStore:
    """Views in PostgreSQL (tables from ``migrations/``), through the library's datastore (at most
    ``max_size`` connections)."""

    kind = "postgres"

    def __init__(self, conninfo: str, schema: str, *, max_size: int = 4) -> None:
        params = conninfo_to_dict(conninfo)
        self.datastore = _ViewDatastore(
            dbname=str(params.get("dbname", "")), host=str(params.get("host", "")), port=str(params.get("port", "")),
            user=str(params.get("user", "")), password=str(params.get("password", "")), schema=schema,
            pool_size=1, max_overflow=max_size - 1, connect_timeout=30)
        # Connect with the whole URL (any other parameter it carries, sslmode say, applies as before) and a
        # bounded connection time; the pool's wait for a free connection is ``connect_timeout`` above.
        pool = self.datastore.pool
        pool.conninfo, pool.kwargs = conninfo, {"row_factory": dict_row, "connect_timeout": 10}
        pool.open(wait=True, timeout=30)
        self.tracking = _ViewTracking(self.datastore)

    def connection(self) -> Any:
        """A pooled connection (context manager); rows are dicts unless a cursor asks otherwise."""
        return self.datastore.get_connection()

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTx]:
        with self.datastore.get_connection() as conn, conn.transaction():
            yield _PostgresTx(conn, self.tracking)

    def query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.datastore.get_connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            cur.execute(query, tuple(params), prepare=True)
            return cur.fetchall()

    def position(self, name: str) -> int:
        with self.datastore.get_connection() as conn:
            return self.tracking._max_tracking_id(name, conn.cursor()) or 0  # noqa: SLF001

    def close(self) -> None:
        self.datastore.close()
