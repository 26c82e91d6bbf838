"""Joint incentive and punishment measures (联合奖惩措施) in a catalogue: their form and their check. Pure.

A catalogue from version 2 on lists ``measures``. Each has an ``id``, a ``kind`` (``incentive`` or
``punishment``), its wording (``title``, ``wording`` and their ``_zh`` forms), its ``legal_basis``, the
``departments`` that apply it (``"*"``: any department registered for one of its purposes; else a list of
department codes) and the query ``purposes`` it is applied for, and a ``trigger``: ``records`` (a shareable
record matching every condition given: ``kind``, ``severities``, ``items``, ``fields``, ``key_supervision``
(its field is under key supervision in this catalogue), ``disclosed`` (on that list on the day)) and/or
``flags`` (each flag of the archive true: ``green_channel``, ``key_supervision``). Both, when both are given.
From version 3, ``reaches_responsible_persons: true`` marks a punishment that also reaches the persons responsible
for an organisation when the organisation's record triggers it (落实到人).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.errors import ValidationError

KINDS = ("incentive", "punishment")
FLAGS = ("green_channel", "key_supervision")
RECORD_CONDITIONS = ("kind", "severities", "items", "fields", "key_supervision", "disclosed")


@dataclass(frozen=True)
class Measure:
    """One measure of a catalogue."""

    id: str
    kind: str
    title: str
    wording: str
    legal_basis: str
    departments: tuple[str, ...] | None  # None: any department registered for one of the purposes
    purposes: tuple[str, ...]
    records: dict[str, Any] | None
    flags: tuple[str, ...]
    raw: dict[str, Any]
    reaches_responsible_persons: bool = False

    def applies_to(self, department: str, purposes: frozenset[str] | set[str]) -> bool:
        """Whether a department (its code and registered purposes) applies this measure."""
        if self.departments is not None and department not in self.departments:
            return False
        return bool(set(self.purposes) & set(purposes))


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValidationError(f"{what} must be a non-empty list of strings")
    if len(set(value)) != len(value):
        raise ValidationError(f"{what} repeats an element")
    return tuple(value)


def parse_measures(raw: Any, items: dict[str, Any], fields: dict[str, Any], purposes: dict[str, Any],
                   severities: set[str], kinds: set[str]) -> dict[str, Measure]:
    """The catalogue's measures by id, each checked against its items, fields, purposes and severities."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ValidationError("catalogue measures must be a list")
    out: dict[str, Measure] = {}
    for m in raw:
        if not isinstance(m, dict) or not isinstance(m.get("id"), str) or not m["id"]:
            raise ValidationError("every catalogue measure is an object with an id")
        try:
            out_m = _measure(m, items, fields, purposes, severities, kinds)
        except ValidationError as exc:
            raise ValidationError(f"catalogue measure {m['id']}: {exc}") from None
        if out_m.id in out:
            raise ValidationError(f"catalogue measure {out_m.id}: duplicate id")
        out[out_m.id] = out_m
    return out


def _measure(m: dict[str, Any], items: dict[str, Any], fields: dict[str, Any], purposes: dict[str, Any],
             severities: set[str], kinds: set[str]) -> Measure:
    if len(m["id"]) > 64:
        raise ValidationError("id is longer than 64 characters")
    if m.get("kind") not in KINDS:
        raise ValidationError("kind must be incentive or punishment")
    for name in ("title", "wording", "legal_basis"):
        if not isinstance(m.get(name), str) or not m[name].strip():
            raise ValidationError(f"{name} must be a non-empty string")
    departments = None if m.get("departments") == "*" else _strings(m.get("departments"), "departments ('*' or codes)")
    wanted = _strings(m.get("purposes"), "purposes")
    unknown = [p for p in wanted if p not in purposes]
    if unknown:
        raise ValidationError(f"unknown purpose(s) {', '.join(unknown)}")
    trigger = m.get("trigger")
    if not isinstance(trigger, dict) or not trigger or set(trigger) - {"records", "flags"}:
        raise ValidationError("trigger must be an object with records and/or flags")
    flags = _strings(trigger["flags"], "trigger.flags") if "flags" in trigger else ()
    if set(flags) - set(FLAGS):
        raise ValidationError("trigger.flags must be among " + ", ".join(FLAGS))
    records = trigger.get("records")
    if records is not None:
        _check_records(records, items, fields, severities, kinds)
    return Measure(id=m["id"], kind=m["kind"], title=m["title"], wording=m["wording"], legal_basis=m["legal_basis"],
                   departments=departments, purposes=wanted, records=records, flags=flags, raw=m,
                   reaches_responsible_persons=_reaches(m))


def _reaches(m: dict[str, Any]) -> bool:
    value = m.get("reaches_responsible_persons", False)
    if not isinstance(value, bool):
        raise ValidationError("reaches_responsible_persons must be true or false")
    return value


def _check_records(cond: Any, items: dict[str, Any], fields: dict[str, Any], severities: set[str],
                   kinds: set[str]) -> None:
    if not isinstance(cond, dict) or set(cond) - set(RECORD_CONDITIONS):
        raise ValidationError("trigger.records may hold only " + ", ".join(RECORD_CONDITIONS))
    if "kind" in cond and cond["kind"] not in kinds:
        raise ValidationError(f"trigger.records.kind {cond['kind']!r} is not a kind of the catalogue")
    for name, known in (("severities", severities), ("items", items), ("fields", fields)):
        if name in cond:
            unknown = [v for v in _strings(cond[name], f"trigger.records.{name}") if v not in known]
            if unknown:
                raise ValidationError(f"trigger.records.{name}: unknown {', '.join(unknown)}")
    if "key_supervision" in cond and cond["key_supervision"] is not True:
        raise ValidationError("trigger.records.key_supervision can only be true")
    if "disclosed" in cond and cond["disclosed"] not in ("black", "red"):
        raise ValidationError("trigger.records.disclosed must be black or red")
