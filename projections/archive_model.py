"""The archive's documents and how ledger events change them, in memory or over the database's rows.

The same event-applying code serves the live view (``DbModel``: documents loaded from and written to the
database) and as-of replays (``Model``: documents in memory, up to a ledger position, ``replay``), so an
auditor's "as of" answer is computed the same way as the live one, without touching the live view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import orjson

from ledger.application import Ledger
from ledger.domain import record_doc
from ledger.domain.archive_rules import is_minor_at_listing, public_entry, responsible_for, summarize
from ledger.domain.responsibility import tenure
from projections.tracking import EventReader, topic_pages

LISTS = ("black", "red")
# What the archive reads of an event: the statement and the values decided when it was accepted.
FIELDS = ("statement", "recorded_at", "item", "expires_on", "public_until", "period_months", "deadline")
VERSION = "originator_version"
POSITION = "position"
"""Beside ``FIELDS``, the event's position (of the stored event): a measure reported applied is kept at its own."""
"""Beside ``FIELDS``, the event's originator version (a column of the stored event, not in its state): a
record's document keeps it as ``record_version``, the version a ``record.corrected`` must name next."""


def decoded(reader: EventReader, notification: Any) -> tuple[str, dict[str, Any]]:
    """(event class qualified name, ``FIELDS`` it has and its originator version) of a stored event."""
    values = reader.fields(notification)
    values[VERSION] = notification.originator_version
    values[POSITION] = notification.id
    return reader.qualname(notification.topic), values


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
        self.tenures: dict[str, dict[str, Any]] = {}  # responsible persons' tenures known here, by id, as they are now
        self.new_tenures: dict[str, dict[str, Any]] = {}  # tenures recorded in this model, as recorded
        self.tenure_ends: list[tuple[str, str]] = []  # (id, until) of tenures ended in this model, in order
        self.measures: list[dict[str, Any]] = []  # measures reported applied in this model (``applied_measure``)

    def load(self, record_id: str) -> dict[str, Any] | None:
        """Fetch a document not yet in memory (memory model: none)."""
        return None

    def apply(self, event: Any) -> None:
        """Apply one decoded domain event."""
        values = {k: getattr(event, k) for k in FIELDS if hasattr(event, k)}
        values[VERSION] = event.originator_version
        self.apply_page([(type(event).__qualname__, values)])

    def apply_page(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Apply events given as (event class qualified name, fields from ``FIELDS``), in order."""
        parsed = []
        wanted = set()
        for qualname, values in events:
            owner, _, name = qualname.rpartition(".")
            if owner not in ("Authority", "CreditRecord", "Responsibility", "MeasureApplication"):
                continue
            s = orjson.loads(values["statement"])
            parsed.append((owner, name, s, values))
            if owner == "CreditRecord" and name != "Submitted" and s.get("record_id") not in self.docs:
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
        if owner == "MeasureApplication":
            self.measures.append(applied_measure(s, values))
            return
        if owner == "Responsibility":
            if name == "Recorded":
                self.tenures[s["id"]] = self.new_tenures[s["id"]] = tenure(s, None)
            else:
                tid = s["responsibility_id"]
                if tid in self.tenures:
                    self.tenures[tid] = {**self.tenures[tid], "until": s["until"]}
                self.tenure_ends.append((tid, s["until"]))
            return
        record_id = s["id"] if name == "Submitted" else s["record_id"]
        doc = self.docs.get(record_id)
        if doc is None:
            if name == "Submitted":
                self.created.add(record_id)
            else:
                doc = self.load(record_id)
        attrs = {k: v for k, v in values.items() if k not in ("statement", VERSION, POSITION)}
        doc = record_doc.reduce(doc, name, s, attrs)
        if VERSION in values:
            doc["record_version"] = values[VERSION]
        self.docs[record_id] = doc
        self.changed.add(record_id)

    # Reading (memory).

    def points_rule(self) -> dict[str, Any]:
        return self.catalogues[max(self.catalogues)]["points"]

    def archive(self, subject: str, today: date) -> dict[str, Any]:
        if not self.catalogues:  # before the ledger was founded: nothing was known
            return {"records": [], "points": None, "green_channel": None, "key_supervision": None,
                    "as_of_day": today.isoformat()}
        docs = [d for d in self.docs.values() if d["subject"] == subject]
        tenures = [t for t in self.tenures.values() if t["person"] == subject]
        organisations = {t["organisation"] for t in tenures}
        org_docs = [d for d in self.docs.values() if d["subject"] in organisations]
        return {**summarize(docs, today, self.points_rule()),
                "organisation_records": responsible_for(subject, tenures, org_docs, today)}

    def public_list(self, listing: str, today: date) -> list[dict[str, Any]]:
        day = today.isoformat()
        black_subjects = {d["subject"] for d in self.docs.values() if _on_list(d, "black", day)}
        entries = [
            d for d in self.docs.values()
            if _on_list(d, listing, day) and not (listing == "red" and d["subject"] in black_subjects)
        ]
        entries.sort(key=lambda d: d["record_id"])
        entries.sort(key=lambda d: d["fields"]["decision_date"], reverse=True)  # stable: ids stay ascending
        names: dict[str, list[str]] = {}
        for t in self.tenures.values():
            names.setdefault(t["organisation"], []).append(t["person_name"])
        return [public_entry(d, self.departments.get(d["issuer"], ""), names.get(d["subject"], ())) for d in entries]


def _on_list(doc: dict[str, Any], listing: str, day: str) -> bool:
    d = doc["disclosure"]
    return (d is not None and d["list"] == listing and doc["revoked"] is None and doc["repaired"] is None
            and d["public_until"] > day and not is_minor_at_listing(doc))


def applied_measure(s: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """What an answer shows of a ``measure.applied`` statement, with the position it is at."""
    return {"statement_id": s["id"], "subject": s["subject"], "measure": s["measure"], "department": s["issuer"],
            "purpose": s["purpose"], "decision_reference": s["decision_reference"],
            "recorded_at": values["recorded_at"], "position": values.get(POSITION)}


def record_row(doc: dict[str, Any], position: int) -> tuple[Any, ...]:
    """A document's ``archive_records`` row (``archive_sql.COLUMNS``), written at ``position``."""
    d = doc["disclosure"]
    return (
        doc["record_id"], doc["subject"], doc["issuer"], doc["catalogue"].get("field"), doc["catalogue"]["kind"],
        d["list"] if d else None, d["public_until"] if d else None, doc["fields"]["decision_date"],
        int(bool(d) and is_minor_at_listing(doc)), int(doc["repaired"] is not None), int(doc["revoked"] is not None),
        dumps(doc), position,
    )


class DbModel(Model):
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


def archive_topics() -> list[str]:
    """The stored topics of the events the archive reads (today's spelling and the old ones)."""
    from ledger.domain.aggregates import Authority, CreditRecord, MeasureApplication
    from ledger.domain.responsibility import Responsibility
    from ledger.domain.topics import stored_topics

    classes = [Authority.Founded, Authority.DepartmentRegistered, Authority.CataloguePublished,
               Responsibility.Recorded, Responsibility.Ended, MeasureApplication.Applied]
    classes += [v for v in vars(CreditRecord).values() if isinstance(v, type) and issubclass(v, CreditRecord.Event)]
    return sorted(stored_topics(*classes))


def replay(ledger: Ledger, upto_position: int | None, batch: int = 2000) -> Model:
    """Documents as of a ledger position (None: everything), in memory, from the events alone."""
    model = Model()
    reader = EventReader(ledger.mapper, FIELDS)
    for notifications in topic_pages(ledger, archive_topics(), upto_position, batch):
        model.apply_page([decoded(reader, n) for n in notifications])
    return model
