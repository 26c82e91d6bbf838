"""Reading the public red and black lists from the live archive, a page at a time.

One path serves the JSON lists and the public site: ``public_list_page`` reads a page of entries, the
archive's tracked position and the latest signed checkpoint in one SQL statement, so all three come from
one snapshot of the database (SQLite and PostgreSQL alike): the position shown with a page is the one its
entries were read at, and the same page can be recomputed later by an as-of replay to that position.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from ledger.domain.archive_rules import public_entry
from projections.store import Store

# A record on a list that day: not revoked, not repaired, not a minor's, still within its publication.
ACTIVE = "list = %s AND revoked = 0 AND repaired = 0 AND minor = 0 AND public_until > %s"
ACTIVE_A = "a.list = %s AND a.revoked = 0 AND a.repaired = 0 AND a.minor = 0 AND a.public_until > %s"

# The orders a list can be read in: newest decisions first (the default), oldest first, or by the deciding
# authority's name (newest first within one authority). Ties are broken by the record id, so every order is
# total and a cursor names exactly where the next page starts.
SORTS = ("-decision_date", "decision_date", "authority")
_ORDER = {  # {a}: the records' alias or none, {n}: the authority's name
    "-decision_date": "{a}decision_date DESC, {a}record_id ASC",
    "decision_date": "{a}decision_date ASC, {a}record_id ASC",
    "authority": "{n} ASC, {a}decision_date DESC, {a}record_id ASC",
}
_NAME = "COALESCE(d.name, '')"
_AFTER = {
    "-decision_date": "(a.decision_date < %s OR (a.decision_date = %s AND a.record_id > %s))",
    "decision_date": "(a.decision_date > %s OR (a.decision_date = %s AND a.record_id > %s))",
    "authority": (f"({_NAME} > %s OR ({_NAME} = %s AND (a.decision_date < %s"
                  " OR (a.decision_date = %s AND a.record_id > %s))))"),
}

# Searching runs over what an entry shows (masked name, category, reason, authority, document number), never
# over the stored record: a resident ID number is not searched at all, and a full name appears in no public
# field (names are masked, and every department-written text has the subject's names masked).
MAX_SEARCH = 50
_ID_RUN = re.compile(r"[0-9]{14}[0-9Xx]|[0-9]{15}")
# two to four Han characters (张三, 欧阳娜娜), or Han words joined by a middle dot (阿依古丽·买买提)
_HAN_NAME = re.compile(r"[\u3400-\u9fff]{2,4}|[\u3400-\u9fff]+(?:[·•][\u3400-\u9fff]+)+")


@dataclass(frozen=True)
class Checkpoint:
    """The latest signed checkpoint as a page saw it: tree size, root (standard base64), when it was made."""

    size: int
    root: str
    time: str

    def as_json(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root, "time": self.time}


@dataclass(frozen=True)
class ListPage:
    """A page of a public list, with the archive's position and the latest checkpoint it was read with.

    It unpacks as ``(entries, next_cursor)``, as the pages did before they carried the position."""

    entries: list[dict[str, Any]]
    next_cursor: str | None
    position: int
    checkpoint: Checkpoint | None
    catalogue_version: int | None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.entries, self.next_cursor))

    def __getitem__(self, index: int) -> Any:
        return (self.entries, self.next_cursor)[index]

    def __len__(self) -> int:
        return 2


def search_kind(text: str) -> str:
    """What a search text looks like: ``"id"`` (it holds a resident ID number: never searched), ``"name"``
    (a whole Chinese name: searched, but only public, masked fields can match, so it finds no one by name),
    or ``""``."""
    compact = re.sub(r"[\s\-]", "", normalise(text))
    if _ID_RUN.search(compact):
        return "id"
    if _HAN_NAME.fullmatch(compact):
        return "name"
    return ""


def normalise(text: str) -> str:
    """Search text as compared: NFKC (full-width letters and digits become plain ones), case-folded, trimmed."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


SEARCH_SCAN = 1000  # entries a search reads at most per request

# A record's occupational group, as its document gives it (``details.occupational_group``); each database has
# an index on this very expression (``archive_sql.SQLITE_DDL``, ``migrations/0012_occupational_group.sql``).
GROUP_OF = {"sqlite": "json_extract(a.doc, '$.fields.details.occupational_group')",
            "postgres": "((a.doc::jsonb) #>> '{fields,details,occupational_group}')"}


def occupational_groups(store: Store) -> tuple[int | None, list[str]]:
    """The latest catalogue's version and its occupational groups' codes, in its order (none projected yet:
    ``(None, [])``)."""
    rows = store.query("SELECT version, doc FROM view_catalogues ORDER BY version DESC LIMIT 1")
    if not rows:
        return None, []
    version, doc = rows[0]
    return int(version), [g["code"] for g in orjson.loads(doc).get("occupational_groups", [])]


def responsible_names(store: Store, docs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The names of the persons ever recorded as responsible for the organisations among ``docs``' subjects, by
    organisation: public text about an organisation's record masks them (no read for a page of residents)."""
    organisations = sorted({d["subject"] for d in docs if d.get("subject_type") == "organisation"})
    if not organisations:
        return {}
    found: dict[str, list[str]] = {}
    for organisation, doc in store.query(
            "SELECT organisation, doc FROM view_responsibilities WHERE organisation IN ("
            + ", ".join(["%s"] * len(organisations)) + ")", organisations):
        found.setdefault(organisation, []).append(orjson.loads(doc)["person_name"])
    return found


def public_list_page(
    store: Store, listing: str, today: date, *, field: str | None = None, authority: str | None = None,
    decided_from: str | None = None, decided_to: str | None = None, cursor: str | None = None, limit: int = 50,
    sort: str = "-decision_date", search: str | None = None, entry: str | None = None,
    occupational_group: str | None = None,
) -> ListPage:
    """One page of a public list on ``today`` in the ``sort`` order, with the position and checkpoint read in
    the same statement; ``next_cursor`` continues it (in the same order).

    A subject on the black list that day is left off the red list. ``search`` keeps the entries whose public
    fields contain it (a text holding a resident ID number is refused: ValueError); ``entry`` reads one
    record's entry, if it is on the list; ``occupational_group`` keeps the records of that group (the caller
    checks it is one of the catalogue's, ``occupational_groups``)."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    if any("\x00" in v for v in (field, authority, decided_from, decided_to, cursor, search, entry,
                                  occupational_group) if v):
        raise ValueError("a NUL character is not allowed in a filter, cursor or search")
    needle = normalise(search) if search else ""
    if len(needle) > MAX_SEARCH:
        raise ValueError(f"a search is at most {MAX_SEARCH} characters")
    if needle and search_kind(needle) == "id":
        raise ValueError("searching by ID number is not possible: entries show masked ID numbers only")
    day = today.isoformat()
    where = [ACTIVE_A]
    params: list[Any] = [listing, day]
    if listing == "red":
        where.append(f"a.subject NOT IN (SELECT subject FROM archive_records WHERE {ACTIVE})")
        params += ["black", day]
    for clause, value in (("a.field = %s", field), ("a.issuer = %s", authority), ("a.record_id = %s", entry),
                          ("a.decision_date >= %s", decided_from), ("a.decision_date <= %s", decided_to),
                          (f"{GROUP_OF[store.kind]} = %s" if occupational_group is not None else "",
                           occupational_group)):
        if value is not None:
            where.append(clause)
            params.append(value)
    if cursor is not None:
        keys = decode_sort_cursor(cursor, sort)
        if any("\x00" in str(k) for k in keys):
            raise ValueError("cursor is not one this list gave")
        where.append(_AFTER[sort])
        params += _after_params(sort, keys)
    # The page is read in a sub-select of its own (its order and limit as before); the position, the latest
    # checkpoint and the catalogue version join it as one row, so an empty page still carries them.
    tracking = getattr(store.tracking, "tracking_table_name", "tracking")
    query = (
        "SELECT p.view_position, c.size, c.root, c.created_at, v.version, e.doc, e.authority_name"
        f" FROM (SELECT MAX(notification_id) AS view_position FROM {tracking} WHERE application_name = %s) AS p"
        " LEFT JOIN (SELECT size, root, created_at FROM log_checkpoints ORDER BY size DESC LIMIT 1) AS c ON 1 = 1"
        " LEFT JOIN (SELECT MAX(version) AS version FROM view_catalogues) AS v ON 1 = 1"
        f" LEFT JOIN (SELECT a.decision_date, a.record_id, a.doc, {_NAME} AS authority_name FROM archive_records a"
        " LEFT JOIN view_departments d ON d.code = a.issuer WHERE " + " AND ".join(where)
        + " ORDER BY " + _ORDER[sort].format(a="a.", n=_NAME) + " LIMIT %s"
        + ") AS e ON 1 = 1 ORDER BY " + _ORDER[sort].format(a="e.", n="e.authority_name"))
    # A search reads at most SEARCH_SCAN entries a request (its cost does not grow with the list): when they
    # hold less than a page of matches, the cursor goes on from the last entry read.
    rows = store.query(query, ("archive", *params, SEARCH_SCAN if needle else limit + 1))
    first = rows[0]
    checkpoint = (Checkpoint(int(first[1]), base64.b64encode(bytes(first[2])).decode("ascii"), first[3])
                  if first[1] is not None else None)
    docs = [(orjson.loads(doc), name or "") for *_, doc, name in rows if doc is not None]
    responsible = responsible_names(store, [d for d, _ in docs])
    if needle:
        titles = _zh_titles(store, first[4])
        scanned = [public_entry(doc, name, responsible.get(doc["subject"], ())) for doc, name in docs]
        entries = [e for e in scanned if needle in _searchable(e, titles)]
        more, entries = len(entries) > limit, entries[:limit]
        if not more and len(docs) == SEARCH_SCAN:  # more may match further on: continue after the last one read
            return ListPage(entries, encode_sort_cursor(sort, scanned[-1]), int(first[0] or 0), checkpoint, first[4])
    else:  # the row past the page only says that there is more: it is not made an entry
        more = len(docs) > limit
        entries = [public_entry(doc, name, responsible.get(doc["subject"], ())) for doc, name in docs[:limit]]
    next_cursor = encode_sort_cursor(sort, entries[-1]) if more else None
    return ListPage(entries, next_cursor, int(first[0] or 0), checkpoint, first[4])


def list_authorities(store: Store, listing: str, today: date) -> list[tuple[str, str]]:
    """(code, name) of every authority with an entry on the list on ``today``, by name (a filter's choices)."""
    day = today.isoformat()
    red = f" AND a.subject NOT IN (SELECT subject FROM archive_records WHERE {ACTIVE})" if listing == "red" else ""
    rows = store.query(
        f"SELECT DISTINCT a.issuer, {_NAME} FROM archive_records a LEFT JOIN view_departments d ON d.code = a.issuer"
        f" WHERE {ACTIVE_A}{red} ORDER BY 2, 1", (listing, day, *(("black", day) if red else ())))
    return [(code, name) for code, name in rows]


def _searchable(entry: dict[str, Any], titles: dict[str, str]) -> str:
    parts = (entry["name"], entry["category"], titles.get(entry["category"], ""), entry["reason"],
             entry["authority"]["name"], entry["document_number"] or "")
    return normalise("\n".join(parts))


def _zh_titles(store: Store, version: int | None) -> dict[str, str]:
    """The catalogue's Chinese title of each item title (a category can be searched in either language)."""
    if version is None:
        return {}
    (doc,) = store.query("SELECT doc FROM view_catalogues WHERE version = %s", (version,))[0]
    return {i["title"]: i["title_zh"] for i in orjson.loads(doc)["items"] if i.get("title_zh")}


def _after_params(sort: str, keys: list[str]) -> list[str]:
    if sort == "authority":
        name, day, rid = keys
        return [name, name, day, day, rid]
    day, rid = keys
    return [day, day, rid]


def encode_sort_cursor(sort: str, entry: dict[str, Any]) -> str:
    """The cursor after ``entry`` in the ``sort`` order (the newest-first one keeps its earlier form)."""
    if sort == "-decision_date":
        return encode_cursor(entry["decision_date"], entry["entry_id"])
    keys = [entry["decision_date"], entry["entry_id"]]
    if sort == "authority":
        keys.insert(0, entry["authority"]["name"])
    return base64.urlsafe_b64encode(orjson.dumps([sort, *keys])).decode().rstrip("=")


def decode_sort_cursor(cursor: str, sort: str) -> list[str]:
    """The keys a cursor of the ``sort`` order holds; ValueError for any other text (or another order's)."""
    if sort == "-decision_date":
        return list(decode_cursor(cursor))
    refused = ValueError("cursor is not one this service gave out for this sort")
    try:
        keys = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise refused from None
    size = 4 if sort == "authority" else 3
    if (not isinstance(keys, list) or len(keys) != size or keys[0] != sort
            or not all(isinstance(k, str) for k in keys)):
        raise refused
    try:
        date.fromisoformat(keys[-2])
    except ValueError:
        raise refused from None
    return keys[1:]


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
