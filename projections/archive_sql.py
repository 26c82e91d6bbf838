"""The archive's tables (SQLite DDL; PostgreSQL's are in ``migrations/``) and how a page of documents
is written to them."""

from __future__ import annotations

from typing import Any, NamedTuple

from ledger.domain.inbox import has_items, open_items
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
    ("CREATE TABLE IF NOT EXISTS view_open_items (record_id TEXT NOT NULL, item_id TEXT NOT NULL, issuer TEXT NOT NULL,"
     " kind TEXT NOT NULL, deadline TEXT NOT NULL, doc TEXT NOT NULL, position INTEGER NOT NULL,"
     " PRIMARY KEY (record_id, item_id))"),
    "CREATE INDEX IF NOT EXISTS view_open_items_issuer ON view_open_items (issuer, deadline, item_id)",
    # Once, in a file written before the table existed: the open objections its documents already hold (there were
    # no applications before; PostgreSQL: migrations/0013).
    "CREATE TABLE IF NOT EXISTS view_open_items_filled (filled INTEGER NOT NULL)",
    ("INSERT INTO view_open_items (record_id, item_id, issuer, kind, deadline, doc, position)"
     " SELECT a.record_id, o.key, a.issuer, 'objection', json_extract(o.value, '$.deadline'),"
     " json_object('deadline', json_extract(o.value, '$.deadline'), 'document_number',"
     " json_extract(a.doc, '$.fields.document_number'), 'filed_at', json_extract(o.value, '$.filed_at'), 'id', o.key,"
     " 'issuer', a.issuer, 'item', json_extract(a.doc, '$.item'), 'kind', 'objection', 'needs_verification',"
     " json(CASE WHEN json_extract(o.value, '$.needs_verification') THEN 'true' ELSE 'false' END),"
     " 'record_id', a.record_id), a.position"
     " FROM archive_records AS a, json_each(a.doc, '$.objections') AS o"
     " WHERE json_type(a.doc, '$.revoked') = 'null' AND json_type(o.value, '$.resolved') = 'null'"
     " AND NOT EXISTS (SELECT 1 FROM view_open_items_filled)"),
    "INSERT INTO view_open_items_filled SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM view_open_items_filled)",
    ("CREATE TABLE IF NOT EXISTS view_measures_applied (statement_id TEXT PRIMARY KEY, subject TEXT NOT NULL,"
     " position INTEGER NOT NULL, doc TEXT NOT NULL)"),
    "CREATE INDEX IF NOT EXISTS view_measures_applied_subject ON view_measures_applied (subject, position)",
    "CREATE TABLE IF NOT EXISTS view_measures_filled (filled INTEGER NOT NULL)",
]
TABLES = ("archive_records", "view_departments", "view_catalogues", "view_responsibilities", "view_open_items",
          "view_measures_applied")
MEASURE_COLUMNS = ("statement_id", "subject", "position", "doc")
MEASURE_TYPES = ("text", "text", "bigint", "text")
UNLESS_PRESENT = "ON CONFLICT (statement_id) DO NOTHING"
OPEN_ITEM_COLUMNS = ("record_id", "item_id", "issuer", "kind", "deadline", "doc", "position")
OPEN_ITEM_TYPES = ("text", "text", "text", "text", "text", "text", "bigint")
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
    cleared: list[tuple[str]] = []  # records whose open items are written again (they had objections or applications)
    open_items: list[tuple[Any, ...]] = []  # their open objections and applications now
    measures: list[tuple[Any, ...]] = []  # measures reported applied in the page, each at its own position

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
                   # the document as recorded; the column holds the end recorded last (as ``tenure_ends`` set it)
                   [(t["id"], t["organisation"], t["person"], model.tenures[t["id"]]["until"], dumps(t), last)
                    for t in (model.new_tenures[i] for i in sorted(model.new_tenures))],
                   [(until, i) for i, until in model.tenure_ends],
                   *_open_items(model, changed, last),
                   [(m["statement_id"], m["subject"], m["position"], dumps(m)) for m in model.measures])

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
        tx.insert_many("view_measures_applied", MEASURE_COLUMNS, MEASURE_TYPES, self.measures)
        if self.cleared:
            tx.executemany("DELETE FROM view_open_items WHERE record_id = %s", self.cleared)
            tx.insert_many("view_open_items", OPEN_ITEM_COLUMNS, OPEN_ITEM_TYPES, self.open_items)
        if self.catalogues:
            tx.executemany("INSERT INTO view_catalogues (version, doc) VALUES (%s, %s)"
                           " ON CONFLICT (version) DO UPDATE SET doc = excluded.doc", self.catalogues)


def _open_items(model: Model, changed: list[str], last: int) -> tuple[list[tuple[str]], list[tuple[Any, ...]]]:
    """(records whose open items are written again, their open items' rows): only records that ever had an
    objection or an application, so most pages delete and insert nothing."""
    cleared, rows = [], []
    for rid in changed:
        doc = model.docs[rid]
        if not has_items(doc):
            continue
        cleared.append((rid,))
        rows += [(rid, i["id"], i["issuer"], i["kind"], i["deadline"], dumps(i), last) for i in open_items(doc)]
    return cleared, rows
