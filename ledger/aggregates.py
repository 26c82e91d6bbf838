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

from keys import Department, KeyRecord, KeyRegistry, key_id_for, public_key_from_b64
from ledger import rules
from ledger.catalogue import Catalogue, Item, parse_catalogue
from ledger.errors import ConflictError, ForbiddenError, RuleError, ValidationError
from ledger.statements import CORRECTABLE, SCHEMAS, Statement, format_datetime, parse_date, parse_datetime

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
        dept = Department(
            code=s["department"], name=s["name"], items=frozenset(s["items"]),
            purposes=frozenset(s["purposes"]), roles=frozenset(s.get("roles", [])),
        )
        self.registry.register(dept)
        if "authority" in dept.roles and not self.authority_code:
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
        s = _values(statement)
        self.registry.add_key(KeyRecord(
            key_id=s["key_id"], department=s["department"], public_key=public_key_from_b64(s["public_key"]),
            valid_from=parse_datetime(s["valid_from"]),
        ))

    @event(KeyRevoked)
    def _key_revoked(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        s = _values(statement)
        self.registry.revoke_key(s["key_id"], parse_datetime(s["effective_at"]))

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
    """One record in a person's archive, with its whole lifecycle."""

    class Submitted(Aggregate.Created):
        statement: str
        key_id: str
        signature: str
        recorded_at: str
        catalogue_version: int

    class Corrected(EntryEvent):
        pass

    class Disclosed(EntryEvent):
        public_until: str

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
    def __init__(self, statement: str, key_id: str, signature: str, recorded_at: str, catalogue_version: int) -> None:
        s = _values(statement)
        self.issuer: str = s["issuer"]
        self.subject: str = s["subject"]
        self.item: str = s["item"]
        self.catalogue_version = catalogue_version
        self.fields: dict[str, Any] = {k: s[k] for k in CORRECTABLE if k in s}
        self.history: list[dict[str, Any]] = []
        self.disclosure: dict[str, Any] | None = None
        self.repaired = False
        self.revoked = False
        self.objections: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []

    @property
    def disputed(self) -> bool:
        """True while an objection is open."""
        return any(not o["resolved"] for o in self.objections.values())

    @event(Corrected)
    def _corrected(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self.history.append(dict(self.fields))
        self.fields.update(_values(statement)["changes"])

    @event(Disclosed)
    def _disclosed(self, statement: str, key_id: str, signature: str, recorded_at: str, public_until: str) -> None:
        s = _values(statement)
        self.disclosure = {"list": s["list"], "public_until": public_until, "statement_id": s["id"]}

    @event(DisclosureWithdrawn)
    def _disclosure_withdrawn(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self.disclosure = None

    @event(Repaired)
    def _repaired(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self.repaired = True

    @event(Revoked)
    def _revoked(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self.revoked = True

    @event(ObjectionFiled)
    def _objection_filed(self, statement: str, key_id: str, signature: str, recorded_at: str, deadline: str) -> None:
        s = _values(statement)
        self.objections[s["id"]] = {"resolved": False, "deadline": deadline}

    @event(ObjectionResolved)
    def _objection_resolved(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        s = _values(statement)
        self.objections[s["objection_id"]]["resolved"] = True
        if s["outcome"] == "revoked":
            self.revoked = True

    @event(StatementAdded)
    def _statement_added(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self.notes.append(_values(statement)["id"])

    # Commands: each checks the rules for its statement type, then triggers one event.

    def _own(self, stmt: Statement, action: str) -> None:
        if stmt.issuer != self.issuer:
            raise ForbiddenError(f"only the submitting department {self.issuer} may {action} this record")
        if self.revoked:
            raise RuleError("the record was revoked; it can no longer change")

    def decide(self, stmt: Statement, entry: dict[str, str], catalogue: Catalogue) -> None:
        """Check a lifecycle statement against this record and apply it."""
        v = stmt.values
        today = stmt.issued_at.date()
        item = catalogue.items.get(self.item) or _missing_item(self.item)
        if stmt.type == "record.corrected":
            self._own(stmt, "correct")
            if v["record_version"] != self.version:
                raise ConflictError(
                    f"record is at version {self.version}, the correction was based on version {v['record_version']}"
                )
            check_changes(v["changes"], item, catalogue)
            merged = {**self.fields, **v["changes"]}
            check_record_dates(merged, today)
            self._corrected(**entry)
        elif stmt.type == "record.disclosed":
            self._own(stmt, "disclose")
            if self.repaired:
                raise RuleError("a repaired record is no longer disclosed")
            if item.listing != v["list"]:
                raise RuleError(f"catalogue item {item.code} is not a {v['list']}-list item")
            if self.disclosure is not None:
                raise ConflictError("the record is already disclosed; withdraw the disclosure first")
            self._disclosed(**entry, public_until=disclosure_end(self.fields, item, v, catalogue, today).isoformat())
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
            if objection["resolved"]:
                raise ConflictError("the objection is already resolved")
            self._objection_resolved(**entry)
        elif stmt.type == "statement.added":
            if v["subject"] != self.subject:
                raise RuleError("the statement's subject is not the record's subject")
            self._statement_added(**entry)
        else:  # pragma: no cover - routed by the ledger
            raise ValidationError(f"{stmt.type} is not a record lifecycle statement")


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


def disclosure_end(fields: dict[str, Any], item: Item, v: dict[str, Any], catalogue: Catalogue, today: date) -> date:
    """Compute ``public_until`` for a disclosure, checking the list's preconditions."""
    decision = parse_date(fields["decision_date"])
    behaviour_end = parse_date(fields["behaviour_end"]) if "behaviour_end" in fields else None
    if v["list"] == "black":
        served = v.get("notice_served_at")
        if served is None:
            raise RuleError("a black-list disclosure needs notice_served_at: the subject must be notified first")
        if served > today:
            raise ValidationError("notice_served_at lies after the statement's issue date")
        lo, hi = catalogue.period_months(item.severity or "serious")
        months = v.get("period_months", hi)
        if not lo <= months <= hi:
            raise RuleError(f"period_months for {item.severity} records must be from {lo} to {hi}")
        return rules.public_until(decision, months, behaviour_end, catalogue.behaviour_cap_years)
    valid_until = fields.get("valid_until")
    if valid_until is not None:
        return parse_date(valid_until)
    return rules.add_months(decision, item.validity_months or 0)


def entry_fields(stmt: Statement, key_id: str, signature: str, recorded_at: datetime) -> dict[str, str]:
    """The attributes every event stores: canonical statement text, key id, signature, time."""
    return {
        "statement": stmt.canonical.decode("utf-8"),
        "key_id": key_id,
        "signature": signature,
        "recorded_at": format_datetime(recorded_at),
    }


