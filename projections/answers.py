"""What an accepted query returns, by scope, read from the views after they have caught up.

Called only after the query's own entry is in the ledger (the API awaits the append first).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson

from ledger.application import Ledger
from ledger.domain.inbox import with_overdue
from ledger.domain.queries import DEFAULT_PAGE
from ledger.domain.review import review
from ledger.format.statements import format_datetime, parse_datetime
from projections.access_log import AccessLogView, entries_before
from projections.archive import ArchiveView, position_at, replay
from projections.report import Catalogues, Reports, with_measures
from projections.store import Store
from projections.tracking import TrackedView

SHAREABLE = ("active", "disputed")


class Fresh:
    """Brings a view up to a ledger position; concurrent callers share one catch-up.

    ``through`` is a position up to which every event is known to be applied. A catch-up first reads the
    ledger's head (the highest position; appends commit in position order, so every event up to it is
    visible), then applies everything there is: afterwards the view holds every event up to that head.
    A caller whose position is already covered reads at once; the others wait for the catch-up in progress
    and run one more only if it did not cover them. Whether the view already holds the head is read from
    its tracked position (the library's tracking recorder, ``TrackedView.holds``).

    The caller catches up itself rather than waiting (``TrackingRecorder.wait``, ``TrackedView.wait``) for
    the projection worker: the library's wait polls the tracked position, sleeping 100 ms before its first
    look again, and a query's own event is always new to the access log. Measured after each of 40
    appended queries, with the worker running and woken on commit as in ``serve``, until the access log
    covered the query (medians): catching up here, 0.35 ms on SQLite and 4.5 ms on PostgreSQL; by the
    library's wait, 100.4 ms and 103.3 ms. Without a worker (``CREDIT_LEDGER_RUN_PROJECTIONS=false``
    and no ``project`` process) the wait would only end in TimeoutError.
    """

    def __init__(self, view: TrackedView, head: Callable[[], int]) -> None:
        self.view = view
        self.head = head
        self.through = 0
        self._lock = threading.Lock()

    def up_to(self, position: int | None) -> None:
        """Return once the view holds every event up to ``position`` (None: up to the head now)."""
        if position is not None and position <= self.through:
            return
        with self._lock:
            if position is not None and position <= self.through:
                return
            head = self.head()
            if not self.view.holds(head):  # else nothing it reads came since: no transaction needed
                self.view.catch_up_all()
            self.through = max(self.through, head)


class Answers:
    """Reads for accepted queries."""

    def __init__(self, ledger: Ledger, store: Store, archive: ArchiveView, access_log: AccessLogView) -> None:
        self.ledger = ledger
        self.store = store
        self.archive = archive
        self.access_log = access_log
        self.catalogues = Catalogues(store)
        self.reports: Reports | None = None  # set where the report key is at hand (``api.runtime.open_views``)
        head = self._head
        self.fresh_archive = Fresh(archive, head)
        self.fresh_access_log = Fresh(access_log, head)

    def _head(self) -> int:
        return self.ledger.recorder.max_notification_id() or 0

    def answer(self, values: dict[str, Any], now: datetime, position: int | None = None) -> dict[str, Any]:
        """The data for one accepted query's scope; the views first hold every event up to ``position``
        (the query's own; None: up to the ledger's head now)."""
        scope = values["scope"]
        filters = dict(values.get("filters", {}))
        if scope in ("archive", "credit_report"):
            self.fresh_archive.up_to(position)
            shared = self._with_versions(shared_archive(self.archive.archive(values["subject"], now.date())))
            shared = with_measures(self.archive.applied_measures, self.catalogues, shared, values, position)
            if scope == "archive":
                return shared
            if self.reports is None:
                raise LookupError("this service has no report key: credit reports cannot be made")
            names = self.store.query("SELECT name FROM view_departments WHERE code = %s", (values["issuer"],))
            return self.reports.make(shared, values, now, names[0][0] if names else None)
        if scope == "subject_access_log":
            self.fresh_access_log.up_to(position)
            rows, more = self.access_log.newest({**filters, "subject": values["subject"]}, position)
            return _paged({"subject": values["subject"], "queries": [
                {"date": r["issued_at"][:10], "department": r["department"], "purpose": r["purpose"],
                 "scope": r["scope"], "outcome": r["status"]} for r in rows]}, more)
        if scope == "access_log":
            self.fresh_access_log.up_to(position)
            rows, more = self.access_log.newest(filters, position)
            return _paged({"queries": rows}, more)
        if scope == "review_report":
            self.fresh_access_log.up_to(position)
            self.fresh_archive.up_to(position)
            end = parse_datetime(filters["to"]) if "to" in filters else now
            start = parse_datetime(filters["from"]) if "from" in filters else end - timedelta(days=7)
            history = self.access_log.find({"from": _iso(start - timedelta(days=31)), "to": _iso(end)}, limit=1_000_000)
            links = {(issuer, subject) for issuer, subject in
                     self.store.query("SELECT DISTINCT issuer, subject FROM archive_records")}
            return {"from": _iso(start), "to": _iso(end), "findings": review(history, links, start, end)}
        if scope == "department_assessment":
            from projections.assessment import department_assessment

            self.fresh_access_log.up_to(position)
            return department_assessment(self.ledger, self.store, filters, now, position)
        if scope == "department_inbox":
            self.fresh_archive.up_to(position)
            return department_inbox(self.store, values["issuer"], filters, now.date().isoformat())
        if scope == "key_compromise":
            since = parse_datetime(filters["from"]) if "from" in filters else None
            return self.ledger.key_compromise(filters["key_id"], since, int(filters.get("after", 0)), position)
        if scope == "ledger_entries":
            return {"entries": self._entries(int(filters["start"]), int(filters["end"]), position)}
        if scope in ("as_of_archive", "as_of_lists"):
            if "position" in filters:
                position, day = int(filters["position"]), now.date()
            else:
                at = parse_datetime(filters["at"])
                position, day = position_at(self.store, filters["at"]), at.date()
            model = replay(self.ledger, position)
            if scope == "as_of_lists":
                return {"position": position, "day": day.isoformat(), "list": filters["list"],
                        "entries": model.public_list(filters["list"], day)}
            return {"position": position, "day": day.isoformat(), **model.archive(values["subject"], day)}
        raise ValueError(f"unknown scope {scope}")

    def _with_versions(self, archive: dict[str, Any]) -> dict[str, Any]:
        """Each record with its ``record_version`` (what a ``record.corrected`` must name next): documents
        projected before they kept it take it from the record's latest stored event."""
        for record in archive["records"]:
            if "record_version" not in record:
                (latest,) = self.ledger.recorder.select_events(UUID(record["record_id"]), desc=True, limit=1)
                record["record_version"] = latest.originator_version
        return archive

    def _entries(self, start: int, end: int, before: int | None) -> list[dict[str, Any]]:
        """The entries in [start, end) appended before the query at ``before`` (so that what it returned,
        and whose data that was, is fixed by the ledger: the access log computes the same)."""
        def read(first: int, last: int) -> list[Any]:
            return list(self.ledger.recorder.select_notifications(start=first, limit=last - first + 1, stop=last))

        out = []
        for leaf, position, n in entries_before(self.store.query, read, start, end, before):
            ev: Any = self.ledger.mapper.to_domain_event(n)
            item = {"leaf_index": leaf, "position": position, "statement": ev.statement,
                    "key_id": ev.key_id, "signature": ev.signature, "recorded_at": ev.recorded_at}
            if getattr(ev, "outcome", None) is not None:
                item["outcome"] = ev.outcome
            out.append(item)
        return out


def department_inbox(store: Store, department: str, filters: dict[str, Any], day: str) -> dict[str, Any]:
    """The querying department's open objections and applications (``ledger.domain.inbox``), the answer due soonest
    first, ``limit`` of them (default ``DEFAULT_PAGE``), with how many there are and how many are overdue."""
    where, params = "issuer = %s", [department]
    if "kind" in filters:
        where, params = where + " AND kind = %s", [*params, filters["kind"]]
    limit = int(filters.get("limit", DEFAULT_PAGE))
    rows = store.query(f"SELECT doc FROM view_open_items WHERE {where} ORDER BY deadline, item_id LIMIT %s",
                       (*params, limit))
    (total, overdue), = store.query(f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN deadline < %s THEN 1 ELSE 0 END), 0)"
                                    f" FROM view_open_items WHERE {where}", (day, *params))
    return {"department": department, "as_of_day": day, "total": int(total), "overdue": int(overdue),
            "open": [with_overdue(orjson.loads(doc), day) for (doc,) in rows]}


def _paged(answer: dict[str, Any], more: int | None) -> dict[str, Any]:
    """An access-log page, with ``next_before`` (the ``before`` of the next page) if there is more."""
    return answer if more is None else {**answer, "next_before": more}


def shared_archive(archive: dict[str, Any]) -> dict[str, Any]:
    """What a department sees: shareable records only, without earlier versions (those are for auditors)."""
    records = [{k: v for k, v in r.items() if k != "versions"} for r in archive["records"] if r["status"] in SHAREABLE]
    return {**archive, "records": records}


_iso = format_datetime
