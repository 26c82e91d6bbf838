"""Aggregates: the authority (departments, keys, catalogue versions), each credit record, each query.

Every event carries the exact signed entry: the statement's canonical JSON text, the key id, the
signature and the time the ledger recorded it. The authority's and a record's ``decide`` find the command for the
statement's type (``ledger.domain.commands``); the command checks the rules, with what the catalogue
says about the record's item read through ``ledger.domain.catalogue_policy``, and triggers the event
with the values it decided. Event bodies only apply them: no clock, key look-up or I/O runs in one.

The event classes stay in this module: stores name them by its topics (``ledger.domain.aggregates:<class>``,
and the older ``ledger.aggregates:<class>``, see ``topics``). The catalogue checks of a submission, which the
ledger imports from here, are those of ``catalogue_policy`` and ``commands.records``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import orjson
from eventsourcing.domain import Aggregate, event

from keys import Department, KeyRegistry
from ledger.domain import record_doc
from ledger.domain.catalogue import Catalogue, parse_catalogue
from ledger.domain.catalogue_policy import check_details, check_valid_until, expires_on, item_snapshot, record_item
from ledger.domain.commands import measures, records
from ledger.domain.commands.applications import APPLICATION_COMMANDS
from ledger.domain.commands.authority import AUTHORITY_COMMANDS
from ledger.domain.commands.records import check_record_dates
from ledger.domain.registry_changes import apply_authority_statement
from ledger.domain.topics import register_legacy
from ledger.errors import ValidationError
from ledger.format.statements import Statement, format_datetime

__all__ = [
    "AUTHORITY_ID", "Authority", "CreditRecord", "EntryEvent", "MeasureApplication", "Query", "check_details", "check_record_dates",
    "check_valid_until", "entry_fields", "expires_on", "item_snapshot",
]

AUTHORITY_ID = uuid5(NAMESPACE_URL, "urn:credit-ledger:authority")
RECORD_COMMANDS = {**records.RECORD_COMMANDS, **APPLICATION_COMMANDS}


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

    # Commands: one per statement type (``ledger.domain.commands.authority``), each checks, then triggers.

    def decide(self, stmt: Statement, entry: dict[str, str]) -> None:
        """Apply an authority statement after checking it against the current state."""
        command = AUTHORITY_COMMANDS.get(stmt.type)
        if command is None:  # pragma: no cover - routed by the ledger
            raise ValidationError(f"{stmt.type} is not an authority statement")
        command(self, stmt, entry)


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

    class CommitmentSigned(EntryEvent):
        pass

    class RepairApplied(EntryEvent):
        deadline: str

    class RepairDecided(EntryEvent):
        pass

    class DeferralApplied(EntryEvent):
        deadline: str

    class DeferralDecided(EntryEvent):
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
    def applications(self) -> dict[str, dict[str, Any]]:
        return self.doc.get("applications", {})

    @property
    def commitments(self) -> list[dict[str, Any]]:
        return self.doc.get("commitments", [])

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

    @event(CommitmentSigned)
    def _commitment_signed(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self._apply("CommitmentSigned", statement, recorded_at)

    @event(RepairApplied)
    def _repair_applied(self, statement: str, key_id: str, signature: str, recorded_at: str, deadline: str) -> None:
        self._apply("RepairApplied", statement, recorded_at, deadline=deadline)

    @event(RepairDecided)
    def _repair_decided(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self._apply("RepairDecided", statement, recorded_at)

    @event(DeferralApplied)
    def _deferral_applied(self, statement: str, key_id: str, signature: str, recorded_at: str, deadline: str) -> None:
        self._apply("DeferralApplied", statement, recorded_at, deadline=deadline)

    @event(DeferralDecided)
    def _deferral_decided(self, statement: str, key_id: str, signature: str, recorded_at: str) -> None:
        self._apply("DeferralDecided", statement, recorded_at)

    # Commands: one per statement type (``ledger.domain.commands.records`` and ``.applications``), each checks,
    # then triggers.

    @classmethod
    def submit(cls, stmt: Statement, entry: dict[str, str], department: Department,
               catalogue: Catalogue, adopted: dict[str, Any] | None = None) -> CreditRecord:
        """A new record from a ``record.submitted`` statement of ``department``, checked against the catalogue
        (and the document of the record it adopts, if it adopts one)."""
        decided = records.submission(stmt, department, catalogue, adopted)
        return cls._create(cls.Submitted, id=stmt.id, **decided, **entry)

    def decide(self, stmt: Statement, entry: dict[str, str], catalogue: Catalogue, names: tuple[str, ...] = ()) -> None:
        """Check a lifecycle statement against this record and apply it (``names``: further names its public text
        may not hold)."""
        command = RECORD_COMMANDS.get(stmt.type)
        if command is None:  # pragma: no cover - routed by the ledger
            raise ValidationError(f"{stmt.type} is not a record lifecycle statement")
        command(self, records.Change(stmt, entry, catalogue, record_item(catalogue, self.doc["item"]), names))


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


class MeasureApplication(Aggregate):
    """A department's report that it applied a joint incentive or punishment measure (``measure.applied``)."""

    class Applied(Aggregate.Created):
        statement: str
        key_id: str
        signature: str
        recorded_at: str
        catalogue_version: int
        measure_kind: str

    @event(Applied)
    def __init__(self, statement: str, key_id: str, signature: str, recorded_at: str, catalogue_version: int,
                 measure_kind: str) -> None:
        s = _values(statement)
        self.subject: str = s["subject"]
        self.measure: str = s["measure"]
        self.measure_kind = measure_kind

    @classmethod
    def apply(cls, stmt: Statement, entry: dict[str, str], department: Department,
              catalogue: Catalogue) -> MeasureApplication:
        """A new application from a ``measure.applied`` statement of ``department``, checked against the catalogue."""
        decided = measures.application(stmt, department, catalogue)
        return cls._create(cls.Applied, id=stmt.id, **decided, **entry)


def entry_fields(stmt: Statement, key_id: str, signature: str, recorded_at: datetime) -> dict[str, str]:
    """The attributes every event stores: canonical statement text, key id, signature, time."""
    return {
        "statement": stmt.canonical.decode("utf-8"),
        "key_id": key_id,
        "signature": signature,
        "recorded_at": format_datetime(recorded_at),
    }


register_legacy(Authority, CreditRecord, Query)
