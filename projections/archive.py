"""The archive projection: every record's document, per subject, and the public red and black lists.

Built from the ledger's events alone, applied exactly once: each batch writes its rows and its
position in one transaction. The parts: the documents and how events change them
(``archive_model``), the tables and a page's writes (``archive_sql``), the page builder of a long
catch-up (``archive_build``), the public lists (``archive_lists``); here, the live view.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any

import orjson

from ledger.application import Ledger
from ledger.domain.archive_rules import responsible_for, summarize
from projections.archive_build import PositionMovedError, produce_pages
from projections.archive_lists import ListPage, decode_cursor, encode_cursor, position_at, public_list_page
from projections.archive_model import FIELDS, LISTS, DbModel, Model, archive_topics, decoded, dumps, replay
from projections.archive_sql import (
    COLUMNS, MEASURE_COLUMNS, MEASURE_TYPES, SQLITE_DDL, TABLES, TYPES, UNLESS_PRESENT, UPSERT, Page,
)
from projections.store import Store, Tx, scan
from projections.tracking import EventPages, EventReader, TrackedView, topic_pages

NAME = "archive"
_PositionMovedError = PositionMovedError  # the name a writer racing this one is caught by

__all__ = ["COLUMNS", "FIELDS", "LISTS", "NAME", "SQLITE_DDL", "TABLES", "TYPES", "UPSERT", "ArchiveView", "Model",
           "decode_cursor", "dumps", "encode_cursor", "position_at", "replay"]


class ArchiveView(TrackedView):
    """The live archive and lists, kept up to date by ``catch_up`` (reading only the events it uses)."""

    name = NAME
    page = 2000
    pages: EventPages

    def __init__(self, ledger: Ledger, store: Store) -> None:
        self.ledger = ledger
        self.store = store
        self.topics = archive_topics()
        self.reader = EventReader(ledger.mapper, FIELDS, ledger.recorder)
        self.pages = EventPages(ledger, store)
        self._points: tuple[int | None, dict[str, Any]] = (None, {})
        self._measures_filled = False

    def catch_up(self, batch: int = 2000) -> int:
        """Apply up to ``batch`` new events; rows and position in one transaction."""
        if not self._measures_filled:
            self._fill_measures(batch)

        def apply(tx: Tx, notifications: list[Any]) -> None:
            model = DbModel(tx.execute, self.store.kind)
            model.apply_page(self.decode(notifications))
            Page.of(model, 0, notifications[-1].id).write(tx)

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
        except PositionMovedError:
            pass
        return total + super().catch_up_all()

    def _catch_up_produced(self, batch: int) -> int:
        """Write the pages another process reads and builds (``archive_build.produce_pages``), in order.

        Building a page is CPU work and writing it mostly waiting, so the two go to different processes
        (in one, the builder held the interpreter lock for about half the run measured here, 200,000
        events). The pipe carries at most one page ahead of the one being written: the builder knows
        which documents are not written yet (it keeps them), and everything older is in the database.
        """
        context = multiprocessing.get_context("spawn")
        here, there = context.Pipe()
        process = context.Process(target=produce_pages, name="archive-pages", daemon=True,
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
                model = DbModel(self.store.query, self.store.kind, previous)
                model.apply_page(self.decode(notifications))
                page = Page.of(model, position, last)
                if writing is not None:
                    writing.result()
                writing = writer.submit(self._commit, page)
                previous = {r: model.docs[r] for r in model.changed}
                position = last
                total += len(notifications)
            if writing is not None:
                writing.result()
        return total

    def _fill_measures(self, batch: int) -> None:
        """Once per database: read into ``view_measures_applied`` the ``measure.applied`` events up to the view's
        position, applied before the table existed (the statements are in the events only); later ones come with
        the view's pages. A rebuild empties the table with the rest and fills it again from the first event."""
        with self.store.transaction() as tx:
            tx.lock(NAME)
            if not tx.execute("SELECT 1 FROM view_measures_filled"):
                position = tx.position(NAME)
                if position:
                    from ledger.domain.aggregates import MeasureApplication
                    from ledger.domain.topics import stored_topics

                    for notifications in topic_pages(self.ledger, stored_topics(MeasureApplication.Applied), position,
                                                     batch):
                        model = Model()
                        model.apply_page(self.decode(notifications))
                        tx.insert_many("view_measures_applied", MEASURE_COLUMNS, MEASURE_TYPES,
                                       [(m["statement_id"], m["subject"], m["position"], dumps(m))
                                        for m in model.measures], UNLESS_PRESENT)
                tx.execute("INSERT INTO view_measures_filled (filled) VALUES (1)")
        self._measures_filled = True

    def applied_measures(self, subject: str, upto: int | None) -> list[dict[str, Any]]:
        """The ``measure.applied`` statements about ``subject`` up to position ``upto`` (None: all), oldest first."""
        where = "subject = %s"
        params: list[Any] = [subject]
        if upto is not None:
            where += " AND position <= %s"
            params.append(upto)
        rows = self.store.query(f"SELECT doc FROM view_measures_applied WHERE {where} ORDER BY position", params)
        return [{k: v for k, v in orjson.loads(doc).items() if k != "subject"} for (doc,) in rows]

    def _commit(self, page: Page) -> None:
        """Write a page and move the position from ``page.start`` to ``page.last``, in one transaction,
        unless another writer has moved it meanwhile (then nothing is written)."""
        with self.store.transaction() as tx:
            tx.lock(NAME)
            if tx.position(NAME) != page.start:
                raise PositionMovedError
            page.write(tx)
            tx.track(NAME, page.last)

    def _read(self, position: int, batch: int) -> list[Any]:
        return self.pages(position, batch, self.topics)

    def decode(self, notifications: list[Any]) -> list[tuple[str, dict[str, Any]]]:
        """(event class qualified name, ``FIELDS`` it has and its originator version) of each stored event, in
        order."""
        return [decoded(self.reader, n) for n in notifications]

    def reset(self) -> None:
        """Drop every row and the position (``rebuild`` then catches up from the first event)."""
        with self.store.transaction() as tx:
            tx.lock(NAME)
            for table in TABLES:
                tx.execute(f"DELETE FROM {table}")
            tx.untrack(NAME)

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
        for tid, until, doc in self.store.query("SELECT id, until, doc FROM view_responsibilities ORDER BY id"):
            h.update(f"tenure {tid} {until} {doc}\n".encode())
        for rid, iid, doc in self.store.query(
                "SELECT record_id, item_id, doc FROM view_open_items ORDER BY record_id, item_id"):
            h.update(f"open {rid} {iid} {doc}\n".encode())
        for sid, doc in self.store.query("SELECT statement_id, doc FROM view_measures_applied ORDER BY statement_id"):
            h.update(f"measure {sid} {doc}\n".encode())
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

        The documents, the latest catalogue's version and the subject's tenures as a person responsible for an
        organisation come in one read (a row with no document when the subject has none; tenures after it), so
        what the points rule is and what it applies to are read together, and a subject without tenures costs no
        second read."""
        rows = self.store.query(
            "SELECT 0 AS part, c.version, a.record_id AS k, a.doc, NULL AS until"
            " FROM (SELECT MAX(version) AS version FROM view_catalogues) AS c"
            " LEFT JOIN archive_records AS a ON a.subject = %s"
            " UNION ALL SELECT 1, NULL, r.id, r.doc, r.until FROM view_responsibilities AS r WHERE r.person = %s"
            " ORDER BY part, k", (subject, subject))
        version = rows[0][1] if rows else None
        docs = [orjson.loads(doc) for part, _, _, doc, _ in rows if part == 0 and doc is not None]
        tenures = [{**orjson.loads(doc), "until": until} for part, _, _, doc, until in rows if part == 1]
        return {**summarize(docs, today, self._points_of(version)),
                "organisation_records": self.organisation_records(subject, today, tenures)}

    def tenures(self, person: str) -> list[dict[str, Any]]:
        """The tenures in which ``person`` was responsible for an organisation (``responsibility.recorded``)."""
        return [{**orjson.loads(doc), "until": until} for doc, until in self.store.query(
            "SELECT doc, until FROM view_responsibilities WHERE person = %s ORDER BY id", (person,))]

    def organisation_records(self, person: str, today: date,
                             tenures: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The organisations' records that reach ``person`` on ``today`` (``archive_rules.responsible_for``), from
        the person's ``tenures`` (read here if not given)."""
        tenures = self.tenures(person) if tenures is None else tenures
        if not tenures:
            return []
        organisations = sorted({t["organisation"] for t in tenures})
        docs = [orjson.loads(d) for (d,) in self.store.query(
            "SELECT doc FROM archive_records WHERE subject IN (" + ", ".join(["%s"] * len(organisations)) + ")"
            " ORDER BY record_id", organisations)]
        return responsible_for(person, tenures, docs, today)

    def public_list(
        self, listing: str, today: date, *, field: str | None = None, authority: str | None = None,
        decided_from: str | None = None, decided_to: str | None = None, cursor: str | None = None, limit: int = 50,
        sort: str = "-decision_date", search: str | None = None, entry: str | None = None,
    ) -> ListPage:
        """One page of a public list on ``today`` (newest decisions first unless ``sort`` says otherwise), with
        the position and latest checkpoint it was read at; unpacks as (entries, next cursor)."""
        return public_list_page(self.store, listing, today, field=field, authority=authority,
                                decided_from=decided_from, decided_to=decided_to, cursor=cursor, limit=limit,
                                sort=sort, search=search, entry=entry)
