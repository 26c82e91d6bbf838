"""The privacy officer's review report: simple, documented rules over the access log. Pure.

Each finding names its rule and lists the query ids (and ledger positions) behind it:

- ``operator-volume``: an operator made at least 10 queries in the last 24 hours of the period, more
  than 3 times its own daily average over the 30 days before;
- ``outside-office-hours``: issued outside Monday-Friday 08:00-18:00 Beijing time (UTC+8);
- ``other-management``: every query with the purpose ``other_management``;
- ``many-departments``: 3 or more departments queried one subject within 24 hours;
- ``no-record-link``: a department read a subject's archive without having any record about that
  subject (except self-queries, audits and privacy reviews).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

BEIJING = timezone(timedelta(hours=8))
EXEMPT = {"subject_self_query", "audit", "privacy_review"}


def _when(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["issued_at"].replace("Z", "+00:00"))


def _finding(rule: str, summary: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rule": rule, "summary": summary, "query_ids": [r["query_id"] for r in rows],
            "positions": [r["position"] for r in rows]}


def review(rows: list[dict[str, Any]], links: set[tuple[str, str]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Findings for queries issued in [start, end); ``rows`` may reach 30 days further back (for volumes)."""
    period = [r for r in rows if start <= _when(r) < end]
    findings: list[dict[str, Any]] = []

    day_start = end - timedelta(hours=24)
    history_start = day_start - timedelta(days=30)
    by_operator: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_operator[(r["department"], r["operator"])].append(r)
    for (dept, op), mine in sorted(by_operator.items()):
        last_day = [r for r in mine if day_start <= _when(r) < end]
        before = [r for r in mine if history_start <= _when(r) < day_start]
        average = len(before) / 30
        if len(last_day) >= 10 and len(last_day) > 3 * average:
            findings.append(_finding("operator-volume", f"operator {op} of {dept}: {len(last_day)} queries in 24 h, "
                                     f"daily average {average:.1f} over the 30 days before", last_day))

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

    for r in period:
        if r["scope"] == "archive" and r.get("subject") and r["purpose"] not in EXEMPT \
                and (r["department"], r["subject"]) not in links:
            findings.append(_finding("no-record-link", f"{r['department']} read an archive it holds no record in", [r]))
    return findings
