"""The archive's tables (SQLite DDL; PostgreSQL's are in ``migrations/``) and how a page of documents
is written to them."""

from __future__ import annotations

from typing import Any, NamedTuple

from projections.archive_model import Model, dumps, record_row
from projections.store import Tx

SQLITE_DDL = [
    ("CREATE TABLE IF NOT EXISTS archive_records (record_id TEXT PRIMARY KEY, subject TEXT NOT NULL,"
    " issuer TEXT NOT NULL, field TEXT, kind TEXT NOT NULL, list TEXT, public_until TEXT,"
    " decision_date TEXT NOT NULL, minor INTEGER NOT NULL, repaired INTEGER NOT NULL, revoked INTEGER NOT NULL,"
    " doc TEXT NOT NULL, position INTEGER NOT NULL)"),
    "CREATE INDEX IF NOT EXISTS archive_records_subject ON archive_records (subject)",
    "CREATE INDEX IF NOT EXISTS archive_records_list ON archive_records (list, decision_date, record_id)",
    # the lists by occupational group: on the group the document gives (PostgreSQL: migrations/0012), so a file
    # written before the index gets it at opening, filled from the documents already there
    ("CREATE INDEX IF NOT EXISTS archive_records_occupational_group ON archive_records"
     " (json_extract(doc, '$.fields.details.occupational_group'), list, decision_date, record_id)"),
    "CREATE TABLE IF NOT EXISTS view_departments (code TEXT PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS view_catalogues (version INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
    ("CREATE TABLE IF NOT EXISTS view_responsibilities (id TEXT PRIMARY KEY, organisation TEXT NOT NULL,"
     " person TEXT NOT NULL, until TEXT, doc TEXT NOT NULL, position INTEGER NOT NULL)"),
    "CREATE INDEX IF NOT EXISTS view_responsibilities_person ON view_responsibilities (person)",
]
TABLES = ("archive_records", "view_departments", "view_catalogues", "view_responsibilities")
COLUMNS = ("record_id", "subject", "issuer", "field", "kind", "list", "public_until", "decision_date", "minor",
           "repaired", "revoked", "doc", "position")
TYPES = ("text", "text", "text", "text", "text", "text", "text", "text", "smallint", "smallint", "smallint", "text",
         "bigint")
UPSERT = ("ON CONFLICT (record_id) DO UPDATE SET subject = excluded.subject, issuer = excluded.issuer,"
          " field = excluded.field, kind = excluded.kind, list = excluded.list, public_until = excluded.public_until,"
          " decision_date = excluded.decision_date, minor = excluded.minor, repaired = excluded.repaired,"
          " revoked = excluded.revoked, doc = excluded.doc, position = excluded.position")


class Page(NamedTuple):
    """A page's rows, ready to write (and to send to a writer process), with the positions it spans."""

    start: int
    last: int
    created: list[tuple[Any, ...]]  # records submitted in the page: no row can exist yet
    changed: list[tuple[Any, ...]]  # records the page changed: upserted
    departments: list[tuple[str, str]]
    catalogues: list[tuple[int, str]]
    tenures: list[tuple[str, str, str, str | None, str, int]] = []  # responsibilities recorded in the page
    tenure_ends: list[tuple[str, str]] = []  # (until, id) of tenures ended in the page

    @classmethod
    def of(cls, model: Model, start: int, last: int) -> Page:
        # rows and position move together, so a record submitted in this page has no row yet: plain
        # inserts, which take the bulk path; records changed by later events are upserted
        changed = sorted(model.changed)
        return cls(start, last,
                   [record_row(model.docs[r], last) for r in changed if r in model.created],
                   [record_row(model.docs[r], last) for r in changed if r not in model.created],
                   sorted(model.departments.items()),
                   [(v, dumps(doc)) for v, doc in sorted(model.catalogues.items())],
                   [(t["id"], t["organisation"], t["person"], t["until"], dumps(t), last)
                    for t in (model.tenures[i] for i in sorted(model.new_tenures))],
                   [(until, i) for i, until in model.tenure_ends])

    def write(self, tx: Tx) -> None:
        tx.insert_many("archive_records", COLUMNS, TYPES, self.created)
        tx.insert_many("archive_records", COLUMNS, TYPES, self.changed, UPSERT)
        if self.departments:
            tx.executemany("INSERT INTO view_departments (code, name) VALUES (%s, %s)"
                           " ON CONFLICT (code) DO UPDATE SET name = excluded.name", self.departments)
        if self.tenures:
            tx.executemany("INSERT INTO view_responsibilities (id, organisation, person, until, doc, position)"
                           " VALUES (%s, %s, %s, %s, %s, %s)", self.tenures)
        if self.tenure_ends:
            tx.executemany("UPDATE view_responsibilities SET until = %s WHERE id = %s", self.tenure_ends)
        if self.catalogues:
            tx.executemany("INSERT INTO view_catalogues (version, doc) VALUES (%s, %s)"
                           " ON CONFLICT (version) DO UPDATE SET doc = excluded.doc", self.catalogues)
