"""The lead department's assessment of how departments report (督促考核), per department and month. Pure.

Computed from the ledger's statements in ledger order (``Fact``) and its refused queries, with the
catalogue's deadlines in working days (Monday to Friday; public holidays are not modelled, as for objection
deadlines). Months and days are Beijing time (UTC+8), the days the deadlines are counted in.

- ``statements``: every statement the department signed (queries aside), by the month it was recorded;
- reporting lag of each ``record.submitted``: working days from the decision date to the day it was
  recorded, a recording on a weekend counting as the next working day, so that a record is late exactly when
  its lag exceeds ``reporting_deadline_working_days`` (recorded after that many working days from the
  decision); per month the median and the 95th percentile (nearest rank) of the lags, and the share late;
- corrections recorded in the month per hundred records submitted in the month;
- objections against the department's records, by the month filed: how many, how they were resolved
  (outcome ``upheld``, ``corrected``, ``revoked``), how many are open, and how many were or are overdue
  (resolved after their deadline, or open past it on the day of the assessment);
- revocations (``record.revoked``) by the month recorded; one is late if it was recorded more than
  ``revocation_report_working_days`` after the annulling decision, which is known only when the statement
  gives its date (``annulled_on``); the others are counted as undated;
- ``measures_applied``: the joint incentive and punishment measures the department reported applying
  (``measure.applied``), by the month recorded;
- refused queries by kind of refusal (``ledger.domain.queries.refusal_kind``). Refused *statements* are
  not here: the ledger stores nothing of a refused statement, by design.

Given an occupational group (one of the catalogue's ``occupational_groups``), only statements about records
of that group count: a record is of the group its ``record.submitted`` gave in ``details.occupational_group``
(a correction replacing the details moves it, from that correction on), every later statement about it
follows it, and a ``measure.applied`` counts when a record it cites is of the group. Statements about no
record (department registrations, catalogues) and refused queries are then not counted.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, timedelta, timezone
from typing import Any, NamedTuple

from ledger.domain.queries import refusal_kind
from ledger.domain.rules import add_months, add_working_days
from ledger.format.times import parse_datetime

BEIJING = timezone(timedelta(hours=8))
DEFAULT_MONTHS = 12  # months assessed when the query gives no ``from``
OUTCOMES = ("upheld", "corrected", "revoked")
COUNTS = ("statements", "records", "late", "corrections", "objections_filed", "objections_upheld",
          "objections_corrected", "objections_revoked", "objections_open", "objections_overdue",
          "revocations", "revocations_late", "revocations_undated", "measures_applied", "refused_queries")


class Fact(NamedTuple):
    """One non-query statement as the ledger recorded it: its type, its JSON fields, when it was recorded, and
    for an objection the deadline the ledger set."""

    kind: str
    statement: dict[str, Any]
    recorded_at: str
    deadline: str | None = None


def record_group(details: Any) -> str | None:
    """The occupational group a record's ``details`` give (None when they give none)."""
    group = details.get("occupational_group") if isinstance(details, dict) else None
    return group if isinstance(group, str) else None


def fact_group(fact: Fact, groups: dict[str, str | None]) -> set[str | None]:
    """The occupational groups of the records ``fact`` is about, after it; ``groups`` (record id -> group)
    learns the groups of records submitted or corrected."""
    s = fact.statement
    if fact.kind == "record.submitted":
        groups[s["id"]] = record_group(s.get("details"))
        return {groups[s["id"]]}
    if fact.kind == "record.corrected" and isinstance(s.get("changes"), dict) and "details" in s["changes"]:
        groups[s["record_id"]] = record_group(s["changes"]["details"])
    if "record_id" in s:
        return {groups.get(s["record_id"])}
    if fact.kind == "measure.applied":
        return {groups.get(r) for r in s.get("records", [])}
    return set()


class Refusal(NamedTuple):
    """A refused query: the department that asked, when it was recorded, the ledger's reason."""

    department: str
    recorded_at: str
    reason: str | None


def beijing_day(timestamp: str) -> date:
    """The Beijing-time day of an RFC 3339 UTC timestamp."""
    return parse_datetime(timestamp).astimezone(BEIJING).date()


def month_of(day: date) -> str:
    """``YYYY-MM``."""
    return f"{day.year:04d}-{day.month:02d}"


def _weekdays_through(day: date) -> int:
    """Monday-to-Friday days from 0001-01-01 (a Monday) through ``day``."""
    o = day.toordinal()
    return 5 * (o // 7) + min(o % 7, 5)


def working_days_after(start: date, end: date) -> int:
    """Working days after ``start`` up to ``end``, ``end`` on a weekend counting as the next working day
    (0 if ``end`` is not after ``start``)."""
    while end.weekday() >= 5:
        end += timedelta(days=1)
    return max(0, _weekdays_through(end) - _weekdays_through(start))


def percentile(values: list[int], p: float) -> int | None:
    """The ``p``-th percentile by nearest rank (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
    return ordered[int(rank) - 1]


def default_months(today: date, first: str | None, last: str | None) -> tuple[str, str]:
    """The months assessed: ``first``..``last``, by default the ``DEFAULT_MONTHS`` up to this one."""
    last = last or month_of(today)
    if first is None:
        first = month_of(add_months(date(int(last[:4]), int(last[5:7]), 1), 1 - DEFAULT_MONTHS))
        first = min(first, last)
    return first, last


class _Cell:
    """What one department did in one month."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lags: list[int] = []
        self.refusals: Counter[str] = Counter()

    def add(self, other: _Cell) -> None:
        self.counts.update(other.counts)
        self.lags += other.lags
        self.refusals.update(other.refusals)

    def row(self, department: str, month: str | None) -> dict[str, Any]:
        c = self.counts
        records = c["records"]
        return {
            "department": department, "month": month,
            **{name: c[name] for name in COUNTS if name != "refused_queries"},
            "lag_median": statistics.median(self.lags) if self.lags else None,
            "lag_p95": percentile(self.lags, 95),
            "share_late": round(c["late"] / records, 4) if records else None,
            "corrections_per_100_records": round(100 * c["corrections"] / records, 2) if records else None,
            "refused_queries": sum(self.refusals.values()),
            "refusals": dict(sorted(self.refusals.items())),
        }


def assess(facts: Iterable[Fact], refusals: Iterable[Refusal], *, reporting_days: int, revocation_days: int,
           today: date, first_month: str, last_month: str, department: str | None = None,
           occupational_group: str | None = None) -> dict[str, Any]:
    """The assessment of ``first_month``..``last_month`` (``YYYY-MM``), of one department or all, and of the
    records of one occupational group or all."""
    cells: dict[tuple[str, str], _Cell] = defaultdict(_Cell)
    names: dict[str, str] = {}
    issuer_of: dict[str, str] = {}  # record id -> the department that submitted it
    groups: dict[str, str | None] = {}  # record id -> its occupational group
    objections: dict[str, dict[str, Any]] = {}
    for fact in facts:
        s = fact.statement
        if fact.kind == "department.registered":
            names[s["department"]] = s["name"]
        about = fact_group(fact, groups)
        if occupational_group is not None and occupational_group not in about:
            continue
        day = beijing_day(fact.recorded_at)
        cell = cells[(s["issuer"], month_of(day))]
        cell.counts["statements"] += 1
        if fact.kind == "record.submitted":
            issuer_of[s["id"]] = s["issuer"]
            decided = date.fromisoformat(s["decision_date"])
            lag = working_days_after(decided, day)
            cell.counts["records"] += 1
            cell.lags.append(lag)
            cell.counts["late"] += lag > reporting_days
        elif fact.kind == "record.corrected":
            cell.counts["corrections"] += 1
        elif fact.kind == "objection.filed" and s["record_id"] in issuer_of:
            owner = issuer_of[s["record_id"]]
            objections[s["id"]] = {"key": (owner, month_of(day)), "deadline": fact.deadline, "resolved": None}
            cells[(owner, month_of(day))].counts["objections_filed"] += 1
        elif fact.kind == "objection.resolved" and s["objection_id"] in objections:
            objections[s["objection_id"]]["resolved"] = (s["outcome"], day)
        elif fact.kind == "measure.applied":
            cell.counts["measures_applied"] += 1
        elif fact.kind == "record.revoked":
            cell.counts["revocations"] += 1
            if s.get("annulled_on"):
                due = add_working_days(date.fromisoformat(s["annulled_on"]), revocation_days)
                cell.counts["revocations_late"] += day > due
            else:
                cell.counts["revocations_undated"] += 1
    for objection in objections.values():
        counts = cells[objection["key"]].counts
        deadline = date.fromisoformat(objection["deadline"]) if objection["deadline"] else None
        if objection["resolved"] is None:
            counts["objections_open"] += 1
            counts["objections_overdue"] += deadline is not None and today > deadline
        else:
            outcome, on = objection["resolved"]
            counts["objections_" + outcome] += outcome in OUTCOMES
            counts["objections_overdue"] += deadline is not None and on > deadline
    for refusal in refusals if occupational_group is None else ():
        cells[(refusal.department, month_of(beijing_day(refusal.recorded_at)))].refusals[
            refusal_kind(refusal.reason)] += 1

    rows: list[dict[str, Any]] = []
    totals: dict[str, _Cell] = {}
    for (dept, month), cell in sorted(cells.items()):
        if not first_month <= month <= last_month or (department is not None and dept != department):
            continue
        rows.append(cell.row(dept, month))
        totals.setdefault(dept, _Cell()).add(cell)
    return {
        "from": first_month, "to": last_month, **({"department": department} if department else {}),
        **({"occupational_group": occupational_group} if occupational_group else {}),
        "as_of_day": today.isoformat(),
        "reporting_deadline_working_days": reporting_days, "revocation_report_working_days": revocation_days,
        "departments": {code: names.get(code, "") for code in sorted(totals)},
        "rows": rows,
        "totals": [cell.row(dept, None) for dept, cell in sorted(totals.items())],
        "refused_statements": "not in the ledger: a refused statement stores nothing (the service's /metrics "
                              "counts refusals by problem type, without departments)",
    }
