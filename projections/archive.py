"""The archive projection: every record's document, per subject, and the public red and black lists.

Built from the ledger's events alone, applied exactly once: each batch writes its rows and its
position in one transaction. The same event-applying code serves the live view (rows in the
database) and as-of replays (documents in memory, up to a ledger position), so an auditor's "as of"
answer is computed the same way as the live one, without touching the live view.
"""

from __future__ import annotations

import base64
import hashlib
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any, NamedTuple

import orjson

from ledger.domain import record_doc
from ledger.application import Ledger
from ledger.domain.archive_rules import is_minor_at_listing, public_entry, summarize
from ledger.adapters.workers import watch_parent
from projections.store import Store, Tx, scan
from projections.tracking import (
    EventPages,
    EventReader,
    TrackedView,
    get_position,
    set_position,
)

NAME = "archive"
LISTS = ("black", "red")
SQLITE_DDL = [
    ("CREATE TABLE IF NOT EXISTS archive_records (record_id TEXT PRIMARY KEY, subject TEXT NOT NULL,"
    " issuer TEXT NOT NULL, field TEXT, kind TEXT NOT NULL, list TEXT, public_until TEXT,"
    " decision_date TEXT NOT NULL, minor INTEGER NOT NULL, repaired INTEGER NOT NULL, revoked INTEGER NOT NULL,"
    " doc TEXT NOT NULL, position INTEGER NOT NULL)"),
    "CREATE INDEX IF NOT EXISTS archive_records_subject ON archive_records (subject)",
    "CREATE INDEX IF NOT EXISTS archive_records_list ON archive_records (list, decision_date, record_id)",
    "CREATE TABLE IF NOT EXISTS view_departments (code TEXT PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS view_catalogues (version INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
]
TABLES = ("archive_records", "view_departments", "view_catalogues")
# What the archive reads of an event: the statement and the values decided when it was accepted.
FIELDS = ("statement", "recorded_at", "item", "expires_on", "public_until", "period_months", "deadline")
COLUMNS = ("record_id", "subject", "issuer", "field", "kind", "list", "public_until", "decision_date", "minor",
           "repaired", "revoked", "doc", "position")
TYPES = ("text", "text", "text", "text", "text", "text", "text", "text", "smallint", "smallint", "smallint", "text",
         "bigint")
UPSERT = ("ON CONFLICT (record_id) DO UPDATE SET subject = excluded.subject, issuer = excluded.issuer,"
          " field = excluded.field, kind = excluded.kind, list = excluded.list, public_until = excluded.public_until,"
          " decision_date = excluded.decision_date, minor = excluded.minor, repaired = excluded.repaired,"
          " revoked = excluded.revoked, doc = excluded.doc, position = excluded.position")


def dumps(doc: Any) -> str:
    """Deterministic JSON text of a document (sorted keys)."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode("utf-8")


class Model:
    """Applies ledger events to documents held by a sink (database batch or memory)."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.departments: dict[str, str] = {}
        self.catalogues: dict[int, dict[str, Any]] = {}
        self.changed: set[str] = set()
        self.created: set[str] = set()  # records submitted in this model: no earlier row can exist

    def load(self, record_id: str) -> dict[str, Any] | None:
        """Fetch a document not yet in memory (memory model: none)."""
        return None

    def apply(self, event: Any) -> None:
        """Apply one decoded domain event."""
        self.apply_page([(type(event).__qualname__, {k: getattr(event, k) for k in FIELDS if hasattr(event, k)})])

    def apply_page(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Apply events given as (event class qualified name, fields from ``FIELDS``), in order."""
        parsed = []
        wanted = set()
        for qualname, values in events:
            owner, _, name = qualname.rpartition(".")
            if owner not in ("Authority", "CreditRecord"):
                continue
            s = orjson.loads(values["statement"])
            parsed.append((owner, name, s, values))
            if owner == "CreditRecord" and name != "Submitted" and s["record_id"] not in self.docs:
                wanted.add(s["record_id"])
        if wanted:
            self.prefetch(sorted(wanted))
        for owner, name, s, values in parsed:
            self._apply(owner, name, s, values)

    def prefetch(self, record_ids: list[str]) -> None:
        """Fetch, in one go, documents ``load`` will be asked for (memory model: none)."""

    def _apply(self, owner: str, name: str, s: dict[str, Any], values: dict[str, Any]) -> None:
        if owner == "Authority":
            if s["type"] == "department.registered":
                self.departments[s["department"]] = s["name"]
            elif s["type"] == "catalogue.published":
                self.catalogues[int(s["version"])] = s["catalogue"]
            return
        record_id = s["id"] if name == "Submitted" else s["record_id"]
        doc = self.docs.get(record_id)
        if doc is None:
            if name == "Submitted":
                self.created.add(record_id)
            else:
                doc = self.load(record_id)
        attrs = {k: v for k, v in values.items() if k != "statement"}
        self.docs[record_id] = record_doc.reduce(doc, name, s, attrs)
        self.changed.add(record_id)

    # Reading (memory).

    def points_rule(self) -> dict[str, Any]:
        return self.catalogues[max(self.catalogues)]["points"]

    def archive(self, subject: str, today: date) -> dict[str, Any]:
        if not self.catalogues:  # before the ledger was founded: nothing was known
            return {"records": [], "points": None, "green_channel": None, "key_supervision": None,
                    "as_of_day": today.isoformat()}
        docs = [d for d in self.docs.values() if d["subject"] == subject]
        return summarize(docs, today, self.points_rule())

    def public_list(self, listing: str, today: date) -> list[dict[str, Any]]:
        day = today.isoformat()
        black_subjects = {d["subject"] for d in self.docs.values() if _on_list(d, "black", day)}
        entries = [
            d for d in self.docs.values()
            if _on_list(d, listing, day) and not (listing == "red" and d["subject"] in black_subjects)
        ]
        entries.sort(key=lambda d: d["record_id"])
        entries.sort(key=lambda d: d["fields"]["decision_date"], reverse=True)  # stable: ids stay ascending
        return [public_entry(d, self.departments.get(d["issuer"], "")) for d in entries]


def _on_list(doc: dict[str, Any], listing: str, day: str) -> bool:
    d = doc["disclosure"]
    return (d is not None and d["list"] == listing and doc["revoked"] is None and doc["repaired"] is None
            and d["public_until"] > day and not is_minor_at_listing(doc))


def _row(doc: dict[str, Any], position: int) -> tuple[Any, ...]:
    d = doc["disclosure"]
    return (
        doc["record_id"], doc["subject"], doc["issuer"], doc["catalogue"].get("field"), doc["catalogue"]["kind"],
        d["list"] if d else None, d["public_until"] if d else None, doc["fields"]["decision_date"],
        int(bool(d) and is_minor_at_listing(doc)), int(doc["repaired"] is not None), int(doc["revoked"] is not None),
        dumps(doc), position,
    )


class _DbModel(Model):
    """Loads earlier documents from the database through ``run`` (a transaction's or the store's)."""

    def __init__(self, run: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]], kind: str,
                 previous: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.run = run
        self.kind = kind
        self.previous = previous or {}  # documents not yet committed, newer than the database's
        self.loaded: dict[str, dict[str, Any]] = {}

    def prefetch(self, record_ids: list[str]) -> None:
        self.loaded.update((r, self.previous[r]) for r in record_ids if r in self.previous)
        record_ids = [r for r in record_ids if r not in self.previous]
        for start in range(0, len(record_ids), 500):
            part = record_ids[start:start + 500]
            if self.kind == "postgres":  # one statement of fixed shape, prepared once
                rows = self.run("SELECT record_id, doc FROM archive_records WHERE record_id = ANY(%s)", (part,))
            else:
                rows = self.run("SELECT record_id, doc FROM archive_records WHERE record_id IN ("
                                + ", ".join(["%s"] * len(part)) + ")", part)
            self.loaded.update((rid, orjson.loads(doc)) for rid, doc in rows)

    def load(self, record_id: str) -> dict[str, Any] | None:
        if record_id in self.loaded:
            return self.loaded.pop(record_id)
        if record_id in self.previous:
            return self.previous[record_id]
        rows = self.run("SELECT doc FROM archive_records WHERE record_id = %s", (record_id,))
        return orjson.loads(rows[0][0]) if rows else None


class _PositionMovedError(Exception):
    """Another writer advanced the view."""


class _Page(NamedTuple):
    """A page's rows, ready to write (and to send to a writer process), with the positions it spans."""

    start: int
    last: int
    created: list[tuple[Any, ...]]  # records submitted in the page: no row can exist yet
    changed: list[tuple[Any, ...]]  # records the page changed: upserted
    departments: list[tuple[str, str]]
    catalogues: list[tuple[int, str]]

    @classmethod
    def of(cls, model: Model, start: int, last: int) -> _Page:
        # rows and position move together, so a record submitted in this page has no row yet: plain
        # inserts, which take the bulk path; records changed by later events are upserted
        changed = sorted(model.changed)
        return cls(start, last,
                   [_row(model.docs[r], last) for r in changed if r in model.created],
                   [_row(model.docs[r], last) for r in changed if r not in model.created],
                   sorted(model.departments.items()),
                   [(v, dumps(doc)) for v, doc in sorted(model.catalogues.items())])

    def write(self, tx: Tx) -> None:
        tx.insert_many("archive_records", COLUMNS, TYPES, self.created)
        tx.insert_many("archive_records", COLUMNS, TYPES, self.changed, UPSERT)
        if self.departments:
            tx.executemany("INSERT INTO view_departments (code, name) VALUES (%s, %s)"
                           " ON CONFLICT (code) DO UPDATE SET name = excluded.name", self.departments)
        if self.catalogues:
            tx.executemany("INSERT INTO view_catalogues (version, doc) VALUES (%s, %s)"
                           " ON CONFLICT (version) DO UPDATE SET doc = excluded.doc", self.catalogues)


def _produce_pages(open_view: Callable[[], tuple[ArchiveView, Callable[[], None]]], conn: Any, start: int,
                   batch: int, parent: int) -> None:
    """In the builder process: send ``(page, events read)`` for each page after ``start``, then None.

    The writer answers each page, once written, with its last position. Until then the page's documents
    stay here (a later page that changes one of its records starts from them, not from the database's
    older row); at most two pages go unanswered. A failure is sent as one line of text.
    """
    watch_parent(parent)
    try:
        view, close = open_view()
    except Exception as exc:  # noqa: BLE001 - reported to the writer, which raises it
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    unwritten: deque[tuple[int, dict[str, dict[str, Any]]]] = deque()  # (last position, documents) per page

    def answered() -> None:
        written = conn.recv()
        while unwritten and unwritten[0][0] <= written:
            unwritten.popleft()

    try:
        position = start
        while notifications := view.pages(position, batch, view.topics):
            previous: dict[str, dict[str, Any]] = {}
            for _, docs in unwritten:
                previous.update(docs)
            model = _DbModel(view.store.query, view.store.kind, previous)
            model.apply_page(view._decode(notifications))
            last = notifications[-1].id
            conn.send((_Page.of(model, position, last), len(notifications)))
            unwritten.append((last, {r: model.docs[r] for r in model.changed}))
            position = last
            if len(unwritten) == 2:
                answered()
        conn.send(None)
        while unwritten:
            answered()
    except (BrokenPipeError, EOFError, ConnectionResetError):  # the writer stopped (another writer moved on)
        pass
    except Exception as exc:  # noqa: BLE001 - reported to the writer, which raises it
        try:
            conn.send(f"{type(exc).__name__}: {exc}")
        except OSError:
            pass
    finally:
        conn.close()
        close()


def _topics() -> list[str]:
    from ledger.domain.aggregates import Authority, CreditRecord
    from ledger.domain.topics import stored_topics

    classes = [Authority.Founded, Authority.DepartmentRegistered, Authority.CataloguePublished]
    classes += [v for v in vars(CreditRecord).values() if isinstance(v, type) and issubclass(v, CreditRecord.Event)]
    return sorted(stored_topics(*classes))


class ArchiveView(TrackedView):
    """The live archive and lists, kept up to date by ``catch_up`` (reading only the events it uses)."""

    name = NAME
    page = 2000

    def __init__(self, ledger: Ledger, store: Store) -> None:
        self.ledger = ledger
        self.store = store
        self.topics = _topics()
        self.reader = EventReader(ledger.mapper, FIELDS, ledger.recorder)
        self.pages = EventPages(ledger, store)
        self._points: tuple[int | None, dict[str, Any]] = (None, {})

    def catch_up(self, batch: int = 2000) -> int:
        """Apply up to ``batch`` new events; rows and position in one transaction."""
        def apply(tx: Tx, notifications: list[Any]) -> None:
            model = _DbModel(tx.execute, self.store.kind)
            model.apply_page(self._decode(notifications))
            self._write(tx, model, notifications[-1].id)

        return self.catch_up_topics(self.ledger, self.topics, batch, apply)

    producer: Callable[[], tuple[ArchiveView, Callable[[], None]]] | None = None
    """A picklable function that opens, in another process, this view on the same ledger and database
    and returns it with a function closing it. Given one, a long catch-up builds its pages there."""

    def catch_up_all(self, batch: int = 2000) -> int:
        """Catch up until there is nothing new.

        A long way behind (a rebuild), pages are built and written at the same time, each page written
        with its position in its own transaction: with a ``producer``, the pages are read and built in
        a process of its own (see ``_catch_up_produced``); without one, the next page is read and the
        previous one written in threads while the current one is built. A write that finds the
        position moved by another writer stops this and the rest is caught up page by page.
        """
        total = n = self.catch_up(batch)
        if n < batch:
            return total
        try:
            if self.producer is not None:
                total += self._catch_up_produced(batch)
            else:
                total += self._catch_up_pipelined(batch)
        except _PositionMovedError:
            pass
        return total + super().catch_up_all()

    def _catch_up_produced(self, batch: int) -> int:
        """Write the pages another process reads and builds (``_produce_pages``), in order.

        Building a page (decoding events, applying them, encoding documents) is CPU work; writing it is
        mostly waiting on the database. In one process a busy thread holds the interpreter lock while
        the writing thread waits for it after every 32 KiB sent to the server (about half the run
        measured here, 200,000 events), so the two go to different processes. The pipe carries at
        most one page ahead of the one being written: the builder knows which documents are not
        written yet (it keeps them), and everything older is in the database.
        """
        context = multiprocessing.get_context("spawn")
        here, there = context.Pipe()
        process = context.Process(target=_produce_pages, name="archive-pages", daemon=True,
                                  args=(self.producer, there, self.position(), batch, os.getpid()))
        process.start()
        there.close()
        total = 0
        try:
            while True:
                try:
                    message = here.recv()
                except EOFError:
                    raise RuntimeError("the archive's page builder ended without a word") from None
                if message is None:
                    return total
                if isinstance(message, str):  # the builder's failure, told as one line
                    raise RuntimeError(f"the archive's page builder failed: {message}")  # noqa: TRY004
                page, count = message
                self._commit(page)
                here.send(page.last)
                total += count
        finally:
            here.close()  # a builder still at work stops at its next send or receive
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()

    def _catch_up_pipelined(self, batch: int) -> int:
        total = 0
        with ThreadPoolExecutor(1, thread_name_prefix="archive") as reader, \
                ThreadPoolExecutor(1, thread_name_prefix="archive-writer") as writer:
            position = self.position()
            reading = reader.submit(self._read, position, batch)
            writing: Future[None] | None = None
            previous: dict[str, dict[str, Any]] = {}  # documents of the page being written
            while notifications := reading.result():
                last = notifications[-1].id
                reading = reader.submit(self._read, last, batch)
                model = _DbModel(self.store.query, self.store.kind, previous)
                model.apply_page(self._decode(notifications))
                page = _Page.of(model, position, last)
                if writing is not None:
                    writing.result()
                writing = writer.submit(self._commit, page)
                previous = {r: model.docs[r] for r in model.changed}
                position = last
                total += len(notifications)
            if writing is not None:
                writing.result()
        return total

    def _commit(self, page: _Page) -> None:
        """Write a page and move the position from ``page.start`` to ``page.last``, in one transaction,
        unless another writer has moved it meanwhile (then nothing is written)."""
        with self.store.transaction() as tx:
            tx.lock(NAME)
            if get_position(tx, NAME) != page.start:
                raise _PositionMovedError
            page.write(tx)
            set_position(tx, NAME, page.last)

    def _read(self, position: int, batch: int) -> list[Any]:
        return self.pages(position, batch, self.topics)

    def _decode(self, notifications: list[Any]) -> list[tuple[str, dict[str, Any]]]:
        return [(self.reader.qualname(n.topic), self.reader.fields(n)) for n in notifications]

    @staticmethod
    def _write(tx: Tx, model: Model, position: int) -> None:
        _Page.of(model, 0, position).write(tx)

    def reset(self) -> None:
        """Drop every row and the position (``rebuild`` then catches up from the first event)."""
        with self.store.transaction() as tx:
            tx.lock(NAME)
            for table in TABLES:
                tx.execute(f"DELETE FROM {table}")
            tx.execute("DELETE FROM projection_positions WHERE name = %s", (NAME,))

    def digest(self) -> str:
        """SHA-256 over the view's whole content in key order, and its position."""
        h = hashlib.sha256()
        h.update(f"position {self.position()}\n".encode())
        for rid, doc in scan(self.store, "SELECT record_id, doc FROM archive_records WHERE record_id > %s "
                             "ORDER BY record_id LIMIT %s", ("",), lambda row: (row[0],)):
            h.update(f"{rid} {doc}\n".encode())
        for code, name in self.store.query("SELECT code, name FROM view_departments ORDER BY code"):
            h.update(f"dept {code} {name}\n".encode())
        for version, doc in self.store.query("SELECT version, doc FROM view_catalogues ORDER BY version"):
            h.update(f"catalogue {version} {doc}\n".encode())
        return h.hexdigest()

    # Reading (live).

    def points_rule(self) -> dict[str, Any]:
        """The points rule of the latest catalogue (parsed once per catalogue version)."""
        rows = self.store.query("SELECT MAX(version) FROM view_catalogues")
        return self._points_of(rows[0][0] if rows else None)

    def _points_of(self, version: int | None) -> dict[str, Any]:
        if version is None:
            raise LookupError("no catalogue has been projected yet")
        if self._points[0] != version:
            (doc,) = self.store.query("SELECT doc FROM view_catalogues WHERE version = %s", (version,))[0]
            self._points = (version, orjson.loads(doc)["points"])
        return self._points[1]

    def documents(self, subject: str) -> list[dict[str, Any]]:
        return [orjson.loads(d) for (d,) in self.store.query(
            "SELECT doc FROM archive_records WHERE subject = %s ORDER BY record_id", (subject,))]

    def archive(self, subject: str, today: date) -> dict[str, Any]:
        """A subject's archive on ``today`` (statuses, points, flags).

        The documents and the latest catalogue's version come in one read (a row with no document when
        the subject has none), so what the points rule is and what it applies to are read together."""
        rows = self.store.query(
            "SELECT c.version, a.doc FROM (SELECT MAX(version) AS version FROM view_catalogues) AS c"
            " LEFT JOIN archive_records AS a ON a.subject = %s ORDER BY a.record_id", (subject,))
        version = rows[0][0] if rows else None
        docs = [orjson.loads(doc) for _, doc in rows if doc is not None]
        return summarize(docs, today, self._points_of(version))

    def public_list(
        self, listing: str, today: date, *, field: str | None = None, authority: str | None = None,
        decided_from: str | None = None, decided_to: str | None = None, cursor: str | None = None, limit: int = 50,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a public list on ``today``, newest decisions first; returns (entries, next cursor)."""
        day = today.isoformat()
        active = "list = %s AND revoked = 0 AND repaired = 0 AND minor = 0 AND public_until > %s"
        where = [active]
        params: list[Any] = [listing, day]
        if listing == "red":
            where.append(f"subject NOT IN (SELECT subject FROM archive_records WHERE {active})")
            params += ["black", day]
        for clause, value in (("field = %s", field), ("issuer = %s", authority),
                              ("decision_date >= %s", decided_from), ("decision_date <= %s", decided_to)):
            if value is not None:
                where.append(clause)
                params.append(value)
        if cursor is not None:
            last_date, last_id = decode_cursor(cursor)
            where.append("(decision_date < %s OR (decision_date = %s AND record_id > %s))")
            params += [last_date, last_date, last_id]
        rows = self.store.query(
            "SELECT a.doc, d.name FROM archive_records a LEFT JOIN view_departments d ON d.code = a.issuer WHERE "
            + " AND ".join(where) + " ORDER BY decision_date DESC, record_id ASC LIMIT %s", (*params, limit + 1))
        docs = [(orjson.loads(doc), name or "") for doc, name in rows]
        more = len(docs) > limit
        docs = docs[:limit]
        entries = [public_entry(doc, name) for doc, name in docs]
        next_cursor = encode_cursor(docs[-1][0]["fields"]["decision_date"], docs[-1][0]["record_id"]) if more else None
        return entries, next_cursor


def encode_cursor(decision_date: str, record_id: str) -> str:
    return base64.urlsafe_b64encode(f"{decision_date}|{record_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        day, rid = text.split("|")
        date.fromisoformat(day)
        return day, rid
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not one this service gave out") from None


def replay(ledger: Ledger, upto_position: int | None, batch: int = 2000) -> Model:
    """Documents as of a ledger position (None: everything), in memory, from the events alone."""
    model = Model()
    reader = EventReader(ledger.mapper, FIELDS)
    topics = _topics()
    position = 0
    while True:
        notifications = ledger.recorder.select_notifications(
            start=position, limit=batch, stop=upto_position, topics=topics, inclusive_of_start=False)
        model.apply_page([(reader.qualname(n.topic), reader.fields(n)) for n in notifications])
        if len(notifications) < batch:
            return model
        position = notifications[-1].id


def position_at(store: Store, when: str) -> int:
    """The last ledger position recorded at or before ``when`` (RFC 3339 UTC), 0 if none."""
    rows = store.query("SELECT MAX(notification_id) FROM ledger_entries WHERE recorded_at <= %s", (when,))
    return int(rows[0][0] or 0)
