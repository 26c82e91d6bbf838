"""The ``Ledger`` application: verify, authorise and append signed statements.

``append`` takes a batch of parsed envelopes and stores every acceptable one in a single
database transaction; each envelope gets its own receipt or refusal. Signature checks and rule
decisions run before the transaction begins. The ``GroupCommitter`` feeds it batches made of
concurrent requests.

The parts of the application build on one another: ``base`` (settings, state, backend),
``signatures`` (checks, inline or ahead in worker processes), ``reads`` (the authority and records),
``compromise`` (a key's compromise window), ``decisions`` (the rules); this module adds the append
itself: decide each envelope, store the accepted ones with their entry rows, answer each.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Sequence
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from keys import KeyError_
from ledger.adapters.entries import EntryRow, Placement, placements
from ledger.application.decisions import Decisions
from ledger.application.receipts import Outcome, Receipt, key_problem
from ledger.domain.aggregates import entry_fields
from ledger.errors import MOVED_LEDGER, ConflictError, LedgerError, UnavailableError
from ledger.format.statements import AUTHORITY_TYPES, RECORD_TYPES, Envelope
from ledger.log.leaves import entry_leaf_hash


class Ledger(Decisions):
    """Event-sourced ledger of signed credit statements."""

    name = "Ledger"

    def append(self, envelopes: Sequence[Envelope]) -> list[Outcome]:
        """Verify, authorise and append a batch; one transaction for all accepted statements."""
        with self._lock:
            envs = list(envelopes)
            refreshed = self._wants_ahead(envs)
            if refreshed:
                self._check_ahead(envs, self._refresh_authority())
            try:
                return self._append(envs, retry=True, refreshed=refreshed)
            finally:
                self._ahead = {}

    def _append(self, envs: list[Envelope], *, retry: bool, refreshed: bool = False) -> list[Outcome]:
        """Decide each envelope on the current state (``refreshed``: the authority's was just brought up to
        date), store the accepted ones in one transaction, answer each; if another writer got in the way,
        decide the pending ones again, one by one (``retry``), or refuse them as conflicts."""
        now = self.clock()
        outcomes: list[Outcome | None] = [None] * len(envs)
        existing = self.entries.find_entries({e.statement.id for e in envs})
        base_authority = self._authority if refreshed else self._refresh_authority()
        authority = base_authority
        touched: dict[UUID, Aggregate] = {}
        rows: dict[tuple[UUID, int], EntryRow] = {}
        versions: dict[UUID, int] = {}  # a record statement's id: the record's version after it
        first: dict[UUID, int] = {}
        for i, env in enumerate(envs):
            st = env.statement
            try:
                prior = existing.get(st.id)
                if prior is not None:
                    outcomes[i] = self._replayed(prior, env, authority, now)
                    continue
                if st.id in first:
                    earlier = envs[first[st.id]]
                    if (earlier.statement.digest, earlier.key_id, earlier.signature) != (st.digest, env.key_id,
                                                                                          env.signature):
                        raise ConflictError(f"statement id {st.id} is used twice in this batch with other content")
                    continue
                self._check_arrival(st, now)
                outcome = None
                agg: Aggregate
                if st.type in AUTHORITY_TYPES:
                    if authority is base_authority and authority is not None:
                        authority = copy.deepcopy(base_authority)
                    authority, agg = self._decide_authority(authority, env, now)
                elif st.type == "query.requested":
                    query = self._decide_query(authority, env, now)
                    agg, outcome = query, query.outcome
                else:
                    agg = self._decide_record(authority, env, now, touched)
                    if is_record_type(st.type):
                        versions[st.id] = agg.version
                touched[agg.id] = agg
                leaf = entry_fields(st, env.key_id, env.signature, now)
                rows[(agg.id, agg.version)] = EntryRow(
                    statement_id=st.id, statement_digest=st.digest, recorded_at=leaf["recorded_at"],
                    leaf_hash=entry_leaf_hash(st.canonical, env.key_id, env.signature, leaf["recorded_at"], outcome),
                    outcome=outcome, key_id=env.key_id,
                )
                first[st.id] = i
            except LedgerError as exc:
                outcomes[i] = exc
            except KeyError_ as exc:
                outcomes[i] = key_problem(exc)
        if not touched:
            return self._fill(outcomes, envs, versions)
        try:
            placed = self._store(list(touched.values()), rows)
        except IntegrityError as exc:
            if MOVED_LEDGER in str(exc):  # this database was copied elsewhere and refuses every write
                raise UnavailableError(str(exc).strip()) from None
            # Another writer changed one of these aggregates or used one of these statement ids
            # first: decide each pending envelope again on fresh state.
            self._authority = None
            pending = [i for i, o in enumerate(outcomes) if o is None]
            if not retry:
                conflict = ConflictError("a concurrent change touched the same record; submit again")
                for i in pending:
                    outcomes[i] = conflict
                return outcomes  # type: ignore[return-value]
            for i in pending:
                outcomes[i] = self._append([envs[i]], retry=len(pending) > 1)[0]
            return outcomes  # type: ignore[return-value]
        if authority is not base_authority:
            self._authority = authority
        return self._fill(outcomes, envs, versions, {row.statement_id: row for row in rows.values()}, placed)

    def _store(self, aggregates: list[Aggregate], rows: dict[tuple[UUID, int], EntryRow]) -> dict[UUID, Placement]:
        """Write the aggregates' pending events and their entry rows in one transaction; where each
        statement landed, by statement id, as the recorder answers the write.

        What ``Application.save()`` does for these aggregates (no snapshots, no repository cache, no
        processing tracking are configured here), without its per-object protocol checks.
        """
        if self.snapshots is not None or self.repository.cache is not None:
            return placements([recording.notification.id for recording in self.save(*aggregates, entries=rows)])
        events = [e for agg in aggregates for e in agg.collect_events()]
        return placements(self.recorder.insert_events([self.mapper.to_stored_event(e) for e in events], entries=rows))

    def _fill(self, outcomes: list[Outcome | None], envs: list[Envelope], versions: dict[UUID, int],
              rows: dict[UUID, EntryRow] | None = None, placed: dict[UUID, Placement] | None = None) -> list[Outcome]:
        """Receipts for the statements just appended (``rows``: their entry rows, ``placed``: where they
        landed, ``versions``: the record's version after each record statement, all by statement id); a
        record statement sent again gets the version its record had after it, as its first receipt did."""
        result: list[Outcome] = []
        answered: set[UUID] = set()
        for i, o in enumerate(outcomes):
            if o is None:
                assert rows is not None and placed is not None
                st = envs[i].statement
                where, row = placed[st.id], rows[st.id]
                o = self._with_window(Receipt(st.id, st.type, where.position, where.leaf_index, row.recorded_at,
                                              replay=st.id in answered, outcome=row.outcome,
                                              record_version=versions.get(st.id)), st)
                answered.add(st.id)
            result.append(o)
        replayed = [i for i, o in enumerate(result) if isinstance(o, Receipt) and o.replay
                    and o.record_version is None and is_record_type(o.type)]
        if replayed:
            at = self._versions_at(result[i].position for i in replayed)  # type: ignore[union-attr]
            for i in replayed:
                receipt = result[i]
                assert isinstance(receipt, Receipt)
                result[i] = dataclasses.replace(receipt, record_version=at.get(receipt.position))
        return result

    def _versions_at(self, positions: Iterable[int], span: int = 1000) -> dict[int, int]:
        """The version of the record each event at ``positions`` left (its originator version), read in
        runs of at most ``span`` positions (a batch sent again lies mostly in one run)."""
        todo = sorted(set(positions))
        found: dict[int, int] = {}
        i = 0
        while i < len(todo):
            j = i
            while j + 1 < len(todo) and todo[j + 1] - todo[i] < span:
                j += 1
            for n in self.recorder.select_notifications(start=todo[i], limit=todo[j] - todo[i] + 1, stop=todo[j]):
                found[n.id] = n.originator_version
            i = j + 1
        return found


def is_record_type(statement_type: str) -> bool:
    """Whether statements of this type change a credit record (and so carry its version in the receipt)."""
    return statement_type in RECORD_TYPES
