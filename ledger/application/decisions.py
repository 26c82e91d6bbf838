"""The rules an envelope must pass before it is appended, and the answer to one sent again.

Each check runs in the command path, before the transaction: the statement is for this ledger and
arrives in time, its signature verifies with its issuer's registered key, its issuer may issue it, and the
aggregate it changes accepts it. Only the values decided here go into the events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from keys import Department
from ledger.adapters.entries import EntryRow
from ledger.application.compromise import CompromiseWindows
from ledger.application.receipts import Receipt
from ledger.domain import queries
from ledger.domain.aggregates import AUTHORITY_ID, Authority, CreditRecord, MeasureApplication, Query, entry_fields
from ledger.errors import (
    ConflictError, ForbiddenError, NotFoundError, QueryExpiredError, QueryRefusedError, RuleError, ValidationError,
    WrongLedgerError,
)
from ledger.domain.commands.measures import check_cited_records
from ledger.domain.record_doc import is_resident
from ledger.domain.responsibility import Responsibility
from ledger.format.statements import WINDOW_TYPES, Envelope, Statement, parse_datetime
from ledger.log.leaves import entry_leaf_hash


class Decisions(CompromiseWindows):
    """Decides each statement against the state: the aggregate changed, or the ledger error refusing it."""

    def _replayed(self, prior: EntryRow, env: Envelope, authority: Authority | None, now: datetime) -> Receipt:
        """The stored receipt for an envelope sent again: byte for byte the stored one (its leaf hash, recomputed
        with this key id and signature, is the stored leaf hash). A query sent again must pass every check a new
        one passes, and is answered only while fresh (measured from when the ledger first recorded it)."""
        st = env.statement
        if prior.statement_digest != st.digest:
            raise ConflictError(
                f"statement id {st.id} is already in the ledger (leaf {prior.leaf_index}) with other content"
            )
        stored = entry_leaf_hash(st.canonical, env.key_id, env.signature, prior.recorded_at, prior.outcome)
        if stored != prior.leaf_hash:
            self._verify(env, authority)  # a bad signature is refused as such, whatever is stored
            raise ConflictError(f"statement id {st.id} is already in the ledger (leaf {prior.leaf_index}) "
                                "under another signature")
        receipt = Receipt(st.id, st.type, prior.position, prior.leaf_index, prior.recorded_at, replay=True,
                          outcome=prior.outcome)
        if st.type == "query.requested":
            self._recheck_query(env, authority, receipt, now)
        return self._with_window(receipt, st)

    def _recheck_query(self, env: Envelope, authority: Authority | None, receipt: Receipt, now: datetime) -> None:
        st = env.statement
        self._check_origin(st)
        _, dept = self._issuer(authority, env)  # the key registered and not revoked now, the signature verifies
        verdict = queries.decide(dept, st, st.issued_at, self.max_clock_skew)
        if receipt.outcome and receipt.outcome.get("status") == "accepted" and verdict["status"] != "accepted":
            raise QueryRefusedError(f"query refused now: {verdict['reason']}")
        age = now - parse_datetime(receipt.recorded_at)
        if age > self.max_clock_skew:
            raise QueryExpiredError(
                f"this query was recorded {int(age.total_seconds())} s ago and is too old to be answered again "
                f"(at most {int(self.max_clock_skew.total_seconds())} s); sign a new one", receipt)

    def _check_origin(self, st: Statement) -> None:
        if st.values["ledger"] != self.origin:
            raise WrongLedgerError(
                f"the statement is for the ledger {st.values['ledger']!r}; this ledger is {self.origin!r}"
            )

    def _check_arrival(self, st: Statement, now: datetime) -> None:
        """The statement is for this ledger, and its ``issued_at`` lies within the allowed skew ahead of the
        ledger's clock and the allowed age behind it."""
        self._check_origin(st)
        if st.issued_at > now + self.max_clock_skew:
            raise ValidationError(
                f"issued_at {st.issued_at.isoformat()} lies in the future (ledger time {now.isoformat()})"
            )
        if st.issued_at < now - self.max_statement_age:
            raise ValidationError(
                f"issued_at {st.issued_at.isoformat()} lies more than {int(self.max_statement_age.total_seconds())} s "
                f"before the ledger's clock ({now.isoformat()}): statements are signed when they are sent"
            )

    def _decide_authority(
        self, authority: Authority | None, env: Envelope, now: datetime
    ) -> tuple[Authority, Authority]:
        st = env.statement
        self._verify(env, authority)
        entry = entry_fields(st, env.key_id, env.signature, now)
        if authority is None:
            v = st.values
            if (st.type != "department.registered" or "authority" not in v.get("roles", [])
                    or v["department"] != st.issuer):
                raise RuleError("the first statement must register the authority itself (roles: authority)")
            founded = Authority._create(Authority.Founded, id=AUTHORITY_ID, **entry)
            return founded, founded
        if st.issuer != authority.authority_code:
            raise ForbiddenError(f"{st.type} statements are issued by the authority only")
        if not authority.authority_has_key():
            v = st.values
            if st.type != "key.added" or v["department"] != st.issuer or v["key_id"] != env.key_id:
                raise RuleError("the authority must first register its own key")
        authority.decide(st, entry)
        return authority, authority

    def _issuer(self, authority: Authority | None, env: Envelope) -> tuple[Authority, Department]:
        """Check the ledger is founded and the signature is the issuing department's; return both."""
        if authority is None or authority.catalogue is None:
            raise RuleError("the ledger is not initialised: no authority or catalogue yet")
        self._verify(env, authority)
        dept = authority.registry.departments.get(env.statement.issuer)
        if dept is None:
            raise ForbiddenError(f"department {env.statement.issuer} is not registered")
        return authority, dept

    def _decide_query(self, authority: Authority | None, env: Envelope, now: datetime) -> Query:
        st = env.statement
        _, dept = self._issuer(authority, env)
        groups = authority.catalogue.occupational_groups if authority is not None and authority.catalogue else ()
        queries.check_shape(st, groups)
        outcome = queries.decide(dept, st, now, self.max_clock_skew)
        return Query._create(Query.Requested, id=st.id, outcome=outcome,
                             **entry_fields(st, env.key_id, env.signature, now))

    def _decide_record(
        self, authority: Authority | None, env: Envelope, now: datetime, touched: dict[UUID, Aggregate]
    ) -> CreditRecord | MeasureApplication | Responsibility:
        st = env.statement
        authority, dept = self._issuer(authority, env)
        catalogue = authority.catalogue
        assert catalogue is not None
        entry = entry_fields(st, env.key_id, env.signature, now)
        v = st.values
        if st.type == "record.submitted":
            adopted = None
            if "adopts" in v:
                adopting = touched.get(v["adopts"])
                if not isinstance(adopting, CreditRecord):
                    adopting = self._maybe_record(v["adopts"])
                adopted = adopting.doc if adopting is not None else None
            return CreditRecord.submit(st, entry, dept, catalogue, adopted)
        if st.type == "responsibility.recorded":
            return Responsibility.record(st, entry, dept, catalogue, authority.authority_code)
        if st.type == "responsibility.ended":
            tenure = touched.get(v["responsibility_id"])
            if not isinstance(tenure, Responsibility):
                tenure = self.responsibility(v["responsibility_id"])
            tenure.end(st, entry, dept, authority.authority_code)
            return tenure
        if st.type == "measure.applied":
            applied = MeasureApplication.apply(st, entry, dept, catalogue)
            cited: dict[UUID, dict[str, Any] | None] = {}
            for cited_id in v.get("records", []):
                found = touched.get(cited_id)
                if not isinstance(found, CreditRecord):
                    found = self._maybe_record(cited_id)
                cited[cited_id] = found.doc if found is not None else None
            check_cited_records(st, cited)
            return applied
        if st.type in WINDOW_TYPES and "service_window" not in dept.roles:
            raise ForbiddenError(f"{st.type} is filed through a service-window department; {st.issuer} is not one")
        record_id = v["record_id"]
        record = touched.get(record_id)
        if record is None:
            record = self.record(record_id)
        if not isinstance(record, CreditRecord):
            raise NotFoundError(f"no record {record_id}")
        names: tuple[str, ...] = ()
        if st.type == "record.disclosed" and not is_resident(record.doc):  # text naming its responsible persons
            names = tuple(self.responsible_names(record.subject))
        record.decide(st, entry, catalogue, names)
        return record

    def _maybe_record(self, record_id: UUID) -> CreditRecord | None:
        try:
            return self.record(record_id)
        except NotFoundError:
            return None
