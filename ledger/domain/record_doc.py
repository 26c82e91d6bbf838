"""What a credit record looks like: one pure reducer from its events to a JSON-ready document.

The ``CreditRecord`` aggregate keeps this document as its state, and the archive projection stores
the same document per record, so the write side and the read side cannot drift apart. Values that
depend on the catalogue or on time (the item's kind and listing, ``expires_on``, ``public_until``,
objection deadlines) are decided when the statement is accepted and travel in the event, so this
code needs no catalogue and reads no clock.
"""

from __future__ import annotations

from typing import Any

from ledger.format.statements import CORRECTABLE

Doc = dict[str, Any]
# Fields of a submission a document keeps when the statement has them (absent, it is as it was before they existed).
SUBMITTED_OPTIONAL = ("subject_type", "source", "source_reference", "adopts")


def reduce(doc: Doc | None, event: str, s: dict[str, Any], attrs: dict[str, Any]) -> Doc:
    """Return the document after applying one event (``doc`` is not modified).

    ``event`` is the event class name, ``s`` the statement, ``attrs`` the event's decided values
    (``recorded_at`` always; ``item``, ``expires_on``, ``public_until``, ``deadline`` by type).
    """
    if event == "Submitted":
        return {
            "record_id": s["id"], "subject": s["subject"], "issuer": s["issuer"], "item": s["item"],
            "catalogue": dict(attrs["item"]), "submitted_at": s["issued_at"], "recorded_at": attrs["recorded_at"],
            "fields": {k: s[k] for k in CORRECTABLE if k in s},
            "expires_on": attrs.get("expires_on"),
            "versions": [], "disclosure": None, "repaired": None, "revoked": None,
            "objections": {}, "statements": [],
            **{k: s[k] for k in SUBMITTED_OPTIONAL if k in s},
        }
    assert doc is not None, f"{event} before Submitted"
    doc = dict(doc)  # a new top level; each branch replaces (never mutates) what it changes
    at = s["issued_at"]
    if event == "Corrected":
        doc["versions"] = [*doc["versions"], {"fields": doc["fields"], "replaced_at": at, "by_statement": s["id"],
                                              "reason": s["reason"]}]
        doc["fields"] = {**doc["fields"], **s["changes"]}
        doc["expires_on"] = attrs.get("expires_on")
        if doc["disclosure"] is not None and attrs.get("public_until"):
            doc["disclosure"] = {**doc["disclosure"], "public_until": attrs["public_until"]}
    elif event == "Disclosed":
        doc["disclosure"] = {
            "list": s["list"], "public_until": attrs["public_until"], "disclosed_at": at,
            "notice_served_at": s.get("notice_served_at"), "period_months": attrs.get("period_months"),
            "exit_conditions": s.get("exit_conditions"), "remedies": s.get("remedies"), "by_statement": s["id"],
        }
        if "public_reason" in s:  # (absent, the document stays as it was before the field existed)
            doc["disclosure"]["public_reason"] = s["public_reason"]
    elif event == "DisclosureWithdrawn":
        doc["disclosure"] = None
    elif event == "Repaired":
        doc["repaired"] = {"at": at, "method": s["method"], "by_statement": s["id"]}
    elif event == "Revoked":
        doc["revoked"] = {"at": at, "reason": s["reason"], "by_statement": s["id"]}
    elif event == "ObjectionFiled":
        doc["objections"] = {**doc["objections"], s["id"]: {
            "filed_at": at, "deadline": attrs["deadline"], "grounds": s["grounds"],
            "needs_verification": bool(s.get("needs_verification", False)), "resolved": None,
        }}
    elif event == "ObjectionResolved":
        resolved = {"at": at, "outcome": s["outcome"], "by_statement": s["id"]}
        doc["objections"] = {**doc["objections"],
                             s["objection_id"]: {**doc["objections"][s["objection_id"]], "resolved": resolved}}
        if s["outcome"] == "revoked":
            doc["revoked"] = {"at": at, "reason": s["reason"], "by_statement": s["id"]}
    elif event == "StatementAdded":
        doc["statements"] = [*doc["statements"], {"id": s["id"], "at": at, "text": s["text"]}]
    elif event == "CommitmentSigned":
        doc["commitments"] = [*doc.get("commitments", []), {"id": s["id"], "at": at, "text": s["text"]}]
    elif event in ("RepairApplied", "DeferralApplied"):
        application = {"kind": "repair" if event == "RepairApplied" else "deferral", "filed_at": at,
                       "deadline": attrs["deadline"], "reason": s["reason"], "decided": None}
        application.update({k: s[k] for k in ("method", "commitment_id", "until") if k in s})
        doc["applications"] = {**doc.get("applications", {}), s["id"]: application}
    elif event in ("RepairDecided", "DeferralDecided"):
        app = doc["applications"][s["application_id"]]
        decided = {"at": at, "outcome": s["outcome"], "reason": s["reason"], "by_statement": s["id"]}
        if s["outcome"] == "granted" and event == "DeferralDecided":
            decided["until"] = s.get("until", app["until"])
            doc["deferred_until"] = decided["until"]
        if s["outcome"] == "granted" and event == "RepairDecided":
            doc["repaired"] = {"at": at, "method": app["method"], "by_statement": s["id"]}
        doc["applications"] = {**doc["applications"], s["application_id"]: {**app, "decided": decided}}
    else:
        raise ValueError(f"unknown record event {event}")
    return doc





def is_resident(doc: Doc) -> bool:
    """The record's subject is a resident (not an organisation)."""
    return doc.get("subject_type", "resident") == "resident"


def reference_only(doc: Doc) -> bool:
    """The record came from another source (the financial credit database, a market credit agency): it is
    shown for reference only and never on a public list."""
    return bool(doc.get("source"))


def disputed(doc: Doc) -> bool:
    """An objection is open."""
    return any(o["resolved"] is None for o in doc["objections"].values())


def status(doc: Doc, today: str) -> str:
    """``revoked``, ``repaired``, ``expired``, ``disputed`` or ``active`` on ``today`` (ISO date)."""
    if doc["revoked"] is not None:
        return "revoked"
    if doc["repaired"] is not None:
        return "repaired"
    if doc["expires_on"] is not None and today >= doc["expires_on"]:
        return "expired"
    if disputed(doc):
        return "disputed"
    return "active"


def shareable(doc: Doc, today: str) -> bool:
    """Shared with departments by query on ``today``: not expired, repaired or revoked."""
    return status(doc, today) in ("active", "disputed")
