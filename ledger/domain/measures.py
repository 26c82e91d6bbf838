"""Which joint incentive and punishment measures (联合奖惩措施) apply to a subject, for a department and purpose,
on a day. Pure: the subject's records as the archive computes them, its flags, the day and the catalogue in, the
applicable measures out, each with the records that trigger it.

A measure applies when the querying department is one the catalogue names for it (or any, ``"*"``), the query's
purpose is one of its purposes, and its trigger holds on the day (``ledger.domain.catalogue_measures``): for a
``records`` trigger, at least one shareable record (not expired, repaired or revoked on the day) matches, and the
measure lists every matching one; for ``flags``, each flag of the archive is true. A repaired, expired or revoked
record triggers nothing, so a measure it alone triggered disappears with it.
"""

from __future__ import annotations

from typing import Any

from ledger.domain import record_doc
from ledger.domain.catalogue import Catalogue
from ledger.domain.catalogue_measures import Measure


def matches(cond: dict[str, Any], doc: dict[str, Any], day: str, key_fields: frozenset[str]) -> bool:
    """Whether one record's document meets every condition of a ``records`` trigger on ``day``."""
    cat = doc["catalogue"]
    if "kind" in cond and cat.get("kind") != cond["kind"]:
        return False
    if "severities" in cond and cat.get("severity") not in cond["severities"]:
        return False
    if "items" in cond and doc["item"] not in cond["items"]:
        return False
    if "fields" in cond and cat.get("field") not in cond["fields"]:
        return False
    if cond.get("key_supervision") and cat.get("field") not in key_fields:
        return False
    if "disclosed" in cond:
        d = doc.get("disclosure")
        if d is None or d["list"] != cond["disclosed"] or d["public_until"] <= day:
            return False
    return True


def triggered(measure: Measure, records: list[dict[str, Any]], flags: dict[str, Any], day: str,
              key_fields: frozenset[str]) -> list[str] | None:
    """The ids of the records that trigger ``measure`` (an empty list for a flags-only trigger that holds), or
    None when it is not triggered."""
    if any(not flags.get(flag) for flag in measure.flags):
        return None
    if measure.records is None:
        return []
    cond = measure.records
    found = [doc["record_id"] for doc in records
             if _shareable(doc, day) and not record_doc.reference_only(doc) and matches(cond, doc, day, key_fields)]
    return sorted(found) or None


def _shareable(doc: dict[str, Any], day: str) -> bool:
    """Shareable on ``day``: by the status the archive gave it, or from the record's document."""
    if "status" in doc:
        return doc["status"] in ("active", "disputed")
    return record_doc.shareable(doc, day)


def applicable(catalogue: Catalogue, records: list[dict[str, Any]], flags: dict[str, Any], day: str,
               department: str, purpose: str, organisation_records: list[dict[str, Any]] | None = None,
               ) -> list[dict[str, Any]]:
    """The measures of ``catalogue`` that apply to the subject of ``records`` for ``department`` reading for
    ``purpose`` on ``day`` (ISO date): each with its id, kind, wording, legal basis and triggering record ids,
    punishments first, then by id. A measure that reaches responsible persons is also triggered by the records of
    organisations the subject was responsible for (``organisation_records``: ``archive_rules.responsible_for``),
    listed apart as ``via_organisations``."""
    key_fields = catalogue.key_supervised_fields()
    out = []
    for measure in (catalogue.measures or {}).values():
        if purpose not in measure.purposes or not measure.applies_to(department, {purpose}):
            continue
        ids = triggered(measure, records, flags, day, key_fields)
        via = None
        if measure.reaches_responsible_persons and organisation_records and measure.records is not None:
            via = triggered(measure, organisation_records, {}, day, key_fields) if not measure.flags else None
        if ids is None and via is None:
            continue
        raw = measure.raw
        out.append({
            "id": measure.id, "kind": measure.kind, "title": measure.title, "title_zh": raw.get("title_zh"),
            "wording": measure.wording, "wording_zh": raw.get("wording_zh"), "legal_basis": measure.legal_basis,
            "flags": list(measure.flags), "triggered_by": ids or [],
            **({"via_organisations": via} if via else {}),
        })
    out.sort(key=lambda m: (m["kind"] != "punishment", m["id"]))
    return out
