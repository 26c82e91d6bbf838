"""``measure.applied``: a department reports that it applied a joint incentive or punishment measure.

The statement names the measure (an id of the catalogue in force), the subject, the purpose it was applied for
and the department's own decision reference, and optionally the records it rests on. The ledger accepts it only
from a department the measure applies to: one the catalogue names for the measure (or any, ``"*"``) that is
registered for the purpose given, a purpose of the measure. Each application is an aggregate of its own (its id
is the statement's), so that applying a measure never changes the version of the records it cites.
"""

from __future__ import annotations

from typing import Any

from keys import Department
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
