"""What a department has to answer: the open objections to its records and the open repair and deferral
applications about them, each with the day its answer is due. Pure.

A department sees here only what it needs to find the case in its own files: the record's id, item and document
number (its own), what is open (objection, repair or deferral application), when it was filed, when the answer is
due and whether that day has passed, and for applications the repair method or the day asked for. Nothing the
subject wrote and nothing identifying the subject is in it: the grounds and reasons are read with an archive query
about the subject (purpose ``objection_handling`` or ``repair_handling``), which the subject's access log shows.
"""

from __future__ import annotations

from typing import Any

KINDS = ("objection", "repair", "deferral")


def open_items(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's open objections and applications, oldest deadline first (none for a revoked record: nothing
    about it can change any more)."""
    if doc["revoked"] is not None:
        return []
    base = {"record_id": doc["record_id"], "issuer": doc["issuer"], "item": doc["item"],
            "document_number": doc["fields"].get("document_number")}
    out = [{**base, "kind": "objection", "id": oid, "filed_at": o["filed_at"], "deadline": o["deadline"],
            "needs_verification": o.get("needs_verification", False)}
           for oid, o in doc["objections"].items() if o["resolved"] is None]
    for aid, a in doc.get("applications", {}).items():
        if a["decided"] is None:
            asked = {"method": a["method"]} if a["kind"] == "repair" else {"until": a["until"]}
            out.append({**base, "kind": a["kind"], "id": aid, "filed_at": a["filed_at"], "deadline": a["deadline"],
                        **asked})
    return sorted(out, key=lambda i: (i["deadline"], i["id"]))


def has_items(doc: dict[str, Any]) -> bool:
    """Whether the record ever had an objection or an application (so its open items may have changed)."""
    return bool(doc["objections"]) or bool(doc.get("applications"))


def with_overdue(item: dict[str, Any], day: str) -> dict[str, Any]:
    """The item as answered on ``day`` (ISO date): ``overdue`` once its deadline has passed."""
    return {**item, "overdue": day > item["deadline"]}
