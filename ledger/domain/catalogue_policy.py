"""What the catalogue says about an item: who may report it, what a record of it holds, how long it is shared
and shown, when it may be repaired, how long an objection to it may take. Pure.

``ledger.domain.catalogue`` parses and holds a catalogue version; the functions here read one to decide
about a statement. Each takes the catalogue (and the item) it decides by, and the dates it needs: none
reads a clock, so a replay of the same statements decides the same way. A refusal raises the
``ledger.errors`` problem the ledger answers with.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from keys import Department
from ledger.domain import rules
from ledger.domain.catalogue import Catalogue, Item
from ledger.errors import ForbiddenError, RuleError, ValidationError
from ledger.format.identifiers import age_on
from ledger.format.statements import parse_date, subject_is_resident

_DETAIL_CHECKS = {
    "string": lambda value: isinstance(value, str) and 0 < len(value) <= 500,
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "boolean": lambda value: isinstance(value, bool),
    "date": lambda value: isinstance(value, str),
}


# Departments and items.

def check_items_known(catalogue: Catalogue | None, items: Iterable[str]) -> None:
    """A department is registered for items the catalogue in force has (any, before the first catalogue)."""
    if catalogue is None:
        return
    for code in items:
        if code not in catalogue.items:
            raise ValidationError(f"items: catalogue v{catalogue.version} has no item {code!r}")


def reportable_item(catalogue: Catalogue, code: str, department: Department) -> Item:
    """The item a department submits a record of: in the catalogue, one the department is registered for,
    collected by regulation, and not a subject's own statement."""
    item = catalogue.item(code)
    if item.code not in department.items:
        raise ForbiddenError(f"department {department.code} may not submit records of catalogue item {item.code}")
    if not item.collectable:
        raise RuleError(f"catalogue item {item.code} is not collected (not recorded by regulation)")
    if item.kind == "statement":
        raise RuleError("a subject's statement is added with statement.added")
    return item


def record_item(catalogue: Catalogue, code: str) -> Item:
    """The catalogue item of an existing record, which every change to the record is decided by."""
    item = catalogue.items.get(code)
    if item is None:
        raise RuleError(f"the record's catalogue item {code} is not in the current catalogue")
    return item


def item_snapshot(item: Item, catalogue: Catalogue) -> dict[str, Any]:
    """The catalogue facts about an item that views need, frozen into the Submitted event."""
    field_info = catalogue.fields.get(item.field or "", {})
    return {
        "code": item.code, "kind": item.kind, "severity": item.severity, "field": item.field,
        "listing": item.listing, "publishable": item.publishable, "title": item.title,
        "key_supervision": bool(field_info.get("key_supervision", False)), "version": catalogue.version,
    }


# What a record of an item holds.

def check_details(details: Any, item: Item, catalogue: Catalogue) -> None:
    """Refuse detail fields outside the item's schema (never-collected ones named as such)."""
    if not isinstance(details, dict):
        raise ValidationError("details: must be a JSON object")
    for name, value in details.items():
        if name in catalogue.never_collected:
            raise ValidationError(f"details: {name} is never collected (Shandong regulation art. 42)")
        kind = item.details.get(name)
        if kind is None:
            allowed = ", ".join(sorted(item.details)) or "none"
            raise ValidationError(f"details: {name} is not a field of catalogue item {item.code} (allowed: {allowed})")
        if not _DETAIL_CHECKS[kind](value):
            raise ValidationError(f"details: {name} must be a {kind}")
        if kind == "date":
            parse_date(value)
    group = details.get("occupational_group")
    if group is not None and catalogue.occupational_groups and group not in catalogue.occupational_groups:
        raise ValidationError(f"details: occupational_group {group!r} is not one of catalogue v{catalogue.version}'s "
                              "groups (" + ", ".join(sorted(catalogue.occupational_groups)) + ")")


# Who a record is about, and where it comes from.

def check_subject(values: dict[str, Any], item: Item) -> None:
    """The subject is of the type the statement says (a resident unless ``subject_type`` says organisation: a
    resident ID, or a unified social credit code), and of a type the item is about."""
    kind = values.get("subject_type", "resident")
    if subject_is_resident(values["subject"]) != (kind == "resident"):
        raise ValidationError("subject: " + ("is not a resident ID; an organisation's record has subject_type "
                                             "organisation" if kind == "resident" else
                                             "is not a unified social credit code"))
    if kind not in item.subjects:
        raise RuleError(f"catalogue item {item.code} is about {' and '.join(s + 's' for s in item.subjects)} only, "
                        f"not {kind}s")


def check_adult(values: dict[str, Any], item: Item) -> None:
    """Items of adult students' archives (``adults_only``) are refused for a subject under 18 on the day the
    behaviour ended (the decision date, when the record gives none)."""
    if not item.adults_only:
        return
    day = values.get("behaviour_end") or values["decision_date"]
    if age_on(values["subject"], day) < 18:
        raise RuleError(f"catalogue item {item.code} is recorded only for adults; the subject was under 18 on "
                        f"{day.isoformat()}")


def check_source(values: dict[str, Any], catalogue: Catalogue, adopted: dict[str, Any] | None) -> None:
    """A record from another source names one of the catalogue's ``external_sources``; a record adopting one
    (``adopts``) is a department's own, about the same subject, of a record from another source not revoked."""
    source = values.get("source")
    if source is not None and source not in catalogue.external_sources:
        known = ", ".join(catalogue.external_sources) or "none"
        raise ValidationError(f"source: catalogue v{catalogue.version} knows no source {source!r} (known: {known})")
    if "source_reference" in values and source is None:
        raise ValidationError("source_reference: only a record from another source has one")
    if "adopts" not in values:
        return
    if source is not None:
        raise ValidationError("adopts: a record from another source cannot adopt one; the adopting record is the "
                              "department's own")
    # One answer for every failing reason: a refusal is in no one's access log, so it must not tell a department
    # whether the record it names is about the person it guessed, or what it is.
    if (adopted is None or adopted["subject"] != values["subject"] or not adopted.get("source")
            or adopted["revoked"] is not None):
        raise RuleError(f"adopts: {values['adopts']} is not a record from another source about this subject that "
                        "is still in force; query the subject's archive for the records it holds")


def check_validity_allowed(fields: dict[str, Any], item: Item) -> None:
    """Only a positive record states a ``valid_until``."""
    if "valid_until" in fields and item.kind != "positive":
        raise ValidationError("valid_until: only positive records have a validity period")


def check_valid_until(fields: dict[str, Any], item: Item, catalogue: Catalogue) -> None:
    """A positive record's ``valid_until`` lies after its decision date and within the catalogue's bound: the
    item's validity period, or the catalogue's cap in years for items without one."""
    if not fields.get("valid_until"):
        return
    decision, until = parse_date(fields["decision_date"]), parse_date(fields["valid_until"])
    months = item.validity_months or 12 * catalogue.behaviour_cap_years
    latest = rules.add_months(decision, months)
    if not decision < until <= latest:
        raise ValidationError(f"valid_until: must lie after the decision date and at most {months} months after it "
                              f"(catalogue item {item.code}), by {latest.isoformat()}")


# How long a record is shared and shown.

def _behaviour_end(fields: dict[str, Any]) -> date | None:
    return parse_date(fields["behaviour_end"]) if fields.get("behaviour_end") else None


def expires_on(fields: dict[str, Any], item: Item, catalogue: Catalogue) -> str | None:
    """When the record stops being shared (negative: the severity's maximum period, capped at five years
    after the behaviour ended; positive with a validity: its end; otherwise never)."""
    decision = parse_date(fields["decision_date"])
    if item.kind == "negative":
        _, hi = catalogue.period_months(item.severity or "minor")
        return rules.public_until(decision, hi, _behaviour_end(fields), catalogue.behaviour_cap_years).isoformat()
    if item.kind == "positive" and (fields.get("valid_until") or item.validity_months):
        if fields.get("valid_until"):
            return str(fields["valid_until"])
        return rules.add_months(decision, item.validity_months or 0).isoformat()
    return None


def check_listing(item: Item, listing: str) -> None:
    """A record is disclosed only on the list its catalogue item belongs to."""
    if item.listing != listing:
        raise RuleError(f"catalogue item {item.code} is not a {listing}-list item")


def black_list_months(item: Item, requested: int | None, catalogue: Catalogue) -> int:
    """The disclosure period of a black-list record: the one requested, by default the severity's maximum,
    within the severity's bounds."""
    lo, hi = catalogue.period_months(item.severity or "serious")
    months = hi if requested is None else requested
    if not lo <= months <= hi:
        raise RuleError(f"period_months for {item.severity} records must be from {lo} to {hi}")
    return months


def disclosure_until(fields: dict[str, Any], item: Item, listing: str, months: int | None,
                     catalogue: Catalogue) -> date:
    """Last day (exclusive) of publication for a disclosure on ``listing``."""
    decision = parse_date(fields["decision_date"])
    if listing == "black":
        return rules.public_until(decision, months or 0, _behaviour_end(fields), catalogue.behaviour_cap_years)
    if fields.get("valid_until"):
        return parse_date(fields["valid_until"])
    return rules.add_months(decision, item.validity_months or 0)


# Repairs and objections.

def check_repairable(item: Item) -> None:
    """Only records of untrustworthy behaviour are repaired."""
    if item.kind != "negative":
        raise RuleError("only untrustworthy (negative) records are repaired")


def check_repair_method(method: str, catalogue: Catalogue) -> None:
    """A repair names one of the catalogue's repair methods."""
    if method not in catalogue.repair_methods:
        raise ValidationError("method: must be one of " + ", ".join(catalogue.repair_methods))


def check_repair_due(fields: dict[str, Any], item: Item, catalogue: Catalogue, today: date) -> None:
    """A repair is granted only once the severity's minimum disclosure period after the decision has passed."""
    min_months, _ = catalogue.period_months(item.severity or "minor")
    allowed = rules.repair_allowed_from(parse_date(fields["decision_date"]), min_months)
    if today < allowed:
        raise RuleError(
            f"repair is possible only after the minimum disclosure period of {min_months} months, "
            f"from {allowed.isoformat()}"
        )


def objection_deadline(catalogue: Catalogue, filed_on: date, needs_verification: bool) -> date:
    """The day by which an objection filed on ``filed_on`` is to be answered (more working days when the
    facts need verifying)."""
    days = catalogue.objection_days["with_verification" if needs_verification else "alone"]
    return rules.add_working_days(filed_on, days)
