"""Who is responsible for an organisation (落实到人): ``responsibility.recorded`` and ``responsibility.ended``.

"在对失信企事业单位进行联合惩戒的同时，…对相关责任人员采取相应的联合惩戒措施，将联合惩戒措施落实到人"
(青信用〔2018〕3号). The authority, or a department registered with the ``registrar`` role, records that a person
(resident ID and name) holds a role the catalogue lists (``responsible_roles``: legal representative, principal,
person directly responsible, actual controller) for an organisation (unified social credit code and name), from a
day and optionally until one. ``responsibility.ended`` closes an open tenure (or brings its end forward), by the
department that recorded it or the authority. Each tenure is an aggregate of its own (its id is the recording
statement's). Which of an organisation's records reach which person is read from the tenures by the archive
(``ledger.domain.archive_rules.responsible_for``). Pure.
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.domain import Aggregate, event

from keys import Department
from ledger.domain.catalogue import Catalogue
from ledger.errors import ConflictError, ForbiddenError, RuleError, ValidationError
from ledger.format.identifiers import age_on
from ledger.format.statements import Statement


def _may_register(department: Department, authority_code: str) -> None:
    if department.code != authority_code and "registrar" not in department.roles:
        raise ForbiddenError(f"department {department.code} may not record responsible persons (it is neither the "
                             "authority nor a registrar)")


def _check_dates(start: str, until: str | None) -> None:
    if until is not None and until < start:
        raise ValidationError(f"until: {until} lies before the tenure's start {start}")


class Responsibility(Aggregate):
    """One person's tenure in a role for an organisation."""

    class Recorded(Aggregate.Created):
        statement: str
        key_id: str
        signature: str
        recorded_at: str

    class Ended(Aggregate.Event):
        statement: str
        key_id: str
        signature: str
        recorded_at: str

    @event(Recorded)
    def __init__(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        s = orjson.loads(statement)
        self.issuer: str = s["issuer"]
        self.start: str = s["from"]
        self.until: str | None = s.get("until")
        self.ended = False

    @event(Ended)
    def _ended(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self.until = orjson.loads(statement)["until"]
        self.ended = True

    @classmethod
    def record(cls, stmt: Statement, entry: dict[str, str], department: Department, catalogue: Catalogue,
               authority_code: str) -> Responsibility:
        """A tenure from a ``responsibility.recorded`` of ``department``, in a role of the catalogue."""
        _may_register(department, authority_code)
        v = stmt.values
        if v["role"] not in catalogue.responsible_roles:
            known = ", ".join(catalogue.responsible_roles) or "none"
            raise ValidationError(f"role: catalogue v{catalogue.version} has no responsible role {v['role']!r} "
                                  f"(roles: {known})")
        _check_dates(v["from"].isoformat(), v["until"].isoformat() if "until" in v else None)
        if v["from"] > stmt.issued_at.date():
            raise ValidationError("from: a tenure is recorded once it has begun, not before")
        if age_on(v["person"], v["from"]) < 18:  # an organisation's records would reach a minor's archive
            raise RuleError("person: a person under 18 on the tenure's first day is not recorded as responsible for "
                            "an organisation")
        return cls._create(cls.Recorded, id=stmt.id, **entry)

    def end(self, stmt: Statement, entry: dict[str, str], department: Department, authority_code: str) -> None:
        """``responsibility.ended``: by the recording department or the authority; once; not before the start, and
        not after an end recorded already."""
        if department.code not in (self.issuer, authority_code):
            raise ForbiddenError("only the department that recorded a tenure, or the authority, ends it")
        if self.ended:
            raise ConflictError("the tenure has already been ended")
        until = stmt.values["until"].isoformat()
        _check_dates(self.start, until)
        if self.until is not None and until > self.until:
            raise RuleError(f"the tenure already ends on {self.until}; it cannot be extended")
        self._ended(**entry)


def tenure(statement: dict[str, Any], ended: dict[str, Any] | None) -> dict[str, Any]:
    """A tenure's view: organisation, person, role and the days it spans (``until``: the end recorded last)."""
    return {
        "id": statement["id"], "organisation": statement["organisation"],
        "organisation_name": statement["organisation_name"], "person": statement["person"],
        "person_name": statement["person_name"], "role": statement["role"], "from": statement["from"],
        "until": ended["until"] if ended is not None else statement.get("until"), "issuer": statement["issuer"],
    }
