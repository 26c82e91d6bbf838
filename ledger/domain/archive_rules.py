"""Reading a person's archive on a given day: statuses, integrity points, grade and flags. Pure.

Points (诚信积分, exploratory in the source policy) follow the catalogue's ``points`` rule: a base, plus
a fixed amount for every record that is shareable on the day (not expired, repaired or revoked):
negative records by severity, positive records by one amount. Every point is listed with the record
it comes from. The grade is the first threshold the total reaches.

Flags: ``green_channel`` (绿色通道): no shareable negative record decided in the last N years (N from
the catalogue, 3); ``key_supervision`` (重点监管): a shareable serious negative record in a field the
catalogue marks for key supervision. Neither is ever public.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from ledger.domain import record_doc, rules, screen
from ledger.format.identifiers import age_on, mask_name, mask_resident_id


def summarize(docs: list[dict[str, Any]], today: date, points_rule: dict[str, Any]) -> dict[str, Any]:
    """The archive view of one subject's records on ``today``."""
    day = today.isoformat()
    records = []
    contributions = []
    total = int(points_rule["base"])
    green_since = rules.add_years(today, -int(points_rule.get("green_channel_years", 3))).isoformat()
    green = True
    key_supervision = False
    for doc in sorted(docs, key=lambda d: (d["fields"].get("decision_date", ""), d["record_id"])):
        state = record_doc.status(doc, day)
        cat = doc["catalogue"]
        objections = [
            {"id": oid, **o, "overdue": o["resolved"] is None and day > o["deadline"]}
            for oid, o in doc["objections"].items()
        ]
        shown = {**doc, "status": state, "objections": objections}
        if record_doc.reference_only(doc):
            shown["reference_only"] = True
        records.append(shown)
        if not record_doc.shareable(doc, day) or record_doc.reference_only(doc):
            continue
        if cat["kind"] == "negative":
            delta = int(points_rule["negative"][cat["severity"]])
            if doc["fields"]["decision_date"] >= green_since:
                green = False
            if cat["severity"] == "serious" and cat.get("key_supervision"):
                key_supervision = True
        elif cat["kind"] == "positive":
            delta = int(points_rule["positive"])
        else:
            continue
        total += delta
        contributions.append({"record_id": doc["record_id"], "item": doc["item"], "points": delta})
    grade = next(g["grade"] for g in points_rule["grades"] if g["min"] is None or total >= g["min"])
    return {
        "records": records,
        "points": {"base": int(points_rule["base"]), "total": total, "grade": grade, "from": contributions},
        "green_channel": green,
        "key_supervision": key_supervision,
        "as_of_day": day,
    }


def is_minor_at_listing(doc: dict[str, Any]) -> bool:
    """The subject was under 18 on the day the record was disclosed."""
    if not record_doc.is_resident(doc):
        return False
    disclosed = doc["disclosure"]["disclosed_at"][:10]
    return age_on(doc["subject"], date.fromisoformat(disclosed)) < 18


def behaviour_day(doc: dict[str, Any]) -> str:
    """The day a record's behaviour took place, as far as the record says: its end, or the decision date."""
    fields = doc["fields"]
    return str(fields.get("behaviour_end") or fields["decision_date"])


def responsible_for(person: str, tenures: list[dict[str, Any]], organisation_docs: list[dict[str, Any]],
                    today: date) -> list[dict[str, Any]]:
    """The organisations' records that reach ``person`` on ``today`` (落实到人): each shareable, serious, negative
    record of an organisation (not for reference only) whose behaviour took place while ``person`` held a role
    for it (``tenures``: ``ledger.domain.responsibility.tenure``), shown with its status and marked with the
    organisation and the role. A record leaves with its organisation's (repair, expiry, revocation)."""
    day = today.isoformat()
    out = []
    for doc in sorted(organisation_docs, key=lambda d: (d["fields"]["decision_date"], d["record_id"])):
        cat = doc["catalogue"]
        if (cat["kind"] != "negative" or cat.get("severity") != "serious" or record_doc.reference_only(doc)
                or not record_doc.shareable(doc, day)):
            continue
        when = behaviour_day(doc)
        for t in tenures:
            if (t["person"] == person and t["organisation"] == doc["subject"] and t["from"] <= when
                    and (t["until"] is None or when <= t["until"])):
                shown = {k: v for k, v in doc.items() if k != "versions"}
                out.append({**shown, "status": record_doc.status(doc, day), "arising_from": {
                    "organisation": t["organisation"], "organisation_name": t["organisation_name"],
                    "role": t["role"], "responsibility_id": t["id"]}})
                break
    return out


def public_entry(doc: dict[str, Any], authority_name: str, also_masked: Sequence[str] = ()) -> dict[str, Any]:
    """The masked public-list entry of a disclosed record (DOMAIN.md's public fields, nothing else).

    No text written for another audience reaches it: the reason is the catalogue item's wording, or the
    ``public_reason`` the department wrote for publication; never the record's ``summary``. Every text a
    department wrote (public reason, legal basis, document number, exit conditions, remedies) is passed
    through the personal-data screen, so what an older statement let through is masked here, on the
    live list and on an as-of replay alike. ``also_masked``: further names to mask (for an organisation's record,
    the persons responsible for it)."""
    d = doc["disclosure"]
    f = doc["fields"]
    names = [f["subject_name"], *(v["fields"].get("subject_name") for v in doc["versions"]), *also_masked]

    def public(text: str | None) -> str | None:
        return None if text is None else screen.mask(text, names)

    category = doc["catalogue"].get("title", doc["item"])
    return {
        "entry_id": doc["record_id"],
        "list": d["list"],
        "name": mask_name(f["subject_name"]),
        "id_number": mask_resident_id(doc["subject"]),
        "category": category,
        "reason": public(d.get("public_reason")) or category,
        "legal_basis": public(f["legal_basis"]),
        "authority": {"name": authority_name, "code": doc["issuer"]},
        "document_number": public(f["document_number"]),
        "decision_date": f["decision_date"],
        "public_until": d["public_until"],
        "exit_conditions": public(d.get("exit_conditions")),
        "remedies": public(d.get("remedies")),
    }
