"""The access log projection: who queried whom, why, and what the ledger decided.

Rows come from the ``Query.Requested`` events alone (the ledger appends them before any data
leaves), applied exactly once with the position in the same transaction.

``access_log_subjects`` links each query to every subject whose data it concerns: the subject it
names (``subject``, or an ``access_log`` query's ``filters.subject``), and, if it was accepted, every
subject whose data its answer returned. Answers that span subjects are bounded by the query's own
position, so the projection computes the same set from the events before the query:

- ``ledger_entries``: the subjects of the entries in [start, end) before the query (a statement's
  ``subject``, a query's ``filters.subject``; a lifecycle statement's record's subject, from the record's
  ``record.submitted``);
- ``access_log``: the subjects of the rows of the page it returned (``page`` below, the same function
  the answer uses, over the rows up to the query).

The subject's own log (``subject_access_log``) and the ``subject`` filter read through the links.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from ledger.domain.aggregates import Query
from ledger.application import Ledger
from ledger.domain.queries import DEFAULT_PAGE
from ledger.domain.topics import stored_topics
from ledger.format.statements import RECORD_TYPES
from projections.store import Store, Tx, scan
from projections.tracking import EventPages, EventReader, TrackedView

NAME = "access_log"
COLUMNS = ("position", "query_id", "issued_at", "recorded_at", "department", "operator", "subject", "purpose",
           "scope", "legal_basis", "authorisation_ref", "justification", "status", "reason")
SQLITE_DDL = [
    ("CREATE TABLE IF NOT EXISTS access_log (position INTEGER PRIMARY KEY, query_id TEXT NOT NULL UNIQUE,"
    " issued_at TEXT NOT NULL, recorded_at TEXT NOT NULL, department TEXT NOT NULL, operator TEXT NOT NULL,"
    " subject TEXT, purpose TEXT NOT NULL, scope TEXT NOT NULL, legal_basis TEXT NOT NULL, authorisation_ref TEXT,"
    " justification TEXT, status TEXT NOT NULL, reason TEXT)"),
    "CREATE INDEX IF NOT EXISTS access_log_subject ON access_log (subject, position)",
    "CREATE INDEX IF NOT EXISTS access_log_department ON access_log (department, position)",
    "CREATE INDEX IF NOT EXISTS access_log_operator ON access_log (operator, position)",
    "CREATE INDEX IF NOT EXISTS access_log_purpose ON access_log (purpose, position)",
    "CREATE INDEX IF NOT EXISTS access_log_issued_at ON access_log (issued_at)",
    ("CREATE TABLE IF NOT EXISTS access_log_subjects (position INTEGER NOT NULL, subject TEXT NOT NULL,"
     " PRIMARY KEY (position, subject)) WITHOUT ROWID"),
    "CREATE INDEX IF NOT EXISTS access_log_subjects_subject ON access_log_subjects (subject, position)",
    # A file written before the links existed: the view starts again from the first event (rows exist
    # only with a position: both are written, and dropped, in one transaction).
    ("DELETE FROM tracking WHERE application_name = 'access_log' AND NOT EXISTS (SELECT 1 FROM access_log_subjects)"
     " AND EXISTS (SELECT 1 FROM access_log WHERE subject IS NOT NULL)"),
    "DELETE FROM access_log WHERE NOT EXISTS (SELECT 1 FROM tracking WHERE application_name = 'access_log')",
]
TYPES = ("bigint", *["text"] * (len(COLUMNS) - 1))
LINK_COLUMNS = ("position", "subject")
LINK_TYPES = ("bigint", "text")
FILTER_COLUMNS = {"department": "a.department = %s", "operator": "a.operator = %s",
                  "purpose": "a.purpose = %s", "from": "a.issued_at >= %s", "to": "a.issued_at < %s"}
NO_BOUND = 2**62  # above every position


FIELDS = ("statement", "recorded_at", "outcome")


def row_of(event: Any, position: int) -> tuple[Any, ...]:
    """The access-log row of one ``Query.Requested`` event."""
    return row_of_fields({name: getattr(event, name) for name in FIELDS}, position)


def row_of_fields(values: dict[str, Any], position: int) -> tuple[Any, ...]:
    """The access-log row of one ``Query.Requested`` event, from its ``FIELDS``."""
    return _row(orjson.loads(values["statement"]), values, position)


def _row(s: dict[str, Any], values: dict[str, Any], position: int) -> tuple[Any, ...]:
    o = values["outcome"]
    return (position, s["id"], s["issued_at"], values["recorded_at"], s["issuer"], s["operator"], s.get("subject"),
            s["purpose"], s["scope"], s["legal_basis"], s.get("authorisation_ref"), s.get("justification"),
            o["status"], o.get("reason"))


def named_subjects(s: dict[str, Any]) -> set[str]:
    """The subjects a statement names: its ``subject``, and a query's ``filters.subject``."""
    found = {s.get("subject")}
    if s.get("type") == "responsibility.recorded":  # a tenure is about the person and the organisation
        found |= {s.get("person"), s.get("organisation")}
    filters = s.get("filters")
    if s.get("type") == "query.requested" and isinstance(filters, dict):
        found.add(filters.get("subject"))
    return {x for x in found if isinstance(x, str)}


def _where(filters: dict[str, Any], below: int) -> tuple[str, list[str], list[Any]]:
    """FROM clause, conditions and parameters of the rows matching ``filters`` at positions below ``below``."""
    if "subject" in filters:
        source = "access_log_subjects l JOIN access_log a ON a.position = l.position"
        where, params = ["l.subject = %s", "l.position < %s"], [filters["subject"], below]
    else:
        source, where, params = "access_log a", ["a.position < %s"], [below]
    for name, value in filters.items():
        if name in FILTER_COLUMNS:
            where.append(FILTER_COLUMNS[name])
            params.append(value)
    return source, where, params


def page_statement(filters: dict[str, Any], upto: int | None, extra: int = 0) -> tuple[str, list[Any]]:
    """The statement reading one page of the access log, newest first: rows matching ``filters``
    (``subject`` through the links; ``department``, ``operator``, ``purpose``, ``from``, ``to``) at
    positions up to ``upto`` (the query's own; None: all) and below ``before``, at most ``limit`` of
    them (plus ``extra``)."""
    below = min(int(filters.get("before", NO_BOUND)), NO_BOUND if upto is None else upto + 1)
    source, where, params = _where(filters, below)
    column = "l.position" if "subject" in filters else "a.position"
    limit = int(filters.get("limit", DEFAULT_PAGE)) + extra
    return (f"SELECT {', '.join('a.' + c for c in COLUMNS)} FROM {source} WHERE {' AND '.join(where)} "
            f"ORDER BY {column} DESC LIMIT %s", [*params, limit])


class AccessLogView(TrackedView):
    """Queries by subject, department, operator, purpose and time."""

    name = NAME

    page = 2000
    pages: EventPages

    def __init__(self, ledger: Ledger, store: Store) -> None:
        self.ledger = ledger
        self.store = store
        self.reader = EventReader(ledger.mapper, FIELDS, ledger.recorder)
        self.statements = EventReader(ledger.mapper, ("statement",), ledger.recorder)
        self.pages = EventPages(ledger, store)
        self.topics = stored_topics(Query.Requested)

    def catch_up(self, batch: int = 2000) -> int:
        """Apply up to ``batch`` new queries (read by topic: other events are never read); rows, links and
        position in one transaction."""
        def apply(tx: Tx, notifications: list[Any]) -> None:
            rows, links, spanning = [], [], []
            for n in notifications:
                values = self.reader.fields(n)
                s = orjson.loads(values["statement"])
                rows.append(_row(s, values, n.id))
                named = named_subjects(s)
                links += [(n.id, subject) for subject in sorted(named)]
                if values["outcome"]["status"] == "accepted" and s["scope"] in ("ledger_entries", "access_log"):
                    spanning.append((n.id, s, named))
            tx.insert_many("access_log", COLUMNS, TYPES, rows)
            tx.insert_many("access_log_subjects", LINK_COLUMNS, LINK_TYPES, links)
            # In ledger order: a page of the access log may list an earlier query of this batch by its links.
            for position, s, named in spanning:
                returned = self._returned(tx, s, position) - named
                tx.insert_many("access_log_subjects", LINK_COLUMNS, LINK_TYPES,
                               [(position, subject) for subject in sorted(returned)])

        return self.catch_up_topics(self.ledger, self.topics, batch, apply)

    def _returned(self, tx: Tx, s: dict[str, Any], position: int) -> set[str]:
        """The subjects whose data the answer to the accepted query ``s`` at ``position`` returned."""
        filters = s.get("filters", {})
        if s["scope"] == "access_log":
            query, params = page_statement(filters, position)
            return {row[COLUMNS.index("subject")] for row in tx.execute(query, params)} - {None}
        found: set[str] = set()
        submitted: dict[str, str] = {}
        lookup: set[str] = set()
        for _, _, st in entries_before(tx.execute, self._statement_at, filters["start"], filters["end"], position):
            found |= named_subjects(st)
            if st["type"] in ("record.submitted", "responsibility.recorded"):
                submitted[st["id"]] = st["subject"] if "subject" in st else st["person"]
            elif st["type"] in RECORD_TYPES and "record_id" in st:
                lookup.add(st["record_id"])
            elif st["type"] == "responsibility.ended":  # about the tenure's person and organisation
                lookup.add(st["responsibility_id"])
        for record_id in sorted(lookup):
            subjects = {submitted[record_id]} if record_id in submitted else self._record_subjects(tx, record_id)
            found |= subjects
        return found

    def _statement_at(self, first: int, last: int) -> list[dict[str, Any]]:
        """The statements of the events at positions ``first`` to ``last``."""
        return [orjson.loads(self.statements.fields(n)["statement"])
                for n in self.pages(first - 1, last - first + 1, (), last)]

    def _record_subjects(self, tx: Tx, record_id: str) -> set[str]:
        """A record's subject, from its ``record.submitted`` (whose statement id is the record's id), or a tenure's
        person and organisation, from its ``responsibility.recorded``."""
        rows = tx.execute("SELECT notification_id FROM ledger_entries WHERE statement_id = %s",
                          (str(uuid.UUID(record_id)),))
        if not rows:
            return set()
        (st,) = self._statement_at(int(rows[0][0]), int(rows[0][0]))
        return named_subjects(st)

    def reset(self) -> None:
        with self.store.transaction() as tx:
            tx.lock(NAME)
            tx.execute("DELETE FROM access_log")
            tx.execute("DELETE FROM access_log_subjects")
            tx.untrack(NAME)

    def digest(self) -> str:
        h = hashlib.sha256(f"position {self.position()}\n".encode())
        for row in scan(self.store, f"SELECT {', '.join(COLUMNS)} FROM access_log WHERE position > %s "
                        "ORDER BY position LIMIT %s", (-1,), lambda row: (row[0],)):
            h.update(orjson.dumps(list(row)) + b"\n")
        h.update(b"subjects\n")
        for row in scan(self.store, "SELECT position, subject FROM access_log_subjects WHERE (position, subject) > "
                        "(%s, %s) ORDER BY position, subject LIMIT %s", (-1, ""), lambda row: (row[0], row[1])):
            h.update(orjson.dumps(list(row)) + b"\n")
        return h.hexdigest()

    def find(self, filters: dict[str, str], *, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        """Rows matching ``filters`` (subject, department, operator, purpose, from, to), in ledger order."""
        source, where, params = _where(filters, NO_BOUND)
        column = "l.position" if "subject" in filters else "a.position"
        rows = self.store.query(
            f"SELECT {', '.join('a.' + c for c in COLUMNS)} FROM {source} WHERE {' AND '.join(where)} "
            f"AND {column} > %s ORDER BY {column} LIMIT %s", (*params, after, limit))
        return [dict(zip(COLUMNS, row)) for row in rows]

    def newest(self, filters: dict[str, Any], upto: int | None) -> tuple[list[dict[str, Any]], int | None]:
        """One page of ``page_statement`` and the ``before`` of the next (None: this is the last)."""
        query, params = page_statement(filters, upto, extra=1)
        rows = [dict(zip(COLUMNS, row)) for row in self.store.query(query, params)]
        limit = int(filters.get("limit", DEFAULT_PAGE))
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1]["position"]
        return rows, None


def entries_before(execute: Callable[..., Sequence[Sequence[Any]]], read: Callable[[int, int], list[Any]],
                   start: int, end: int, before: int | None) -> list[tuple[int, int, Any]]:
    """``(leaf index, position, event)`` of the entries with leaf indexes in [start, end) at positions below
    ``before`` (the reading query's own; None: all), in leaf order; ``read(first, last)`` gives the events
    at positions ``first`` to ``last`` (leaf order is position order and every event is an entry: those
    are exactly the entries' events)."""
    rows = execute("SELECT leaf_index, notification_id FROM ledger_entries WHERE leaf_index >= %s AND leaf_index < %s "
                   "AND notification_id < %s ORDER BY leaf_index",
                   (start, end, NO_BOUND if before is None else before))
    if not rows:
        return []
    events = read(int(rows[0][1]), int(rows[-1][1]))
    return [(int(leaf), int(position), event) for (leaf, position), event in zip(rows, events, strict=True)]
