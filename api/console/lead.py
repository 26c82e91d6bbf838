"""The lead department's page: the department assessment (``department_assessment`` query, purpose
``supervision``), as tables and charts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.console import charts
from api.console.app import Console
from ledger.domain.catalogue import LATEST_SHIPPED, shipped_catalogue_document
from ledger.domain.queries import MONTH

PURPOSE = "supervision"
# The occupational groups to filter by (the latest shipped catalogue's; the ledger refuses a code its catalogue in
# force does not list, and the page then says why).
GROUPS = {g["code"]: f"{g['name_zh']} {g['name_en']}"
          for g in shipped_catalogue_document(LATEST_SHIPPED).get("occupational_groups", [])}


def _name(data: dict[str, Any], code: str) -> str:
    name = data["departments"].get(code) or ""
    return f"{name} ({code[-6:]})" if name else code


def _short(data: dict[str, Any], code: str) -> str:
    """A department's name without the city's prefix, for a chart's axis."""
    name = (data["departments"].get(code) or "").removeprefix("青岛市")
    return name[:34] if name else code


def assessment_charts(data: dict[str, Any]) -> list[charts.Chart]:
    """Lag per department, share late per month, corrections, objections, refusals by kind."""
    totals = [t for t in data["totals"] if t["records"] or t["objections_filed"] or t["refused_queries"]]
    reporting = [t for t in totals if t["records"]]
    names = [_short(data, t["department"]) for t in reporting]
    months = sorted({r["month"] for r in data["rows"]})
    share: dict[str, list[float | None]] = {}
    for t in reporting[:8]:
        by_month = {r["month"]: r["share_late"] for r in data["rows"] if r["department"] == t["department"]}
        share[_short(data, t["department"])] = [by_month.get(m) for m in months]
    kinds = sorted(Counter(k for t in totals for k in t["refusals"]))
    refusing = [t for t in totals if t["refused_queries"]]
    deadline = data["reporting_deadline_working_days"]
    return [
        charts.bars(f"Reporting lag by department (deadline: {deadline} working days)", "department", names,
                    {"median": [t["lag_median"] for t in reporting],
                     "95th percentile": [t["lag_p95"] for t in reporting]},
                    y_title="working days", horizontal=True,
                    note=f"Working days from the decision to its recording; the deadline is {deadline} working days."),
        charts.lines("Share of records recorded late", "month", months, share, percent=True, y_title="late",
                     note="Per month of recording; the eight departments with the most records."),
        charts.bars("Corrections per hundred records", "department", names,
                    {"corrections per 100 records": [t["corrections_per_100_records"] for t in reporting]},
                    horizontal=True),
        charts.bars("Objections against each department's records", "department",
                    [_short(data, t["department"]) for t in totals],
                    {k: [t["objections_" + k] for t in totals] for k in ("filed", "upheld", "overdue")},
                    horizontal=True,
                    note="Upheld: the record was kept; overdue: answered after the deadline, or open past it. "
                         "Corrected, revoked and open are in the tables."),
        charts.bars("Refused queries by kind", "department", [_short(data, t["department"]) for t in refusing],
                    {k: [t["refusals"].get(k, 0) for t in refusing] for k in kinds}, stacked=True, horizontal=True,
                    note="Refused statements are not in the ledger: a refused statement stores nothing."),
    ]


def routes(console: Console) -> list[Route]:
    def assessment(request: Request) -> Response:
        q = request.query_params
        filters = {k: q[k] for k in ("from", "to") if MONTH.fullmatch(q.get(k, ""))}
        if q.get("department", "").strip():
            filters["department"] = q["department"].strip()
        if q.get("occupational_group", "") in GROUPS:
            filters["occupational_group"] = q["occupational_group"]
        reads = console.reads()
        read = reads.query("department_assessment", PURPOSE, filters=filters)
        data = read.data if read.ok else None
        return console.page(request, "lead_assessment.html", reads, read=read, data=data, q=q, groups=GROUPS,
                            charts=assessment_charts(data) if data else [],
                            name=(lambda code: _name(data, code)) if data else str,
                            short=(lambda code: _short(data, code)) if data else str)

    return [Route("/lead/assessment", assessment)]
