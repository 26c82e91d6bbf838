"""The privacy officer's review report: simple, documented rules over the access log. Pure.

Each finding names its rule and lists the query ids (and ledger positions) behind it:

- ``operator-volume``: an operator made at least ``VOLUME_MIN`` (10) queries in the last 24 hours of
  the period, more than ``VOLUME_FACTOR`` (3) times its own daily average over the 30 days before;
- ``department-volume``: the same rule for a department's queries, all operators together (operator
  strings are the department's own: inventing a new one per query must not dodge the volume rule);
- ``outside-office-hours``: issued outside Monday-Friday 08:00-18:00 Beijing time (UTC+8);
- ``other-management``: every query with the purpose ``other_management``;
- ``many-departments``: 3 or more departments queried one subject within 24 hours;
- ``operator-self-queries`` / ``department-self-queries``: ``subject_self_query`` queries about at
  least ``SELF_QUERY_OPERATOR_DAY`` (20) distinct subjects by one operator, or ``SELF_QUERY_DEPARTMENT_DAY``
  (100) by one department, in one Beijing-time day (a service window serves people one at a time: a
  window reading many people's data "for themselves" is reading it for someone else);
- ``no-record-link``: a department read a subject's archive without having any record about that
  subject (except audits, privacy reviews and accepted self-queries, which carry the identity check).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ledger.format.times import parse_datetime

BEIJING = timezone(timedelta(hours=8))
EXEMPT = {"audit", "privacy_review"}  # and accepted ``subject_self_query`` reads
VOLUME_MIN = 10  # queries in the last 24 hours before the volume rules look at the history
VOLUME_FACTOR = 3  # ... and more than this times the daily average of the 30 days before
SELF_QUERY_OPERATOR_DAY = 20  # distinct self-query subjects of one operator in one Beijing-time day
SELF_QUERY_DEPARTMENT_DAY = 100  # ... of one department


def _when(row: dict[str, Any]) -> datetime:
    return parse_datetime(row["issued_at"])


def _day(row: dict[str, Any]) -> date:
    return _when(row).astimezone(BEIJING).date()


def _finding(rule: str, summary: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rule": rule, "summary": summary, "query_ids": [r["query_id"] for r in rows],
            "positions": [r["position"] for r in rows]}


def _volume(rule: str, who: str, mine: list[dict[str, Any]], day_start: datetime,
            end: datetime) -> list[dict[str, Any]]:
    """The volume finding for ``mine`` (one operator's or department's queries), if any."""
    history_start = day_start - timedelta(days=30)
    last_day = [r for r in mine if day_start <= _when(r) < end]
    before = [r for r in mine if history_start <= _when(r) < day_start]
    average = len(before) / 30
    if len(last_day) >= VOLUME_MIN and len(last_day) > VOLUME_FACTOR * average:
        return [_finding(rule, f"{who}: {len(last_day)} queries in 24 h, daily average {average:.1f} over the "
                         "30 days before", last_day)]
    return []


def review(rows: list[dict[str, Any]], links: set[tuple[str, str]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Findings for queries issued in [start, end); ``rows`` may reach 30 days further back (for volumes)."""
    period = [r for r in rows if start <= _when(r) < end]
    findings: list[dict[str, Any]] = []

    day_start = end - timedelta(hours=24)
    by_operator: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    by_department: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_operator[(r["department"], r["operator"])].append(r)
        by_department[r["department"]].append(r)
    for (dept, op), mine in sorted(by_operator.items()):
        findings += _volume("operator-volume", f"operator {op} of {dept}", mine, day_start, end)
    for dept, mine in sorted(by_department.items()):
        findings += _volume("department-volume", f"department {dept}", mine, day_start, end)

    for r in period:
        local = _when(r).astimezone(BEIJING)
        if local.weekday() >= 5 or not 8 <= local.hour < 18:
            findings.append(_finding("outside-office-hours",
                                     f"{r['department']} / {r['operator']} at {local.isoformat()} Beijing time", [r]))
        if r["purpose"] == "other_management":
            findings.append(_finding("other-management", f"{r['department']} / {r['operator']}: "
                                     f"{r.get('justification') or 'no justification'}", [r]))

    by_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in period:
        if r.get("subject"):
            by_subject[r["subject"]].append(r)
    for subject, mine in sorted(by_subject.items()):
        mine.sort(key=_when)
        lo = 0
        for hi in range(len(mine)):
            while _when(mine[hi]) - _when(mine[lo]) > timedelta(hours=24):
                lo += 1
            window = mine[lo:hi + 1]
            if len({r["department"] for r in window}) >= 3:
                findings.append(_finding("many-departments", f"{len({r['department'] for r in window})} departments "
                                         f"queried subject {subject[:4]}********** within 24 h", window))
                break

    self_by_operator: dict[tuple[str, str, date], list[dict[str, Any]]] = defaultdict(list)
    self_by_department: dict[tuple[str, date], list[dict[str, Any]]] = defaultdict(list)
    for r in period:
        if r["purpose"] == "subject_self_query" and r.get("subject"):
            self_by_operator[(r["department"], r["operator"], _day(r))].append(r)
            self_by_department[(r["department"], _day(r))].append(r)
    for (dept, op, day), mine in sorted(self_by_operator.items()):
        subjects = len({r["subject"] for r in mine})
        if subjects >= SELF_QUERY_OPERATOR_DAY:
            findings.append(_finding("operator-self-queries", f"operator {op} of {dept}: self-queries about "
                                     f"{subjects} different subjects on {day.isoformat()} (Beijing time)", mine))
    for (dept, day), mine in sorted(self_by_department.items()):
        subjects = len({r["subject"] for r in mine})
        if subjects >= SELF_QUERY_DEPARTMENT_DAY:
            findings.append(_finding("department-self-queries", f"department {dept}: self-queries about "
                                     f"{subjects} different subjects on {day.isoformat()} (Beijing time)", mine))

    for r in period:
        genuine_self_query = r["purpose"] == "subject_self_query" and r.get("status") == "accepted"
        if r["scope"] == "archive" and r.get("subject") and r["purpose"] not in EXEMPT and not genuine_self_query \
                and (r["department"], r["subject"]) not in links:
            findings.append(_finding("no-record-link", f"{r['department']} read an archive it holds no record in", [r]))
    return findings
