"""Reading the ledger's state: the authority and credit records, each event checked before it is applied.

A state is built only from events whose signatures verify with the keys the registry held for them, so a
row written into the database by other means than an append never changes what the ledger decides on.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import orjson

from keys import KeyError_, verify_signature
from ledger.application.signatures import SignatureChecks
from ledger.domain.aggregates import AUTHORITY_ID, Authority, CreditRecord
from ledger.domain.responsibility import Responsibility
from ledger.domain.topics import stored_topics
from ledger.errors import IntegrityFailure, LedgerError, NotFoundError
from ledger.format.statements import Envelope, parse_statement

log = logging.getLogger("credit_ledger.ledger")


class Reads(SignatureChecks):
    """The authority's and the records' current states, and the number of statements."""

    def authority(self) -> Authority | None:
        """The authority's current state, brought up to date from the event store."""
        with self._lock:
            return self._refresh_authority()

    def catalogue_version(self) -> int | None:
        """Version of the catalogue in force, if any (as last brought up to date: a health check never waits
        behind an append)."""
        authority = self._authority or self.authority()
        return authority.catalogue.version if authority and authority.catalogue else None

    def _refresh_authority(self) -> Authority | None:
        """Bring the authority up to date, event by event, each only once its signature verifies with the key
        the registry held for it at that point (the pinned authority key for the founding statements): a row
        written into the database by other means than an append can never register a key."""
        authority = self._authority
        since = authority.version if authority is not None else None
        events: list[Any] = list(self.events.get(AUTHORITY_ID, gt=since))
        for ev in events:
            self._check_authority_event(authority, ev)
            authority = ev.mutate(authority)
        self._authority = authority
        return authority

    def _check_authority_event(self, authority: Authority | None, ev: Any) -> None:
        try:
            st = parse_statement(orjson.loads(ev.statement))
            if st.canonical != ev.statement.encode("utf-8"):
                raise LedgerError("statement bytes are not canonical")
            self._verify(Envelope(st, ev.key_id, ev.signature), authority)
            if authority is not None and authority.authority_code and st.issuer != authority.authority_code:
                raise LedgerError(f"issued by {st.issuer}, not by the authority")
        except (LedgerError, KeyError_, orjson.JSONDecodeError) as exc:
            log.critical("authority event %s v%s does not verify: %s", ev.originator_id, ev.originator_version, exc)
            raise IntegrityFailure(
                f"the authority's event at version {ev.originator_version} does not verify ({exc}); the ledger's "
                "database holds a row no append wrote: stop and run credit-ledger audit verify"
            ) from None

    def record(self, record_id: UUID | str) -> CreditRecord:
        """A credit record's current state; NotFoundError if there is none.

        Each event is applied only once its signature verifies with the registered key it names, of the
        department that issued it: a row written into the database by other means than an append (even a
        well-formed event with its entry) never changes what the ledger decides on."""
        agg = self._verified(record_id, CreditRecord.Submitted, "record")
        assert isinstance(agg, CreditRecord)
        return agg

    def responsibility(self, responsibility_id: UUID | str) -> Responsibility:
        """A responsible person's tenure (``responsibility.recorded``); NotFoundError if there is none. Its events
        are checked as a record's are."""
        agg = self._verified(responsibility_id, Responsibility.Recorded, "responsibility")
        assert isinstance(agg, Responsibility)
        return agg

    def responsible_names(self, organisation: str) -> list[str]:
        """The names of every person recorded as responsible for ``organisation`` (``responsibility.recorded``),
        read from the ledger's events, each new event once per process (the index grows with the ledger)."""
        with self._lock:
            topics = stored_topics(Responsibility.Recorded)
            while True:
                found = self.recorder.select_notifications(start=self._tenure_names_after, limit=1000, topics=topics,
                                                           inclusive_of_start=False)
                for n in found:
                    event: Any = self.mapper.to_domain_event(n)
                    s = orjson.loads(event.statement)
                    self._tenure_names.setdefault(s["organisation"], set()).add(s["person_name"])
                if found:
                    self._tenure_names_after = found[-1].id
                if len(found) < 1000:
                    return sorted(self._tenure_names.get(organisation, ()))

    def _verified(self, aggregate_id: UUID | str, first: type, what: str) -> Any:
        """An aggregate whose first event is of class ``first``, from its events, each applied only once its
        signature verifies."""
        events: list[Any] = list(self.events.get(UUID(str(aggregate_id))))  # read once: checked, then applied
        if not events or not isinstance(events[0], first):
            raise NotFoundError(f"no {what} {aggregate_id}")
        authority = self._authority or self._refresh_authority()
        agg = None
        for ev in events:
            if not self._record_event_verifies(authority, ev):
                # Another process may have registered the key since: look again before refusing.
                with self._lock:
                    authority = self._refresh_authority()
                self._check_record_event(authority, ev)
            agg = ev.mutate(agg)
        return agg

    def _record_event_verifies(self, authority: Authority | None, ev: Any) -> bool:
        try:
            self._check_record_event(authority, ev, quiet=True)
        except IntegrityFailure:
            return False
        return True

    def _check_record_event(self, authority: Authority | None, ev: Any, quiet: bool = False) -> None:
        try:
            issuer = orjson.loads(ev.statement)["issuer"]
            key = authority.registry.keys.get(ev.key_id) if authority is not None else None
            if key is None or key.department != issuer:
                raise LedgerError(f"key {ev.key_id} is not a registered key of {issuer}")
            verify_signature(key.public_key, ev.statement.encode("utf-8"), ev.signature)
        except (LedgerError, KeyError_, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            if not quiet:
                log.critical("record event %s v%s does not verify: %s", ev.originator_id, ev.originator_version, exc)
            raise IntegrityFailure(
                f"an event of record {ev.originator_id} (version {ev.originator_version}) does not verify; the "
                "ledger's database holds a row no append wrote: stop and run credit-ledger audit verify"
            ) from None

    def count(self) -> int:
        """Number of statements in the ledger."""
        return self.entries.count_entries()
