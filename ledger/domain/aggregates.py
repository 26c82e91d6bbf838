"""Aggregates: the authority (departments, keys, catalogue versions) and each credit record.

Every event carries the exact signed entry: the statement's canonical JSON text, the key id, the
signature and the time the ledger recorded it. Event bodies only apply values already decided by
the command methods, which check the rules; no clock, key look-up or I/O runs in an event body.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import orjson
from eventsourcing.domain import Aggregate, event

from keys import KeyRegistry, key_id_for, public_key_from_b64, public_key_problem
from ledger.domain import record_doc, rules
from ledger.domain.catalogue import Catalogue, Item, parse_catalogue
from ledger.format.identifiers import age_on
from ledger.domain.registry_changes import apply_authority_statement
from ledger.domain.screen import refuse_personal_data
from ledger.domain.topics import register_legacy
from ledger.errors import ConflictError, ForbiddenError, RuleError, ValidationError
from ledger.format.statements import CORRECTABLE, SCHEMAS, Statement, format_datetime, parse_date

AUTHORITY_ID = uuid5(NAMESPACE_URL, "urn:credit-ledger:authority")


def _values(statement: str) -> dict[str, Any]:
    return orjson.loads(statement)


class EntryEvent(Aggregate.Event):
    """Fields every ledger event carries: the signed statement and when it was recorded."""

    statement: str
    key_id: str
    signature: str
    recorded_at: str


class Authority(Aggregate):
    """The root of trust: registered departments, their keys and the published catalogues."""

    class Founded(Aggregate.Created):
        statement: str
        key_id: str
        signature: str
        recorded_at: str

    class DepartmentRegistered(EntryEvent):
        pass

    class KeyAdded(EntryEvent):
        pass

    class KeyRevoked(EntryEvent):
        pass

    class CataloguePublished(EntryEvent):
        pass

    @event(Founded)
    def __init__(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self.registry = KeyRegistry()
        self.catalogues: dict[int, Catalogue] = {}
        self.authority_code: str = ""
        self._register(_values(statement))

    def _register(self, s: dict[str, Any]) -> None:
        dept = apply_authority_statement(self.registry, "department.registered", s)
        if dept is not None and "authority" in dept.roles and not self.authority_code:
            self.authority_code = dept.code

    @property
    def catalogue(self) -> Catalogue | None:
        """The latest published catalogue."""
        return self.catalogues[max(self.catalogues)] if self.catalogues else None

    def authority_has_key(self) -> bool:
        """True once the authority department has a registered key."""
        return any(k.department == self.authority_code for k in self.registry.keys.values())

    @event(DepartmentRegistered)
    def _department_registered(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self._register(_values(statement))

    @event(KeyAdded)
    def _key_added(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        apply_authority_statement(self.registry, "key.added", _values(statement))

    @event(KeyRevoked)
    def _key_revoked(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        apply_authority_statement(self.registry, "key.revoked", _values(statement))

    @event(CataloguePublished)
    def _catalogue_published(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        s = _values(statement)
        self.catalogues[s["version"]] = parse_catalogue(s["catalogue"])

    # Commands: check, then trigger.

    def decide(self, stmt: Statement, entry: dict[str, str]) -> None:
        """Apply an authority statement after checking it against the current state."""
        v = stmt.values
        if stmt.type == "department.registered":
            for item in v["items"]:
                if self.catalogue is not None and item not in self.catalogue.items:
                    raise ValidationError(f"items: catalogue v{self.catalogue.version} has no item {item!r}")
            self._department_registered(**entry)
        elif stmt.type == "key.added":
            if v["department"] not in self.registry.departments:
                raise RuleError(f"department {v['department']} is not registered")
            try:
                raw = public_key_from_b64(v["public_key"])
            except ValueError as exc:
                raise ValidationError(f"public_key: {exc}") from None
            if key_id_for(raw) != v["key_id"]:
                raise ValidationError("key_id does not match public_key (it is derived from the key)")
            weak = public_key_problem(raw)
            if weak is not None:
                raise ValidationError(f"public_key: {weak}")
            if v["key_id"] in self.registry.keys:
                raise ConflictError(f"key {v['key_id']} is already registered")
            self._key_added(**entry)
        elif stmt.type == "key.revoked":
            record = self.registry.keys.get(v["key_id"])
            if record is None:
                raise RuleError(f"key {v['key_id']} is not registered")
            if record.revoked_at is not None:
                raise ConflictError(f"key {v['key_id']} is already revoked")
            self._key_revoked(**entry)
        elif stmt.type == "catalogue.published":
            current = self.catalogue
            if current is not None and v["version"] <= current.version:
                raise ConflictError(f"catalogue version must be above {current.version}")
            if v["catalogue"].get("version") != v["version"]:
                raise ValidationError("catalogue.version must equal the statement's version")
            parse_catalogue(v["catalogue"])
            self._catalogue_published(**entry)
        else:  # pragma: no cover - routed by the ledger
            raise ValidationError(f"{stmt.type} is not an authority statement")


class CreditRecord(Aggregate):
    """One record in a person's archive, with its whole lifecycle (state: ``record_doc``)."""

    class Submitted(Aggregate.Created):
        statement: str
        key_id: str
        signature: str
        recorded_at: str
        catalogue_version: int
        item: dict[str, Any]
        expires_on: str | None

    class Corrected(EntryEvent):
        expires_on: str | None
        public_until: str | None

    class Disclosed(EntryEvent):
        public_until: str
        period_months: int | None

    class DisclosureWithdrawn(EntryEvent):
        pass

    class Repaired(EntryEvent):
        pass

    class Revoked(EntryEvent):
        pass

    class ObjectionFiled(EntryEvent):
        deadline: str

    class ObjectionResolved(EntryEvent):
        pass

    class StatementAdded(EntryEvent):
        pass

    @event(Submitted)
    def __init__(self, statement: str, key_id: str, signature: str, recorded_at: str, catalogue_version: int,
                 item: dict[str, Any], expires_on: str | None) -> None:
        self.doc = record_doc.reduce(None, "Submitted", _values(statement),
                                     {"recorded_at": recorded_at, "item": item, "expires_on": expires_on})

    def _apply(self, name: str, statement: str, recorded_at: str, **attrs: Any) -> None:
        self.doc = record_doc.reduce(self.doc, name, _values(statement), {"recorded_at": recorded_at, **attrs})

    @property
    def issuer(self) -> str:
        return self.doc["issuer"]

    @property
    def subject(self) -> str:
        return self.doc["subject"]

    @property
    def fields(self) -> dict[str, Any]:
        return self.doc["fields"]

    @property
    def history(self) -> list[dict[str, Any]]:
        return [v["fields"] for v in self.doc["versions"]]

    @property
    def disclosure(self) -> dict[str, Any] | None:
        return self.doc["disclosure"]

    @property
    def repaired(self) -> bool:
        return self.doc["repaired"] is not None

    @property
    def revoked(self) -> bool:
        return self.doc["revoked"] is not None

    @property
    def objections(self) -> dict[str, dict[str, Any]]:
        return self.doc["objections"]

    @property
    def disputed(self) -> bool:
        """True while an objection is open."""
        return record_doc.disputed(self.doc)

    @event(Corrected)
    def _corrected(self, statement: str, key_id: str, signature: str, recorded_at: str,
                   expires_on: str | None, public_until: str | None) -> None:
        self._apply("Corrected", statement, recorded_at, expires_on=expires_on, public_until=public_until)

    @event(Disclosed)
    def _disclosed(self, statement: str, key_id: str, signature: str, recorded_at: str, public_until: str,
                   period_months: int | None) -> None:
        self._apply("Disclosed", statement, recorded_at, public_until=public_until, period_months=period_months)

    @event(DisclosureWithdrawn)
    def _disclosure_withdrawn(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self._apply("DisclosureWithdrawn", statement, recorded_at)

    @event(Repaired)
    def _repaired(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self._apply("Repaired", statement, recorded_at)

    @event(Revoked)
    def _revoked(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self._apply("Revoked", statement, recorded_at)

    @event(ObjectionFiled)
    def _objection_filed(self, statement: str, key_id: str, signature: str, recorded_at: str, deadline: str) -> None:
        self._apply("ObjectionFiled", statement, recorded_at, deadline=deadline)

    @event(ObjectionResolved)
    def _objection_resolved(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self._apply("ObjectionResolved", statement, recorded_at)

    @event(StatementAdded)
    def _statement_added(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self._apply("StatementAdded", statement, recorded_at)

    # Commands: each checks the rules for its statement type, then triggers one event.

    def _own(self, stmt: Statement, action: str) -> None:
        if stmt.issuer != self.issuer:  # (which department submitted it is not told to others)
            raise ForbiddenError(f"only the department that submitted this record may {action} it")
        if self.revoked:
            raise RuleError("the record was revoked; it can no longer change")

    def decide(self, stmt: Statement, entry: dict[str, str], catalogue: Catalogue) -> None:
        """Check a lifecycle statement against this record and apply it."""
        v = stmt.values
        today = stmt.issued_at.date()
        item = catalogue.items.get(self.doc["item"]) or _missing_item(self.doc["item"])
        if stmt.type == "record.corrected":
            self._own(stmt, "correct")
            if v["record_version"] != self.version:
                raise ConflictError(
                    f"record is at version {self.version}, the correction was based on version {v['record_version']}"
                )
            check_changes(v["changes"], item, catalogue)
            merged = {**self.fields, **v["changes"]}
            check_record_dates(merged, today)
            check_valid_until(merged, item, catalogue)
            public_until = None
            if self.disclosure is not None:
                public_until = disclosure_until(merged, item, self.disclosure["list"],
                                                self.disclosure.get("period_months"), catalogue).isoformat()
            self._corrected(**entry, expires_on=expires_on(merged, item, catalogue), public_until=public_until)
        elif stmt.type == "record.disclosed":
            self._own(stmt, "disclose")
            if self.repaired:
                raise RuleError("a repaired record is no longer disclosed")
            if item.listing != v["list"]:
                raise RuleError(f"catalogue item {item.code} is not a {v['list']}-list item")
            if self.disclosure is not None:
                raise ConflictError("the record is already disclosed; withdraw the disclosure first")
            if age_on(self.subject, today) < 18:
                raise RuleError("minors are never put on a public list (the subject is under 18)")
            names = {self.fields["subject_name"], *(h["subject_name"] for h in self.history if "subject_name" in h)}
            refuse_personal_data(v, sorted(names))
            months = check_disclosure(item, v, catalogue, today)
            until = disclosure_until(self.fields, item, v["list"], months, catalogue)
            self._disclosed(**entry, public_until=until.isoformat(), period_months=months)
        elif stmt.type == "record.disclosure_withdrawn":
            self._own(stmt, "withdraw the disclosure of")
            if self.disclosure is None:
                raise RuleError("the record is not disclosed")
            self._disclosure_withdrawn(**entry)
        elif stmt.type == "record.repaired":
            self._own(stmt, "repair")
            if item.kind != "negative":
                raise RuleError("only untrustworthy (negative) records are repaired")
            if self.repaired:
                raise ConflictError("the record is already repaired")
            if v["method"] not in catalogue.repair_methods:
                raise ValidationError("method: must be one of " + ", ".join(catalogue.repair_methods))
            min_months, _ = catalogue.period_months(item.severity or "minor")
            allowed = rules.repair_allowed_from(parse_date(self.fields["decision_date"]), min_months)
            if today < allowed:
                raise RuleError(
                    f"repair is possible only after the minimum disclosure period of {min_months} months, "
                    f"from {allowed.isoformat()}"
                )
            self._repaired(**entry)
        elif stmt.type == "record.revoked":
            self._own(stmt, "revoke")
            self._revoked(**entry)
        elif stmt.type == "objection.filed":
            if v["subject"] != self.subject:
                raise RuleError("the objection's subject is not the record's subject")
            if self.revoked:
                raise RuleError("the record was revoked; there is nothing to object to")
            days = catalogue.objection_days["with_verification" if v.get("needs_verification") else "alone"]
            self._objection_filed(**entry, deadline=rules.add_working_days(today, days).isoformat())
        elif stmt.type == "objection.resolved":
            self._own(stmt, "resolve objections to")
            objection = self.objections.get(str(v["objection_id"]))
            if objection is None:
                raise RuleError(f"no objection {v['objection_id']} on this record")
            if objection["resolved"] is not None:
                raise ConflictError("the objection is already resolved")
            self._objection_resolved(**entry)
        elif stmt.type == "statement.added":
            if v["subject"] != self.subject:
                raise RuleError("the statement's subject is not the record's subject")
            self._statement_added(**entry)
        else:  # pragma: no cover - routed by the ledger
            raise ValidationError(f"{stmt.type} is not a record lifecycle statement")


class Query(Aggregate):
    """A query of personal data, recorded before any data is returned, with the ledger's decision."""

    class Requested(Aggregate.Created):
        statement: str
        key_id: str
        signature: str
        recorded_at: str
        outcome: dict[str, Any]

    @event(Requested)
    def __init__(self, statement: str, key_id: str, signature: str, recorded_at: str, outcome: dict[str, Any]) -> None:
        self.outcome = outcome


def item_snapshot(item: Item, catalogue: Catalogue) -> dict[str, Any]:
    """The catalogue facts about an item that views need, frozen into the Submitted event."""
    field_info = catalogue.fields.get(item.field or "", {})
    return {
        "code": item.code, "kind": item.kind, "severity": item.severity, "field": item.field,
        "listing": item.listing, "publishable": item.publishable, "title": item.title,
        "key_supervision": bool(field_info.get("key_supervision", False)), "version": catalogue.version,
    }


def expires_on(fields: dict[str, Any], item: Item, catalogue: Catalogue) -> str | None:
    """When the record stops being shared (negative: the severity's maximum period, capped at five years
    after the behaviour ended; positive with a validity: its end; otherwise never)."""
    decision = parse_date(fields["decision_date"])
    if item.kind == "negative":
        _, hi = catalogue.period_months(item.severity or "minor")
        end = parse_date(fields["behaviour_end"]) if fields.get("behaviour_end") else None
        return rules.public_until(decision, hi, end, catalogue.behaviour_cap_years).isoformat()
    if item.kind == "positive" and (fields.get("valid_until") or item.validity_months):
        if fields.get("valid_until"):
            return str(fields["valid_until"])
        return rules.add_months(decision, item.validity_months or 0).isoformat()
    return None


def _missing_item(code: str) -> Item:
    raise RuleError(f"the record's catalogue item {code} is not in the current catalogue")


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
        ok = {
            "string": isinstance(value, str) and 0 < len(value) <= 500,
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "date": isinstance(value, str),
        }[kind]
        if ok and kind == "date":
            parse_date(value)
        if not ok:
            raise ValidationError(f"details: {name} must be a {kind}")


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


def check_record_dates(fields: dict[str, Any], today: date) -> None:
    """Decision and behaviour dates may not lie after the statement's issue date."""
    for name in ("decision_date", "behaviour_end"):
        if name in fields and parse_date(fields[name]) > today:
            raise ValidationError(f"{name}: {fields[name]} lies after the statement's issue date")


def check_changes(changes: dict[str, Any], item: Item, catalogue: Catalogue) -> None:
    """A correction changes only correctable fields, each valid by the submission schema."""
    if not changes:
        raise ValidationError("changes: must change at least one field")
    required, optional = SCHEMAS["record.submitted"]
    for name, value in changes.items():
        if name not in CORRECTABLE:
            raise ValidationError(f"changes: {name} cannot be corrected (correctable: {', '.join(CORRECTABLE)})")
        if name == "details":
            check_details(value, item, catalogue)
        else:
            try:
                (required.get(name) or optional[name])(value)
            except ValidationError as exc:
                raise ValidationError(f"changes.{name}: {exc}") from None


def check_disclosure(item: Item, v: dict[str, Any], catalogue: Catalogue, today: date) -> int | None:
    """Check a disclosure's preconditions; return the period in months (black list) or None (red)."""
    if v["list"] != "black":
        return None
    served = v.get("notice_served_at")
    if served is None:
        raise RuleError("a black-list disclosure needs notice_served_at: the subject must be notified first")
    if served > today:
        raise ValidationError("notice_served_at lies after the statement's issue date")
    lo, hi = catalogue.period_months(item.severity or "serious")
    months = v.get("period_months", hi)
    if not lo <= months <= hi:
        raise RuleError(f"period_months for {item.severity} records must be from {lo} to {hi}")
    return months


def disclosure_until(fields: dict[str, Any], item: Item, listing: str, months: int | None, catalogue: Catalogue) -> date:
    """Last day (exclusive) of publication for a disclosure on ``listing``."""
    decision = parse_date(fields["decision_date"])
    if listing == "black":
        end = parse_date(fields["behaviour_end"]) if fields.get("behaviour_end") else None
        return rules.public_until(decision, months or 0, end, catalogue.behaviour_cap_years)
    if fields.get("valid_until"):
        return parse_date(fields["valid_until"])
    return rules.add_months(decision, item.validity_months or 0)


def entry_fields(stmt: Statement, key_id: str, signature: str, recorded_at: datetime) -> dict[str, str]:
    """The attributes every event stores: canonical statement text, key id, signature, time."""
    return {
        "statement": stmt.canonical.decode("utf-8"),
        "key_id": key_id,
        "signature": signature,
        "recorded_at": format_datetime(recorded_at),
    }




register_legacy(Authority, CreditRecord, Query)
