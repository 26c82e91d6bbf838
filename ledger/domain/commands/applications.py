"""What a subject asks for through a service window about one of their records, and how the record's department
answers: repair applications, deferral applications and credit commitments.

The plan asks that people may reduce the loss a record causes "by fulfilling afterwards of their own accord,
applying for a deferral, or explaining themselves" (探索通过事后主动履约、申请延期、自主解释等方式减少失信损失,
青信用〔2018〕3号). Explanations are ``statement.added``. Here:

- ``commitment.signed``: the subject's credit commitment (信用承诺) about the record, signed at a window; a repair
  application may refer to it.
- ``repair.applied``: the subject applies for the record's repair by a catalogue method; the department is to decide
  within the catalogue's ``application_decision_working_days``. ``repair.decided``: the record's department grants
  it (the record is repaired, by the same rules as ``record.repaired``) or refuses it with reasons.
- ``deferral.applied``: the subject asks for time (at most the catalogue's ``deferral_max_months``) to fulfil before
  the record is put on a public list; ``deferral.decided`` grants it (until the day asked or an earlier one) or
  refuses it. While a granted deferral runs the record is not disclosed.

Each runs on the ``CreditRecord`` with a ``Change`` like the other lifecycle commands. Pure.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from ledger.domain import catalogue_policy as policy
from ledger.domain import rules
from ledger.domain.commands.records import Change, own_record
from ledger.errors import ConflictError, RuleError, ValidationError

if TYPE_CHECKING:
    from ledger.domain.aggregates import CreditRecord


def _subjects(record: CreditRecord, change: Change, what: str) -> None:
    if change.values["subject"] != record.subject:
        raise RuleError(f"the {what}'s subject is not the record's subject")
    if record.revoked:
        raise RuleError("the record was revoked; there is nothing to apply for")
    if what != "commitment" and record.doc.get("source"):
        raise RuleError("a record from another source is for reference only: it is repaired or put right at its "
                        "source, not here")


def _pending(record: CreditRecord, kind: str) -> dict[str, Any] | None:
    return next((a for a in record.applications.values() if a["kind"] == kind and a["decided"] is None), None)


def sign_commitment(record: CreditRecord, change: Change) -> None:
    """``commitment.signed``: the record's subject signs a credit commitment about it."""
    _subjects(record, change, "commitment")
    record._commitment_signed(**change.entry)


def apply_for_repair(record: CreditRecord, change: Change) -> None:
    """``repair.applied``: a negative record not yet repaired, by a catalogue method, one application at a time;
    a commitment it cites is one signed about this record."""
    _subjects(record, change, "repair application")
    policy.check_repairable(change.item)
    if record.repaired:
        raise ConflictError("the record is already repaired")
    policy.check_repair_method(change.values["method"], change.catalogue)
    if _pending(record, "repair") is not None:
        raise ConflictError("a repair application for this record is still open")
    commitment = change.values.get("commitment_id")
    if commitment is not None and str(commitment) not in {c["id"] for c in record.commitments}:
        raise RuleError(f"no credit commitment {commitment} was signed about this record")
    deadline = rules.add_working_days(change.today, change.catalogue.application_days)
    record._repair_applied(**change.entry, deadline=deadline.isoformat())


def _application(record: CreditRecord, change: Change, kind: str) -> dict[str, Any]:
    own_record(record, change, f"decide {kind} applications about")
    app = record.applications.get(str(change.values["application_id"]))
    if app is None or app["kind"] != kind:
        raise RuleError(f"no {kind} application {change.values['application_id']} on this record")
    if app["decided"] is not None:
        raise ConflictError(f"the {kind} application is already decided")
    return app


def decide_repair(record: CreditRecord, change: Change) -> None:
    """``repair.decided``: the department grants (by ``record.repaired``'s rules: not yet repaired, after the
    minimum disclosure period) or refuses an open repair application."""
    app = _application(record, change, "repair")
    if change.values["outcome"] == "granted":
        if record.repaired:
            raise ConflictError("the record is already repaired")
        policy.check_repair_method(app["method"], change.catalogue)
        policy.check_repair_due(record.fields, change.item, change.catalogue, change.today)
    record._repair_decided(**change.entry)


def apply_for_deferral(record: CreditRecord, change: Change) -> None:
    """``deferral.applied``: time to fulfil, for a negative record neither repaired nor yet on a public list, up to
    the catalogue's longest deferral from the application's day."""
    _subjects(record, change, "deferral application")
    policy.check_repairable(change.item)
    months = change.catalogue.deferral_max_months
    if not months:
        raise RuleError(f"catalogue v{change.catalogue.version} allows no deferrals")
    if record.repaired:
        raise ConflictError("the record is already repaired")
    if record.disclosure is not None:
        raise RuleError("the record is already disclosed; a deferral can no longer hold it back")
    if _pending(record, "deferral") is not None:
        raise ConflictError("a deferral application for this record is still open")
    _check_until(record, change.values["until"], change, months)
    deadline = rules.add_working_days(change.today, change.catalogue.application_days)
    record._deferral_applied(**change.entry, deadline=deadline.isoformat())


def _check_until(record: CreditRecord, until: Any, change: Change, months: int) -> None:
    """The deferral ends after the application's day and at most ``months`` after the day the record's first
    granted deferral was applied for (this application's day, if none was granted): deferrals do not chain past
    the catalogue's longest one."""
    granted = [a["filed_at"][:10] for a in record.applications.values()
               if a["kind"] == "deferral" and (a["decided"] or {}).get("outcome") == "granted"]
    start = date.fromisoformat(min(granted)) if granted else change.today
    latest = rules.add_months(start, months)
    if not change.today < until <= latest:
        since = f"{start.isoformat()}, when the first granted deferral was applied for" if granted else "then"
        raise ValidationError(f"until: must lie after {change.today.isoformat()} and at most {months} months "
                              f"after {since}: by {latest.isoformat()}")


def decide_deferral(record: CreditRecord, change: Change) -> None:
    """``deferral.decided``: granted until the day asked for or an earlier one (``until``), or refused."""
    app = _application(record, change, "deferral")
    until = change.values.get("until")
    if change.values["outcome"] == "granted":
        asked = app["until"]
        if until is not None and until.isoformat() > asked:
            raise ValidationError(f"until: a deferral is granted until {asked} at the latest, the day asked for")
        if (until.isoformat() if until is not None else asked) <= change.today.isoformat():
            raise RuleError("the deferral asked for has already run out; refuse it or grant a later day")
    elif until is not None:
        raise ValidationError("until: only a granted deferral has an end")
    record._deferral_decided(**change.entry)


APPLICATION_COMMANDS = {
    "commitment.signed": sign_commitment,
    "repair.applied": apply_for_repair,
    "repair.decided": decide_repair,
    "deferral.applied": apply_for_deferral,
    "deferral.decided": decide_deferral,
}
