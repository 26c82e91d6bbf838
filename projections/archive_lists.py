"""Reading the public red and black lists from the live archive, a page at a time."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import orjson

from ledger.domain.archive_rules import public_entry
from projections.store import Store

# A record on a list that day: not revoked, not repaired, not a minor's, still within its publication.
ACTIVE = "list = %s AND revoked = 0 AND repaired = 0 AND minor = 0 AND public_until > %s"


def public_list_page(
    store: Store, listing: str, today: date, *, field: str | None = None, authority: str | None = None,
    decided_from: str | None = None, decided_to: str | None = None, cursor: str | None = None, limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a public list on ``today``, newest decisions first; returns (entries, next cursor).

    A subject on the black list that day is left off the red list."""
    day = today.isoformat()
    where = [ACTIVE]
    params: list[Any] = [listing, day]
    if listing == "red":
        where.append(f"subject NOT IN (SELECT subject FROM archive_records WHERE {ACTIVE})")
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
    rows = store.query(
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


def position_at(store: Store, when: str) -> int:
    """The last ledger position recorded at or before ``when`` (RFC 3339 UTC), 0 if none."""
    rows = store.query("SELECT MAX(notification_id) FROM ledger_entries WHERE recorded_at <= %s", (when,))
    return int(rows[0][0] or 0)
