"""The auditor's pages: ledger entries by range, an archive or a public list as of a point and the difference
between two points, and the checkpoint history with consistency proofs. Reads of entries and of archives are
queries with the purpose ``audit``; checkpoints and proofs are the log's public data."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.console import proofs, verify
from api.console.app import Console, day_start, number
from api.console.client import Read, Reads

PURPOSE = "audit"
SHOWN_CHECKPOINTS = 12


def _point(q: dict[str, str], suffix: str) -> dict[str, Any] | None:
    """A point of the ledger from the form: a position, or the end of a (Beijing) day."""
    position = number(q.get("position" + suffix))
    if position is not None and position > 0:
        return {"position": position}
    at = day_start(q.get("day" + suffix), 1)
    return {"at": at} if at else None


def as_of(reads: Reads, what: str, subject: str, point: dict[str, Any]) -> Read:
    if what == "archive":
        return reads.query("as_of_archive", PURPOSE, subject=subject, filters=point)
    return reads.query("as_of_lists", PURPOSE, filters={**point, "list": what})


def items_of(what: str, read: Read) -> dict[str, dict[str, Any]]:
    """The records (archive) or entries (list) of an as-of answer, by id."""
    if not read.ok:
        return {}
    if what == "archive":
        return {r["record_id"]: r for r in read.data["records"]}
    return {e["entry_id"]: e for e in read.data["entries"]}


def difference(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """What was added, removed or changed between two as-of answers (changed: the fields that differ)."""
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None or b is None:
            kept = a if b is None else b
            assert kept is not None
            out.append({"id": key, "change": "removed" if b is None else "added", "fields": _label(kept)})
        elif a != b:
            changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            out.append({"id": key, "change": "changed",
                        "fields": {k: (_short(a.get(k)), _short(b.get(k))) for k in changed}})
    return out


def _label(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("item", "status", "category", "name", "decision_date", "public_until")
    return {k: item[k] for k in keys if k in item}


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "…"


def checkpoint_history(console: Console, after: int | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The checkpoints to show (the newest ``SHOWN_CHECKPOINTS``, or those after ``after``), each checked, and the
    consistency proof between each and the next."""
    sizes: list[int] = []
    cursor = -1 if after is None else after
    while True:
        status, body = console.client.get("/v1/log/checkpoints", after=cursor, limit=1000)
        if status != 200 or not isinstance(body, dict):
            break
        sizes += [c["size"] for c in body["checkpoints"]]
        if body.get("next_after") is None or (after is not None and len(sizes) > SHOWN_CHECKPOINTS):
            break
        cursor = body["next_after"]
    chosen = sizes[:SHOWN_CHECKPOINTS + 1] if after is not None else sizes[-(SHOWN_CHECKPOINTS + 1):]
    checked = [proofs.signed_checkpoint(console, size) for size in chosen]
    pairs = [{"first": a, "second": b, **proofs.consistency(console, a, b)} for a, b in zip(checked, checked[1:])]
    return checked, pairs


def routes(console: Console) -> list[Route]:
    def entries_page(request: Request) -> Response:
        q = request.query_params
        status, health = console.client.get("/healthz")
        count = int(health.get("statements", 0)) if status == 200 and isinstance(health, dict) else 0
        end = number(q.get("end"), count, 1) or 1
        start = number(q.get("start"), max(0, end - 50), 0, end - 1) or 0
        start = max(start, end - 1000)
        reads = console.reads()
        read = reads.query("ledger_entries", PURPOSE, filters={"start": start, "end": end})
        entries = []
        for e in read.data["entries"] if read.ok else []:
            st = json.loads(e["statement"]) if isinstance(e["statement"], str) else e["statement"]
            entries.append({**e, "parsed": st, "pretty": json.dumps(st, ensure_ascii=False, indent=1)})
        return console.page(request, "audit_entries.html", reads, read=read, entries=entries, start=start, end=end,
                            count=count)

    def asof_page(request: Request) -> Response:
        q = dict(request.query_params)
        what = q.get("what") or "black"
        what = what if what in ("archive", "black", "red") else "black"
        subject = q.get("subject", "").strip()
        reads = console.reads()
        first, second = _point(q, ""), _point(q, "2")
        results: list[tuple[dict[str, Any], Read]] = []
        problem = None
        if what == "archive" and not subject and (first or second):
            problem = "An archive as of a point needs the subject's resident ID."
        else:
            for point in (first, second):
                if point is not None:
                    results.append((point, as_of(reads, what, subject, point)))
        diff = None
        if len(results) == 2 and all(r.ok for _, r in results):
            diff = difference(items_of(what, results[0][1]), items_of(what, results[1][1]))
        return console.page(request, "audit_asof.html", reads, q=q, what=what, subject=subject, results=results,
                            diff=diff, problem=problem)

    def checkpoints_page(request: Request) -> Response:
        after = number(request.query_params.get("after"))
        checked, pairs = checkpoint_history(console, after)
        return console.page(request, "audit_checkpoints.html", checked=checked, pairs=pairs)

    return [Route("/audit/entries", entries_page), Route("/audit/asof", asof_page),
            Route("/audit/checkpoints", checkpoints_page), *verify.routes(console)]
