"""``measure.applied``: a department reports that it applied a joint incentive or punishment measure.

The statement names the measure (an id of the catalogue in force), the subject, the purpose it was applied for
and the department's own decision reference, and optionally the records it rests on. The ledger accepts it only
from a department the measure applies to: one the catalogue names for the measure (or any, ``"*"``) that is
registered for the purpose given, a purpose of the measure. Each application is an aggregate of its own (its id
is the statement's), so that applying a measure never changes the version of the records it cites. Each record it
cites must exist, be about the statement's subject and be shareable on the day the statement was issued (not
revoked, repaired or expired): ``check_cited_records`` decides that from the records' documents, which the
caller loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from keys import Department
from ledger.domain import record_doc
from ledger.domain.catalogue import Catalogue
from ledger.errors import ForbiddenError, RuleError
from ledger.format.statements import Statement


def application(stmt: Statement, department: Department, catalogue: Catalogue) -> dict[str, Any]:
    """The values the ``Applied`` event of a ``measure.applied`` carries, after checking the department may apply
    the measure for the purpose; raises the ledger error refusing it."""
    v = stmt.values
    if not catalogue.measures:
        raise RuleError(f"catalogue v{catalogue.version} has no joint incentive or punishment measures")
    measure = catalogue.measures.get(v["measure"])
    if measure is None:
        raise RuleError(f"catalogue v{catalogue.version} has no measure {v['measure']!r}")
    if measure.departments is not None and department.code not in measure.departments:
        raise ForbiddenError(f"measure {measure.id} is not applied by department {department.code}")
    if v["purpose"] not in measure.purposes:
        raise ForbiddenError(f"measure {measure.id} is applied only for the purpose(s) {', '.join(measure.purposes)}")
    if v["purpose"] not in department.purposes:
        raise ForbiddenError(f"department {department.code} is not registered for the purpose {v['purpose']}")
    return {"catalogue_version": catalogue.version, "measure_kind": measure.kind}


def check_cited_records(stmt: Statement, docs: Mapping[UUID, dict[str, Any] | None]) -> None:
    """Check each record a ``measure.applied`` names in ``records`` against its document in ``docs`` (None for a
    record the ledger does not hold): a department's own record (not one from another source, for reference only)
    about the statement's subject, shareable on the statement's issue date; else ``RuleError``.

    Every failing record gets the same answer, whatever the reason: a refusal stores nothing and is in no one's
    access log, so it must not tell a department whether a record it names (a public-list entry's id, say) is
    about the person it guessed, or in what state it is."""
    v = stmt.values
    day = stmt.issued_at.date().isoformat()
    for record_id in v.get("records", []):
        doc = docs.get(record_id)
        if (doc is None or doc["subject"] != v["subject"] or not record_doc.shareable(doc, day)
                or record_doc.reference_only(doc)):
            raise RuleError(f"record {record_id} is not a department's own record about the measure's subject, shared "
                            f"on {day}: it cannot ground the measure (query the subject's archive for the records "
                            "that can)")
