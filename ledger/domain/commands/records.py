"""A credit record's commands: its submission, then one command per lifecycle statement type.

``submission`` decides what the ``Submitted`` event of a new record carries. Every other command takes the
``CreditRecord`` and a ``Change`` (the statement, its entry fields, the catalogue in force and the record's
item in it), refuses what the record's state or the catalogue's policy does not allow, and triggers one
event with the values it decided. Statements are dated by their ``issued_at``: no clock is read here.
Which departments may send which statements (the issuer's permissions, service windows) is checked by the
ledger before a command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from keys import Department
from ledger.domain import catalogue_policy as policy
from ledger.domain.catalogue import Catalogue, Item
from ledger.domain.record_doc import is_resident
from ledger.domain.screen import refuse_personal_data
from ledger.errors import ConflictError, ForbiddenError, RuleError, ValidationError
from ledger.format.identifiers import age_on
from ledger.format.statements import CORRECTABLE, SCHEMAS, Statement, parse_date

if TYPE_CHECKING:
    from ledger.domain.aggregates import CreditRecord


@dataclass(frozen=True)
class Change:
    """A lifecycle statement with what it is decided by: its entry fields, the catalogue in force and the
    record's catalogue item in it."""

    stmt: Statement
    entry: dict[str, str]
    catalogue: Catalogue
    item: Item
    names: tuple[str, ...] = ()  # further names public text may not hold (an organisation's responsible persons)

    @property
    def values(self) -> dict[str, Any]:
        return self.stmt.values

    @property
    def today(self) -> date:
        """The statement's issue date, the day its rules are decided for."""
        return self.stmt.issued_at.date()


RecordCommand = Callable[["CreditRecord", Change], None]


# Checks of a record's fields.

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
            policy.check_details(value, item, catalogue)
            continue
        try:
            (required.get(name) or optional[name])(value)
        except ValidationError as exc:
            raise ValidationError(f"changes.{name}: {exc}") from None


def submission(stmt: Statement, department: Department, catalogue: Catalogue,
               adopted: dict[str, Any] | None = None) -> dict[str, Any]:
    """``record.submitted``: check a new record against the catalogue (and the record it adopts, its document);
    return what its ``Submitted`` event carries besides the entry fields (the catalogue version, the item's
    snapshot, when it expires)."""
    item = policy.reportable_item(catalogue, stmt.values["item"], department)
    policy.check_subject(stmt.values, item)
    policy.check_validity_allowed(stmt.values, item)
    policy.check_details(stmt.values.get("details", {}), item, catalogue)
    check_record_dates(stmt.body, stmt.issued_at.date())
    policy.check_adult(stmt.values, item)
    policy.check_source(stmt.values, catalogue, adopted)
    policy.check_valid_until(stmt.body, item, catalogue)
    return {"catalogue_version": catalogue.version, "item": policy.item_snapshot(item, catalogue),
            "expires_on": policy.expires_on(stmt.body, item, catalogue)}


# The lifecycle commands.

def own_record(record: CreditRecord, change: Change, action: str) -> None:
    """Only the submitting department changes a record, and only until it is revoked."""
    if change.stmt.issuer != record.issuer:  # (which department submitted it is not told to others)
        raise ForbiddenError(f"only the department that submitted this record may {action} it")
    if record.revoked:
        raise RuleError("the record was revoked; it can no longer change")


def correct(record: CreditRecord, change: Change) -> None:
    """``record.corrected``: new values of correctable fields, based on the record's current version; the
    expiry, and the end of a disclosure in force, follow the new values."""
    own_record(record, change, "correct")
    v = change.values
    if v["record_version"] != record.version:
        raise ConflictError(
            f"record is at version {record.version}, the correction was based on version {v['record_version']}"
        )
    item, catalogue = change.item, change.catalogue
    check_changes(v["changes"], item, catalogue)
    merged = {**record.fields, **v["changes"]}
    check_record_dates(merged, change.today)
    policy.check_valid_until(merged, item, catalogue)
    if item.adults_only:
        policy.check_adult({"subject": record.subject, "decision_date": parse_date(merged["decision_date"]),
                            "behaviour_end": parse_date(merged["behaviour_end"]) if merged.get("behaviour_end")
                            else None}, item)
    public_until = None
    if record.disclosure is not None:
        public_until = policy.disclosure_until(merged, item, record.disclosure["list"],
                                               record.disclosure.get("period_months"), catalogue).isoformat()
    record._corrected(**change.entry, expires_on=policy.expires_on(merged, item, catalogue),
                      public_until=public_until)


def _black_list_months(change: Change) -> int | None:
    """A black-list disclosure's period in months, once the subject was notified; None for the red list."""
    v = change.values
    if v["list"] != "black":
        return None
    served = v.get("notice_served_at")
    if served is None:
        raise RuleError("a black-list disclosure needs notice_served_at: the subject must be notified first")
    if served > change.today:
        raise ValidationError("notice_served_at lies after the statement's issue date")
    return policy.black_list_months(change.item, v.get("period_months"), change.catalogue)


def disclose(record: CreditRecord, change: Change) -> None:
    """``record.disclosed``: an adult's record not repaired, on its item's list, once at a time, with public
    text that names no one; shown until the end its list's rules give."""
    own_record(record, change, "disclose")
    v = change.values
    if record.repaired:
        raise RuleError("a repaired record is no longer disclosed")
    if record.doc.get("source"):
        raise RuleError("a record from another source is for reference only and is never put on a public list; "
                        "adopt it in a record of your own (record.submitted with adopts)")
    deferred = record.doc.get("deferred_until")
    if deferred is not None and change.today.isoformat() < deferred:
        raise RuleError(f"a deferral granted to the subject runs until {deferred}; the record is not disclosed before")
    policy.check_listing(change.item, v["list"])
    if record.disclosure is not None:
        raise ConflictError("the record is already disclosed; withdraw the disclosure first")
    if is_resident(record.doc) and age_on(record.subject, change.today) < 18:
        raise RuleError("minors are never put on a public list (the subject is under 18)")
    names = {record.fields["subject_name"], *(h["subject_name"] for h in record.history if "subject_name" in h)}
    refuse_personal_data(v, sorted(names | set(change.names)))
    months = _black_list_months(change)
    until = policy.disclosure_until(record.fields, change.item, v["list"], months, change.catalogue)
    record._disclosed(**change.entry, public_until=until.isoformat(), period_months=months)


def withdraw_disclosure(record: CreditRecord, change: Change) -> None:
    """``record.disclosure_withdrawn``: the disclosure in force ends."""
    own_record(record, change, "withdraw the disclosure of")
    if record.disclosure is None:
        raise RuleError("the record is not disclosed")
    record._disclosure_withdrawn(**change.entry)


def repair(record: CreditRecord, change: Change) -> None:
    """``record.repaired``: a negative record, once, by a catalogue repair method, after the minimum period."""
    own_record(record, change, "repair")
    policy.check_repairable(change.item)
    if record.repaired:
        raise ConflictError("the record is already repaired")
    policy.check_repair_method(change.values["method"], change.catalogue)
    policy.check_repair_due(record.fields, change.item, change.catalogue, change.today)
    record._repaired(**change.entry)


def revoke(record: CreditRecord, change: Change) -> None:
    """``record.revoked``: the record is annulled; nothing changes it afterwards."""
    own_record(record, change, "revoke")
    record._revoked(**change.entry)


def file_objection(record: CreditRecord, change: Change) -> None:
    """``objection.filed``: the record's subject objects to a record not revoked; the answer is due by the
    catalogue's deadline."""
    v = change.values
    if v["subject"] != record.subject:
        raise RuleError("the objection's subject is not the record's subject")
    if record.revoked:
        raise RuleError("the record was revoked; there is nothing to object to")
    deadline = policy.objection_deadline(change.catalogue, change.today, bool(v.get("needs_verification")))
    record._objection_filed(**change.entry, deadline=deadline.isoformat())


def resolve_objection(record: CreditRecord, change: Change) -> None:
    """``objection.resolved``: an open objection to the record is answered."""
    own_record(record, change, "resolve objections to")
    objection_id = change.values["objection_id"]
    objection = record.objections.get(str(objection_id))
    if objection is None:
        raise RuleError(f"no objection {objection_id} on this record")
    if objection["resolved"] is not None:
        raise ConflictError("the objection is already resolved")
    record._objection_resolved(**change.entry)


def add_statement(record: CreditRecord, change: Change) -> None:
    """``statement.added``: the record's subject adds their own account to it."""
    if change.values["subject"] != record.subject:
        raise RuleError("the statement's subject is not the record's subject")
    record._statement_added(**change.entry)


RECORD_COMMANDS: dict[str, RecordCommand] = {
    "record.corrected": correct,
    "record.disclosed": disclose,
    "record.disclosure_withdrawn": withdraw_disclosure,
    "record.repaired": repair,
    "record.revoked": revoke,
    "objection.filed": file_objection,
    "objection.resolved": resolve_objection,
    "statement.added": add_statement,
}
"""The command for each lifecycle statement type (a record's submission creates it: ``submission``)."""
