"""The access log projection: who queried whom, why, and what the ledger decided.

Rows come from the ``Query.Requested`` events alone (the ledger appends them before any data
leaves), applied exactly once with the position in the same transaction.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from eventsourcing.utils import get_topic

from ledger.aggregates import Query
from ledger.application import Ledger
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
]
TYPES = ("bigint", *["text"] * (len(COLUMNS) - 1))
FILTER_COLUMNS = {"subject": "subject = %s", "department": "department = %s", "operator": "operator = %s",
                  "purpose": "purpose = %s", "from": "issued_at >= %s", "to": "issued_at < %s"}


FIELDS = ("statement", "recorded_at", "outcome")


def row_of(event: Any, position: int) -> tuple[Any, ...]:
    """The access-log row of one ``Query.Requested`` event."""
    return row_of_fields({name: getattr(event, name) for name in FIELDS}, position)


def row_of_fields(values: dict[str, Any], position: int) -> tuple[Any, ...]:
    """The access-log row of one ``Query.Requested`` event, from its ``FIELDS``."""
    s = orjson.loads(values["statement"])
    o = values["outcome"]
    return (position, s["id"], s["issued_at"], values["recorded_at"], s["issuer"], s["operator"], s.get("subject"),
            s["purpose"], s["scope"], s["legal_basis"], s.get("authorisation_ref"), s.get("justification"),
            o["status"], o.get("reason"))


class AccessLogView(TrackedView):
    """Queries by subject, department, operator, purpose and time."""

    name = NAME

    topic = get_topic(Query.Requested)
    page = 2000

    def __init__(self, ledger: Ledger, store: Store) -> None:
        self.ledger = ledger
        self.store = store
        self.reader = EventReader(ledger.mapper, FIELDS, ledger.recorder)
        self.pages = EventPages(ledger, store)
        self.topics = [self.topic]

    def catch_up(self, batch: int = 2000) -> int:
        """Apply up to ``batch`` new queries (read by topic: other events are never read); rows and position
        in one transaction."""
        def apply(tx: Tx, notifications: list[Any]) -> None:
            tx.insert_many("access_log", COLUMNS, TYPES,
                           [row_of_fields(self.reader.fields(n), n.id) for n in notifications])

        return self.catch_up_topics(self.ledger, self.topics, batch, apply)

    def reset(self) -> None:
        with self.store.transaction() as tx:
            tx.lock(NAME)
            tx.execute("DELETE FROM access_log")
            tx.execute("DELETE FROM projection_positions WHERE name = %s", (NAME,))

    def digest(self) -> str:
        h = hashlib.sha256(f"position {self.position()}\n".encode())
        for row in scan(self.store, f"SELECT {', '.join(COLUMNS)} FROM access_log WHERE position > %s "
                        "ORDER BY position LIMIT %s", (-1,), lambda row: (row[0],)):
            h.update(orjson.dumps(list(row)) + b"\n")
        return h.hexdigest()

    def find(self, filters: dict[str, str], *, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        """Rows matching ``filters`` (subject, department, operator, purpose, from, to), in ledger order."""
        where = ["position > %s"]
        params: list[Any] = [after]
        for name, value in filters.items():
            where.append(FILTER_COLUMNS[name])
            params.append(value)
        rows = self.store.query(
            f"SELECT {', '.join(COLUMNS)} FROM access_log WHERE {' AND '.join(where)} ORDER BY position LIMIT %s",
            (*params, limit))
        return [dict(zip(COLUMNS, row)) for row in rows]
