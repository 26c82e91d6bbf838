"""The privacy officer's pages: the access log (filters, sorting, CSV), one subject's history, the review report
with each finding's queries and proofs, and charts of the access log's patterns. Every read is an
``access_log`` or ``review_report`` query with the purpose ``privacy_review``."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.console import charts
from api.console.app import BEIJING, Console, day_start, number, today
from api.console.client import Read, Reads
from ledger.format.statements import PURPOSES

PURPOSE = "privacy_review"
COLUMNS = ("position", "query_id", "issued_at", "recorded_at", "department", "operator", "subject", "purpose",
           "scope", "legal_basis", "authorisation_ref", "justification", "status", "reason")
SORTABLE = ("issued_at", "department", "operator", "subject", "purpose", "scope", "status")
CHART_PAGES = 5  # access-log pages of 1,000 read for the charts at most
FIELDS = ("subject", "department", "operator", "purpose", "outcome", "from", "to", "limit", "before", "sort", "dir")


def _filters(q: dict[str, str]) -> dict[str, Any]:
    """The ``access_log`` filters of a filter form (outcome, sort and direction are the console's own)."""
    f: dict[str, Any] = {k: q[k].strip() for k in ("subject", "department", "operator", "purpose")
                         if q.get(k, "").strip()}
    start, end = day_start(q.get("from")), day_start(q.get("to"), 1)
    if start:
        f["from"] = start
    if end:
        f["to"] = end
    f["limit"] = number(q.get("limit"), 200, 1, 1000)
    before = number(q.get("before"))
    if before:
        f["before"] = before
    return f


def access_log(reads: Reads, q: dict[str, str]) -> tuple[Read, list[dict[str, Any]]]:
    """One page of the access log for the form ``q``: the read and its rows, outcome-filtered and sorted."""
    read = reads.query("access_log", PURPOSE, filters=_filters(q))
    rows = list(read.data["queries"]) if read.ok else []
    if q.get("outcome") in ("accepted", "refused"):
        rows = [r for r in rows if r["status"] == q["outcome"]]
    key = q.get("sort") if q.get("sort") in SORTABLE else "issued_at"
    rows.sort(key=lambda r: (r.get(key) or "", r["position"]), reverse=q.get("dir", "desc") != "asc")
    return read, rows


def _chart_rows(reads: Reads, start: str, end: str) -> tuple[list[dict[str, Any]], bool]:
    """The access log's rows of a period, newest first, up to ``CHART_PAGES`` pages; and whether there is more."""
    rows: list[dict[str, Any]] = []
    before: int | None = None
    for _ in range(CHART_PAGES):
        filters: dict[str, Any] = {"from": start, "to": end, "limit": 1000}
        if before:
            filters["before"] = before
        read = reads.query("access_log", PURPOSE, filters=filters)
        if not read.ok:
            return rows, False
        rows += read.data["queries"]
        before = read.data.get("next_before")
        if before is None:
            return rows, False
    return rows, True


def pattern_charts(rows: list[dict[str, Any]], first: date, last: date) -> list[charts.Chart]:
    """Queries per day by department and by purpose, refused against accepted, and by hour of the week."""
    days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    by_dept: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    by_purpose: dict[str, list[int]] = defaultdict(lambda: [0] * len(days))
    outcome = {"accepted": [0] * len(days), "refused": [0] * len(days)}
    week = [[0] * 24 for _ in range(7)]
    for r in rows:
        when = datetime.fromisoformat(r["issued_at"].replace("Z", "+00:00")).astimezone(BEIJING)
        i = index.get(when.date().isoformat())
        if i is None:
            continue
        by_dept[r["department"]][i] += 1
        by_purpose[r["purpose"]][i] += 1
        outcome.setdefault(r["status"], [0] * len(days))[i] += 1
        week[when.weekday()][when.hour] += 1
    top = [d for d, _ in Counter({d: sum(v) for d, v in by_dept.items()}).most_common(8)]
    dept_series = {d: by_dept[d] for d in top}
    rest = [sum(by_dept[d][i] for d in by_dept if d not in top) for i in range(len(days))]
    if any(rest):
        dept_series["other departments"] = rest
    labels = [d[5:] for d in days]
    return [
        charts.bars("Queries per day by department", "day", labels, dept_series, stacked=True, y_title="queries",
                    note="Beijing-time days; the eight departments with the most queries, the rest together."),
        charts.bars("Queries per day by purpose", "day", labels, dict(sorted(by_purpose.items())), stacked=True,
                    y_title="queries"),
        charts.bars("Refused against accepted", "day", labels, outcome, stacked=True, y_title="queries",
                    note="A refused query is recorded too: its reason is in the access log."),
        charts.week_hours("Queries by hour of the week", week,
                          note="Office hours are Monday to Friday, 08:00 to 18:00 Beijing time."),
    ]


def routes(console: Console) -> list[Route]:
    def log_page(request: Request) -> Response:
        q = dict(request.query_params)
        reads = console.reads()
        read, rows = access_log(reads, q)
        keep = {k: v for k, v in q.items() if k in FIELDS and k not in ("sort", "dir", "before") and v}
        return console.page(request, "privacy_log.html", reads, q=q, rows=rows, read=read, keep=keep,
                            sortable=SORTABLE, purposes=PURPOSES)

    def log_csv(request: Request) -> Response:
        q = dict(request.query_params)
        read, rows = access_log(console.reads(), q)
        if not read.ok:
            return Response(f"refused: {read.detail()}\n", status_code=403, media_type="text/plain")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([r.get(c) if r.get(c) is not None else "" for c in COLUMNS])
        leaf = read.leaf_index
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="access-log-leaf-{leaf}.csv"',
            "X-Ledger-Query": f"{read.statement_id} leaf {leaf}"})

    def subject_page(request: Request) -> Response:
        subject = request.query_params.get("subject", "").strip()
        reads = console.reads()
        read = None
        days: dict[str, list[dict[str, Any]]] = {}
        if subject:
            read = reads.query("access_log", PURPOSE, filters={"subject": subject, "limit": 1000})
            for r in read.data["queries"] if read.ok else []:
                when = datetime.fromisoformat(r["issued_at"].replace("Z", "+00:00")).astimezone(BEIJING)
                days.setdefault(when.date().isoformat(), []).append({**r, "time": when.strftime("%H:%M")})
        summary = Counter((r["department"], r["purpose"]) for rows in days.values() for r in rows)
        return console.page(request, "privacy_subject.html", reads, subject=subject, read=read, days=days,
                            summary=summary.most_common())

    def review_page(request: Request) -> Response:
        q = request.query_params
        first, last = q.get("from") or (today() - timedelta(days=7)).isoformat(), q.get("to") or today().isoformat()
        reads = console.reads()
        filters = {k: v for k, v in (("from", day_start(first)), ("to", day_start(last, 1))) if v}
        read = reads.query("review_report", PURPOSE, filters=filters)
        findings: dict[str, list[dict[str, Any]]] = {}
        for f in read.data["findings"] if read.ok else []:
            findings.setdefault(f["rule"], []).append({**f, "queries": list(zip(f["query_ids"], f["positions"]))})
        return console.page(request, "privacy_review.html", reads, read=read, findings=findings, first=first,
                            last=last)

    def charts_page(request: Request) -> Response:
        q = request.query_params
        try:
            last = date.fromisoformat(q.get("to") or "") if q.get("to") else today()
            first = date.fromisoformat(q.get("from") or "") if q.get("from") else last - timedelta(days=29)
        except ValueError:
            last, first = today(), today() - timedelta(days=29)
        first = max(first, last - timedelta(days=92))
        reads = console.reads()
        start, end = day_start(first.isoformat()), day_start(last.isoformat(), 1)
        assert start is not None and end is not None
        rows, more = _chart_rows(reads, start, end)
        return console.page(request, "privacy_charts.html", reads, charts=pattern_charts(rows, first, last),
                            count=len(rows), more=more, first=first.isoformat(), last=last.isoformat(),
                            cap=CHART_PAGES * 1000)

    return [Route("/privacy/log", log_page), Route("/privacy/log.csv", log_csv),
            Route("/privacy/subject", subject_page), Route("/privacy/review", review_page),
            Route("/privacy/charts", charts_page)]
