"""A small database handle for read models, one code path for SQLite and PostgreSQL.

SQL is written once with ``%s`` placeholders and standard syntax both engines accept
(``INSERT ... ON CONFLICT``, row values); on SQLite the placeholders become ``?``. Views write
their rows and their tracking position in one ``transaction()``.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from psycopg import sql as pgsql
from psycopg_pool import ConnectionPool


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


class Store(Protocol):
    """A database holding views."""

    kind: str

    def transaction(self) -> Any:
        """Context manager yielding a ``Tx``; commits on success, rolls back on error."""

    def query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read in a short transaction of its own."""

    def close(self) -> None:
        """Release connections."""


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

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


class SQLiteStore:
    """Views in the ledger's SQLite file (WAL), one connection per thread."""

    kind = "sqlite"

    def __init__(self, path: Path, ddl: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self.transaction() as tx:
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
            yield _SQLiteTx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self._conn()
        return conn.execute(query.replace("%s", "?"), tuple(params)).fetchall()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


_LOCK_VIEW: dict[str, str] = {}  # view name -> its LOCK TABLE statement
COPY_MIN_ROWS = 64  # below it, COPY's extra messages cost more than the one prepared INSERT


class _PostgresTx:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

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
        cur = self.conn.execute(query, tuple(params), prepare=True)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []

    def executemany(self, query: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(query, rows)  # type: ignore[arg-type]

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
    """Views in PostgreSQL (tables from ``migrations/``), through a psycopg pool."""

    kind = "postgres"

    def __init__(self, conninfo: str, schema: str, *, max_size: int = 4) -> None:
        def configure(conn: Any) -> None:
            conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(schema)))
            conn.commit()

        # Autocommit: a single read is one round trip (no BEGIN/COMMIT around it); writes take an
        # explicit transaction (``transaction()``).
        self.pool = ConnectionPool(conninfo, min_size=1, max_size=max_size, open=False, configure=configure,
                                   kwargs={"connect_timeout": 10, "autocommit": True}, name="views")
        self.pool.open(wait=True, timeout=30)

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTx]:
        with self.pool.connection() as conn, conn.transaction():
            yield _PostgresTx(conn)

    def query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.pool.connection() as conn:
            cur = conn.execute(query, tuple(params), prepare=True)  # type: ignore[arg-type]
            return cur.fetchall()

    def close(self) -> None:
        self.pool.close()


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
