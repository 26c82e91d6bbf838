"""The ``Ledger`` application: verify, authorise and append signed statements.

``append`` takes a batch of parsed envelopes and stores every acceptable one in a single
database transaction; each envelope gets its own receipt or refusal. Signature checks and rule
decisions run before the transaction begins. The ``GroupCommitter`` feeds it batches made of
concurrent requests.

With ``verify_processes`` set, the signatures of a batch are checked in that many worker processes
while the rules are decided, in leaf order, in this one: a check done ahead is only used when the key
the registry holds for the statement at decision time is the key it was checked with.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from keys import Department, KeyError_, SignatureError, key_id_for, signatures_valid, verify_signature
from keys.errors import KeyNotValidError, UnknownKeyError
from ledger.domain import queries
from ledger.domain.aggregates import (
    AUTHORITY_ID, Authority, CreditRecord, Query, check_details, check_record_dates, check_valid_until, entry_fields,
    expires_on, item_snapshot,
)
from ledger.log.leaves import entry_leaf_hash
from ledger.errors import (
    AuthenticationError, ConflictError, ForbiddenError, IntegrityFailure, LedgerError, NotFoundError,
    QueryExpiredError, QueryRefusedError, RuleError, ValidationError, WrongLedgerError,
)
from ledger.domain.genesis import DEFAULT_ORIGIN
from ledger.adapters.recorders import EntryRow
from ledger.format.statements import AUTHORITY_TYPES, Envelope, Statement, format_datetime, parse_datetime, parse_statement
from ledger.adapters.workers import watch_parent

log = logging.getLogger("credit_ledger.ledger")


@dataclass(frozen=True)
class Receipt:
    """What the ledger answers for an appended statement (the same again on a replay)."""

    statement_id: UUID
    type: str
    position: int
    leaf_index: int
    recorded_at: str
    replay: bool = False
    outcome: dict[str, Any] | None = None
    compromise_window: list[dict[str, Any]] | None = None  # a key revocation's: the entries to review

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``replay`` is left out: a replay's answer equals the original)."""
        body: dict[str, Any] = {
            "statement_id": str(self.statement_id), "type": self.type, "position": self.position,
            "leaf_index": self.leaf_index, "recorded_at": self.recorded_at,
        }
        if self.outcome is not None:
            body["outcome"] = self.outcome
        if self.compromise_window is not None:
            body["compromise_window"] = self.compromise_window
        return body


Outcome = Receipt | LedgerError

_KEY_ERRORS: dict[type[KeyError_], type[LedgerError]] = {
    SignatureError: AuthenticationError,
    UnknownKeyError: AuthenticationError,
    KeyNotValidError: ForbiddenError,
}


def _key_problem(exc: KeyError_) -> LedgerError:
    for cls in type(exc).__mro__:
        if cls in _KEY_ERRORS:
            err = _KEY_ERRORS[cls](str(exc))
            err.slug = exc.slug
            return err
    return AuthenticationError(str(exc))


class Ledger(Application[UUID]):
    """Event-sourced ledger of signed credit statements."""

    name = "Ledger"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        authority_public_key: bytes | None = None,
        max_clock_skew: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] | None = None,
        verify_processes: int = 0,
        origin: str = DEFAULT_ORIGIN,
        max_statement_age: timedelta = timedelta(days=1),
    ) -> None:
        super().__init__(env)
        self.authority_public_key = authority_public_key
        self.max_clock_skew = max_clock_skew
        self.origin = origin
        self.max_statement_age = max_statement_age
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._authority: Authority | None = None
        self._lock = threading.RLock()
        self.verify_processes = verify_processes
        self._pool: ProcessPoolExecutor | None = None
        # id(envelope) -> (public key, chunk future, offset): signature checks running ahead (one append).
        self._ahead: dict[int, tuple[bytes, Future[list[bool]], int]] = {}
        self._starting: threading.Thread | None = None
        self._closed = False

    def close(self) -> None:
        """Stop the verification processes, then close the recorder."""
        self._closed = True
        starting = self._starting
        if starting is not None:
            starting.join(30)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        super().close()

    # Reading.

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
        for ev in self.events.get(AUTHORITY_ID, gt=authority.version if authority is not None else None):
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
        events = list(self.events.get(UUID(str(record_id))))  # read once: checked, then applied
        if not events or not isinstance(events[0], CreditRecord.Submitted):
            raise NotFoundError(f"no record {record_id}")
        authority = self._authority or self._refresh_authority()
        agg = None
        for ev in events:
            if not self._record_event_verifies(authority, ev):
                # Another process may have registered the key since: look again before refusing.
                with self._lock:
                    authority = self._refresh_authority()
                self._check_record_event(authority, ev)
            agg = ev.mutate(agg)
        assert isinstance(agg, CreditRecord)
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
        return self.recorder.count_entries()

    # Appending.

    def append(self, envelopes: Sequence[Envelope]) -> list[Outcome]:
        """Verify, authorise and append a batch; one transaction for all accepted statements."""
        with self._lock:
            envs = list(envelopes)
            refreshed = self._check_ahead(envs)
            try:
                return self._append(envs, retry=True, refreshed=refreshed)
            finally:
                self._ahead = {}

    # A batch smaller than this is checked inline: handing it to the processes costs more than it saves.
    AHEAD_MIN = 8

    def _check_ahead(self, envs: list[Envelope]) -> bool:
        """Start checking the batch's signatures in the worker processes (keys as the registry holds them now);
        return whether the authority's state was brought up to date for it."""
        if self.verify_processes < 1 or len(envs) < self.AHEAD_MIN:
            return False
        authority = self._refresh_authority()
        if authority is None or not authority.authority_has_key():
            return True
        todo: list[tuple[Envelope, bytes]] = []
        for env in envs:
            st = env.statement
            if st.type in AUTHORITY_TYPES:
                continue
            try:
                todo.append((env, authority.registry.key_for(env.key_id, st.issuer, st.issued_at).public_key))
            except KeyError_:
                continue  # refused inline, with its reason
        if len(todo) < self.AHEAD_MIN:
            return True
        if self._pool is None:
            if self._starting is not None:
                return True  # still starting (in the background): check inline meanwhile
            self.start_verifiers()
            if self._pool is None:
                return True
        # Small chunks: the writer starts deciding as soon as the first one is back.
        size = max(self.AHEAD_MIN, min(32, -(-len(todo) // (2 * self.verify_processes))))
        try:
            for start in range(0, len(todo), size):
                chunk = todo[start:start + size]
                future = self._pool.submit(signatures_valid, [(pub, env.statement.canonical, env.signature)
                                                               for env, pub in chunk])
                for offset, (env, pub) in enumerate(chunk):
                    self._ahead[id(env)] = (pub, future, offset)
        except BrokenProcessPool:
            # The processes could not start (e.g. a main module that starts work on import): check inline.
            log.warning("signature verification processes are unavailable; verifying in the writer thread")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self.verify_processes = 0
        return True

    def start_verifiers(self, background: bool = False) -> None:
        """Start the signature-checking processes (a server does so in the background as it starts)."""
        if self.verify_processes < 1 or self._pool is not None or self._starting is not None:
            return
        if background:
            self._starting = threading.Thread(target=self._start_pool, name="verifiers", daemon=True)
            self._starting.start()
        else:
            self._start_pool()

    def _start_pool(self) -> None:
        import multiprocessing

        pool = ProcessPoolExecutor(self.verify_processes, mp_context=multiprocessing.get_context("forkserver"),
                                   initializer=watch_parent, initargs=(os.getpid(),))
        try:
            for f in [pool.submit(signatures_valid, []) for _ in range(self.verify_processes)]:
                f.result()
        except BrokenProcessPool:
            log.warning("signature verification processes are unavailable; verifying in the writer thread")
            pool.shutdown(wait=False, cancel_futures=True)
            self.verify_processes = 0
        else:
            if self._closed:
                pool.shutdown(wait=False, cancel_futures=True)
            else:
                self._pool = pool
        self._starting = None

    def _checked_ahead(self, env: Envelope, public_key: bytes) -> bool:
        """Whether ``env``'s signature was already found valid under ``public_key``."""
        ahead = self._ahead.get(id(env))
        if ahead is None or ahead[0] != public_key:
            return False
        try:
            return ahead[1].result()[ahead[2]]
        except Exception:  # a worker process died: check inline
            return False

    def _append(self, envs: list[Envelope], *, retry: bool, refreshed: bool = False) -> list[Outcome]:
        now = self.clock()
        outcomes: list[Outcome | None] = [None] * len(envs)
        existing = self.recorder.find_entries({e.statement.id for e in envs})
        base_authority = self._authority if refreshed else self._refresh_authority()
        authority = base_authority
        touched: dict[UUID, Aggregate] = {}
        rows: dict[tuple[UUID, int], EntryRow] = {}
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
                if st.type in AUTHORITY_TYPES:
                    if authority is base_authority and authority is not None:
                        authority = copy.deepcopy(base_authority)
                    authority, agg = self._decide_authority(authority, env, now)
                elif st.type == "query.requested":
                    agg = self._decide_query(authority, env, now)
                    outcome = agg.outcome
                else:
                    agg = self._decide_record(authority, env, now, touched)
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
                outcomes[i] = _key_problem(exc)
        if not touched:
            return self._fill(outcomes, envs)
        try:
            self._store(list(touched.values()), rows)
        except IntegrityError:
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
        return self._fill(outcomes, envs, {row.statement_id: row for row in rows.values()})

    def _store(self, aggregates: list[Aggregate], rows: dict[tuple[UUID, int], EntryRow]) -> None:
        """Write the aggregates' pending events and their entry rows in one transaction.

        What ``Application.save()`` does for these aggregates (no snapshots, no repository cache, no
        processing tracking are configured here), without its per-object protocol checks.
        """
        if self.snapshots is not None or self.repository.cache is not None:
            self.save(*aggregates, entries=rows)
            return
        events = [e for agg in aggregates for e in agg.collect_events()]
        self.recorder.insert_events([self.mapper.to_stored_event(e) for e in events], entries=rows)

    def _fill(self, outcomes: list[Outcome | None], envs: list[Envelope], rows: dict[UUID, EntryRow] | None = None) -> list[Outcome]:
        """Receipts for the statements just appended (``rows``: their entry rows by statement id)."""
        placed = self.recorder.last_appended if rows else {}
        result: list[Outcome] = []
        answered: set[UUID] = set()
        for i, o in enumerate(outcomes):
            if o is None:
                st = envs[i].statement
                position, leaf = placed[st.id]
                row = rows[st.id]  # type: ignore[index]
                o = self._with_window(Receipt(st.id, st.type, position, leaf, row.recorded_at,
                                              replay=st.id in answered, outcome=row.outcome), st)
                answered.add(st.id)
            result.append(o)
        return result

    def _with_window(self, receipt: Receipt, st: Statement) -> Receipt:
        """A key revocation's receipt lists the compromise window: what the key signed that was recorded, or
        dated, from ``effective_at`` until the revocation."""
        if st.type != "key.revoked":
            return receipt
        window = self.compromise_window(st.values["key_id"], st.values["effective_at"], receipt.position)
        return dataclasses.replace(receipt, compromise_window=window)

    def key_compromise(self, key_id: str, since: datetime | None, after: int, until: int | None) -> dict[str, Any]:
        """For an auditor: a key, its revocation if any, and the entries of its compromise window (from
        ``since``, by default the revocation's ``effective_at`` or, for a key not revoked, its ``valid_from``;
        up to the revocation or, for a key not revoked, ``until``), a page after position ``after``."""
        authority = self.authority()
        record = authority.registry.keys.get(key_id) if authority is not None else None
        if record is None:
            return {"key_id": key_id, "registered": False, "entries": []}
        revoked_at = self._revocation_position(key_id) if record.revoked_at is not None else None
        start = since or record.revoked_at or record.valid_from
        before = revoked_at if revoked_at is not None else (until or (self.recorder.max_notification_id() or 0) + 1)
        entries = self.compromise_window(key_id, start, before, after)
        page: dict[str, Any] = {
            "key_id": key_id, "registered": True, "department": record.department,
            "valid_from": format_datetime(record.valid_from), "revoked": record.revoked_at is not None,
            "effective_at": format_datetime(record.revoked_at) if record.revoked_at else None,
            "revocation_position": revoked_at, "from": format_datetime(start), "entries": entries,
        }
        if len(entries) == self.WINDOW_LIMIT:
            page["next_after"] = entries[-1]["position"]
        return page

    def _revocation_position(self, key_id: str) -> int | None:
        for ev in self.events.get(AUTHORITY_ID):
            if isinstance(ev, Authority.KeyRevoked):
                statement = orjson.loads(ev.statement)
                if statement["key_id"] == key_id:
                    statement_id = UUID(statement["id"])
                    return self.recorder.find_entries([statement_id])[statement_id].position
        return None

    # At most this many entries of a compromise window are listed (the auditor's scope pages on).
    WINDOW_LIMIT = 1000

    def compromise_window(self, key_id: str, since: datetime, before: int,
                          after: int = 0) -> list[dict[str, Any]]:
        """Entries signed with ``key_id`` at positions in (``after``, ``before``) that were recorded or dated
        from ``since`` on, in ledger order, at most ``WINDOW_LIMIT``."""
        # An entry dated from ``since`` on was recorded at most the allowed skew before it.
        recorded_from = format_datetime(since - self.max_clock_skew)
        out: list[dict[str, Any]] = []
        while len(out) < self.WINDOW_LIMIT:
            page = self.recorder.entries_signed_with(key_id, after, before, recorded_from, self.WINDOW_LIMIT)
            for leaf, position, statement_id, recorded_at, stored in page:
                body = orjson.loads(self.mapper.to_domain_event(stored).statement)
                if recorded_at >= format_datetime(since) or parse_datetime(body["issued_at"]) >= since:
                    out.append({"leaf_index": leaf, "position": position, "statement_id": str(statement_id),
                                "type": body["type"], "issued_at": body["issued_at"], "recorded_at": recorded_at})
            if len(page) < self.WINDOW_LIMIT:
                break
            after = page[-1].position
        return out[:self.WINDOW_LIMIT]

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

    def _verify(self, env: Envelope, authority: Authority | None) -> None:
        st = env.statement
        pinned = self.authority_public_key
        genesis = authority is None or not authority.authority_has_key()
        if genesis:
            if pinned is None or env.key_id != key_id_for(pinned):
                raise AuthenticationError(
                    "the ledger is not initialised: only the authority key may found it"
                    if authority is None else f"key {env.key_id} is not registered"
                )
            verify_signature(pinned, st.canonical, env.signature)
            return
        assert authority is not None
        record = authority.registry.key_for(env.key_id, st.issuer, st.issued_at)
        if not self._checked_ahead(env, record.public_key):
            verify_signature(record.public_key, st.canonical, env.signature)

    def _decide_authority(
        self, authority: Authority | None, env: Envelope, now: datetime
    ) -> tuple[Authority, Authority]:
        st = env.statement
        self._verify(env, authority)
        entry = entry_fields(st, env.key_id, env.signature, now)
        if authority is None:
            v = st.values
            if st.type != "department.registered" or "authority" not in v.get("roles", []) or v["department"] != st.issuer:
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
        queries.check_shape(st)
        outcome = queries.decide(dept, st, now, self.max_clock_skew)
        return Query._create(Query.Requested, id=st.id, outcome=outcome, **entry_fields(st, env.key_id, env.signature, now))

    def _decide_record(
        self, authority: Authority | None, env: Envelope, now: datetime, touched: dict[UUID, Aggregate]
    ) -> CreditRecord:
        st = env.statement
        authority, dept = self._issuer(authority, env)
        catalogue = authority.catalogue
        assert catalogue is not None
        entry = entry_fields(st, env.key_id, env.signature, now)
        v = st.values
        if st.type == "record.submitted":
            item = catalogue.item(v["item"])
            if item.code not in dept.items:
                raise ForbiddenError(f"department {st.issuer} may not submit records of catalogue item {item.code}")
            if not item.collectable:
                raise RuleError(f"catalogue item {item.code} is not collected (not recorded by regulation)")
            if item.kind == "statement":
                raise RuleError("a subject's statement is added with statement.added")
            if "valid_until" in v and item.kind != "positive":
                raise ValidationError("valid_until: only positive records have a validity period")
            check_details(v.get("details", {}), item, catalogue)
            check_record_dates(st.body, st.issued_at.date())
            check_valid_until(st.body, item, catalogue)
            return CreditRecord._create(
                CreditRecord.Submitted, id=st.id, catalogue_version=catalogue.version,
                item=item_snapshot(item, catalogue), expires_on=expires_on(st.body, item, catalogue), **entry
            )
        if st.type in ("objection.filed", "statement.added") and "service_window" not in dept.roles:
            raise ForbiddenError(f"{st.type} is filed through a service-window department; {st.issuer} is not one")
        record_id = v["record_id"]
        record = touched.get(record_id)
        if record is None:
            record = self.record(record_id)
        if not isinstance(record, CreditRecord):
            raise NotFoundError(f"no record {record_id}")
        record.decide(st, entry, catalogue)
        return record
