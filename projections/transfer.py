"""Copying a ledger into an empty PostgreSQL schema, row for row, and checking the copy before it counts.

What is copied is the history, verbatim: every event (its position, aggregate id and version, topic and
state bytes), every entry row (leaf index, position, statement id, digest, leaf hash, recorded_at, outcome,
key id) and every signed checkpoint. The views (log tree nodes, archive, access log) are not copied: they
are derived from the history and the target's projections rebuild them from it.

Everything happens in one transaction on the target, written with its owner's connection by ``COPY``,
while the source is held in one transaction of its own that keeps appends out. Before the target commits,
the copy is read back and checked: the rows hash to what was read from the source (table by table), the
leaf indexes are dense, and the tree recomputed from the copied leaf hashes has, at every checkpoint's size,
the checkpoint's root, whose signed note verifies with the log key. Only then is the source marked moved
(it refuses appends from then on), the target committed, and the source committed. Anything failing before
leaves the target without a row and the source unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ledger.log.merkle import StreamingTreeBuilder
from ledger.log.note import NoteError, open_checkpoint
from projections.transfer_sources import (
    CHECKPOINT_COLUMNS, CHECKPOINT_TYPES, ENTRY_COLUMNS, ENTRY_TYPES, EVENT_COLUMNS, EVENT_TYPES, PostgresSource, Row,
    Source,
)

Progress = Callable[[str, int, int], None]  # (what, done, total)

LEDGER_TABLES = ("ledger_events", "ledger_entries", "log_checkpoints")


class TransferError(Exception):
    """The copy was refused or did not check out (one line): nothing was kept on the target, unless ``copied``
    (the copy stands, but the source could not be marked moved)."""

    def __init__(self, message: str, copied: bool = False) -> None:
        super().__init__(message)
        self.copied = copied


@dataclass(frozen=True)
class CopyReport:
    """What was copied and checked."""

    events: int
    entries: int
    checkpoints: int
    last_position: int
    root: bytes  # of the whole tree
    latest_checkpoint: int  # its size; 0 without checkpoints


def _feed(h: Any, row: Row) -> None:
    """Hash one row: the ``repr`` of its tuple of plain values (``int``, ``str``, ``bytes``, ``UUID``, ``None``),
    which reads back as that very tuple, so two rows hash alike only if they are equal; read from either backend,
    the same row is the same tuple. (Hashing value by value in Python took 40% of a copy.)"""
    h.update(repr(row).encode("utf-8"))


def _rows(read: Callable[[int], list[Row]]) -> Iterator[Row]:
    """Every row of a paged reader, in key order (the key is each row's first value)."""
    after = -1
    while rows := read(after):
        yield from rows
        after = rows[-1][0]


# The views and their positions: a target holding rows in them (another ledger's views, say) would be taken
# as caught up by its projections, so it is not empty either.
VIEW_TABLES = ("log_nodes", "archive_records", "access_log", "access_log_subjects", "view_catalogues",
               "view_departments", "view_responsibilities", "view_open_items", "view_measures_applied",
               "projection_positions")


def holds_rows(conn: psycopg.Connection[Any], schema: str) -> bool:
    """Whether the schema's history tables hold any event, entry or checkpoint, or its views any row."""
    present = {name for (name,) in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)).fetchall()}
    tables = [t for t in (*LEDGER_TABLES, *VIEW_TABLES) if t in present]
    # (the tracking table's ``__migration__`` row is the migrations' own: every migrated schema has it)
    query = sql.SQL(" OR ").join(
        sql.SQL("EXISTS (SELECT 1 FROM {}{})").format(
            sql.Identifier(schema, t),
            sql.SQL(" WHERE application_name <> '__migration__'" if t == "projection_positions" else ""))
        for t in tables)
    row = conn.execute(sql.SQL("SELECT ") + query).fetchone()
    return bool(row and row[0])


def _copy_table(conn: psycopg.Connection[Any], schema: str, table: str, columns: tuple[str, ...],
                types: tuple[str, ...], read: Callable[[int], list[Row]], what: str, total: int,
                progress: Progress) -> tuple[bytes, int, int]:
    """Stream every row of ``read`` into ``table`` by binary COPY; (digest of the rows, count, last key)."""
    h = hashlib.sha256()
    count, last = 0, 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(types))
        after = -1
        while rows := read(after):
            for row in rows:
                copy.write_row(row)
                _feed(h, row)
            count += len(rows)
            after = last = rows[-1][0]
            progress(what, count, total)
    return h.digest(), count, last


def copy_ledger(source: Source, conninfo: str, schema: str, verifier_key: str, origin: str, destination: str,
                moved_at: str, progress: Progress) -> CopyReport:
    """Copy ``source`` into the migrated, empty ``schema`` at ``conninfo`` (its owner), check the copy, mark the
    source moved to ``destination``; raise TransferError (nothing kept on the target) if any of it fails."""
    conn = psycopg.connect(conninfo, autocommit=False, connect_timeout=10)
    committed = False
    try:
        source.begin()
        conn.execute("SET LOCAL lock_timeout = '30s'")
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(sql.Identifier(schema, "ledger_append_lock")))
        if holds_rows(conn, schema):
            raise TransferError(f"{destination} already holds a ledger's events, checkpoints or views: copy only "
                                "into an empty database or schema")
        total = source.count_events()
        if total == 0:
            raise TransferError("the source ledger is empty: nothing to copy")
        expected = {
            "events": _copy_table(conn, schema, "ledger_events", EVENT_COLUMNS, EVENT_TYPES, source.events, "events",
                                  total, progress),
            "entries": _copy_table(conn, schema, "ledger_entries", ENTRY_COLUMNS, ENTRY_TYPES, source.entries,
                                   "entries", total, progress),
            "checkpoints": _copy_table(conn, schema, "log_checkpoints", CHECKPOINT_COLUMNS, CHECKPOINT_TYPES,
                                       source.checkpoints, "checkpoints", 0, progress),
        }
        # Later appends take their positions from the sequence: it continues after the last copied one.
        conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                     (sql.Identifier(schema, "ledger_events").as_string(conn), expected["events"][2]))
        report = verify_copy(PostgresSource(conn, schema), verifier_key, origin, expected, total, progress)
        source.mark_moved(destination, moved_at)
        conn.commit()
        committed = True
    except BaseException:
        if not committed:
            conn.rollback()
            source.rollback()
        raise
    finally:
        conn.close()
    try:
        source.commit()
    except Exception as exc:  # noqa: BLE001 - the copy stands; say what is left to do
        raise TransferError(f"the ledger was copied to {destination} and checked, but the source could not be "
                            f"marked moved ({exc}): do not serve the source again", copied=True) from None
    return report


def verify_copy(target: PostgresSource, verifier_key: str, origin: str,
                expected: dict[str, tuple[bytes, int, int]], total: int, progress: Progress) -> CopyReport:
    """Read the copy back (in the copying transaction): the rows of each table hash as the source's did; leaf
    indexes run 0, 1, 2, ...; at each checkpoint's size the recomputed root is the checkpoint's, and its note
    verifies with ``verifier_key`` for ``origin``."""
    digest, events = hashlib.sha256(), 0
    for row in _rows(target.events):
        _feed(digest, row)
        events += 1
        if events % 20_000 == 0:
            progress("read back", events, total)
    if (digest.digest(), events) != expected["events"][:2]:
        raise TransferError(f"the copied events differ from the source's ({events} read back)")
    tree = StreamingTreeBuilder()
    entries_digest, checkpoints_digest = hashlib.sha256(), hashlib.sha256()
    checkpoints = _rows(target.checkpoints)
    pending = next(checkpoints, None)
    count, latest = 0, 0
    for row in _rows(target.entries):
        if row[0] != tree.size:
            raise TransferError(f"the source's leaf indexes are not dense: {row[0]} where {tree.size} was expected;"
                                " run credit-ledger audit verify on it")
        tree.append(row[4])
        _feed(entries_digest, row)
        while pending is not None and pending[0] <= tree.size:
            _check_checkpoint(pending, tree, verifier_key, origin)
            _feed(checkpoints_digest, pending)
            count, latest = count + 1, pending[0]
            pending = next(checkpoints, None)
        if tree.size % 20_000 == 0:
            progress("verified", tree.size, total)
    if pending is not None:
        raise TransferError(f"a checkpoint of size {pending[0]} is beyond the {tree.size} entries of the ledger")
    if (entries_digest.digest(), tree.size) != expected["entries"][:2]:
        raise TransferError(f"the copied entries differ from the source's ({tree.size} read back)")
    if (checkpoints_digest.digest(), count) != expected["checkpoints"][:2]:
        raise TransferError(f"the copied checkpoints differ from the source's ({count} read back)")
    progress("verified", tree.size, total)
    return CopyReport(events, tree.size, count, expected["events"][2], tree.root(), latest)


def _check_checkpoint(row: Row, tree: StreamingTreeBuilder, verifier_key: str, origin: str) -> None:
    size, root, note = row[0], row[1], row[2]
    if size != tree.size:
        raise TransferError(f"a checkpoint of size {size} does not fall on a leaf of the ledger")
    try:
        checkpoint, _ = open_checkpoint(note, verifier_key, origin)
    except NoteError as exc:
        raise TransferError(f"the checkpoint of size {size} does not verify with this data directory's log key "
                            f"and origin {origin}: {exc}") from None
    if checkpoint.size != size or checkpoint.root != root or root != tree.root():
        raise TransferError(f"the checkpoint of size {size} does not have the root of the copied leaves")
