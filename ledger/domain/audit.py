"""The auditor's verification, entry by entry, with no trust in the server. Pure code.

Feed it the ledger's entries in leaf order and its checkpoints in size order; it keeps only the
key registry and the tree's right edge (O(log n) hashes), so memory stays flat however long the
log. Each check raises ``AuditFailure`` naming the first bad entry or checkpoint:

1. leaf indexes are dense from 0 and positions strictly increase;
2. the statement text is its own RFC 8785 canonical form and passes its type's schema;
3. the statement names this ledger (its log origin), and its signature verifies with the key the registry
   (replayed from the authority's own statements, rooted in the authority public key given to the auditor)
   held for the issuer at ``issued_at`` at that point of the ledger: a key whose revocation came before the
   entry signs nothing, whatever the entry's ``issued_at``; no key of small order is registered;
4. the leaf hash recomputed from the entry equals the one the ledger stored (when given);
5. each checkpoint's signature verifies with the log's verifier key, and its root equals the root
   recomputed from all leaves up to its size; so every checkpoint is consistent with every later one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple

import orjson

from keys import (
    KeyError_,
    KeyRegistry,
    key_id_for,
    public_key_from_b64,
    public_key_problem,
    verify_signature,
)
from ledger.domain import queries
from ledger.format.canonical import canonical_bytes
from ledger.log.leaves import entry_leaf_hash
from ledger.errors import LedgerError
from ledger.log.merkle import StreamingTreeBuilder
from ledger.log.note import NoteError, open_checkpoint
from ledger.domain.registry_changes import apply_authority_statement
from ledger.format.statements import AUTHORITY_TYPES, parse_statement
from ledger.format.times import parse_datetime


class AuditEntry(NamedTuple):
    """One ledger entry as the auditor receives it (from a database or a bundle).

    A named tuple: cheap to build and, as ``tuple(entry)``, cheap to send to another process.
    """

    leaf_index: int
    position: int
    statement: str
    key_id: str
    signature: str
    recorded_at: str
    stored_leaf_hash: bytes | None = None
    outcome: dict[str, Any] | None = None


class AuditFailure(Exception):
    """The history does not verify; the message names the entry or checkpoint and what is wrong."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what


@dataclass
class AuditReport:
    """What was checked."""

    entries: int = 0
    checkpoints: int = 0
    root: bytes = b""
    authorities: list[str] = field(default_factory=list)


_AUTHORITY_MARKS = tuple(f'"type":"{t}"' for t in AUTHORITY_TYPES)


def changes_registry(entry: AuditEntry) -> bool:
    """True if the entry may be an authority statement (those change what later entries are checked with).

    Canonical JSON spells a type as ``"type":"..."`` exactly; a non-canonical entry fails its check.
    """
    statement = entry.statement
    for mark in _AUTHORITY_MARKS:
        if mark in statement:
            return True
    return False


def _where(entry: AuditEntry) -> str:
    return f"leaf {entry.leaf_index} (position {entry.position})"


class EntryChecker:
    """Checks one entry on its own, given the key registry as it stood before it (no tree, no order)."""

    def __init__(self, authority_public_key: bytes, registry: KeyRegistry, authority_code: str | None,
                 founding: bool, origin: str | None = None) -> None:
        self.authority_public_key = authority_public_key
        self.registry = registry
        self.authority_code = authority_code
        self.founding = founding
        self.origin = origin

    def check(self, entry: AuditEntry) -> tuple[bytes, Any]:
        """Return (leaf hash, parsed statement), or raise AuditFailure naming the entry."""
        try:
            body = orjson.loads(entry.statement)
        except orjson.JSONDecodeError as exc:
            raise AuditFailure(_where(entry), f"statement does not parse: {exc}") from None
        data = entry.statement.encode("utf-8")
        try:
            st = parse_statement(body)  # its canonical bytes are computed once, here
        except LedgerError as exc:
            # the statement fails; the canonical form is the first thing an auditor checks
            try:
                canonical = canonical_bytes(body)
            except LedgerError as inner:
                raise AuditFailure(_where(entry), f"statement does not parse: {inner}") from None
            if canonical != data:
                raise AuditFailure(_where(entry), "statement bytes are not in RFC 8785 canonical form") from None
            raise AuditFailure(_where(entry), f"statement does not parse: {exc}") from None
        if st.canonical != data:
            raise AuditFailure(_where(entry), "statement bytes are not in RFC 8785 canonical form")
        if (st.type == "query.requested") != (entry.outcome is not None):
            raise AuditFailure(self._where(entry, st),
                               "a query entry, and only a query entry, carries the ledger's decision")
        try:
            computed = entry_leaf_hash(data, entry.key_id, entry.signature, entry.recorded_at, entry.outcome)
        except (ValueError, TypeError) as exc:
            raise AuditFailure(self._where(entry, st), str(exc)) from None
        if self.origin is not None and st.values["ledger"] != self.origin:
            raise AuditFailure(self._where(entry, st), f"the statement is for the ledger {st.values['ledger']!r}, "
                                                       f"not for this one ({self.origin!r})")
        self._verify_signature(st, entry, data)
        if entry.stored_leaf_hash is not None and entry.stored_leaf_hash != computed:
            raise AuditFailure(self._where(entry, st), "the stored leaf hash differs from the hash of the stored entry")
        if st.type in AUTHORITY_TYPES and self.authority_code is not None and st.issuer != self.authority_code:
            raise AuditFailure(self._where(entry, st),
                               f"{st.type} issued by {st.issuer}, not by the authority {self.authority_code}")
        if st.type == "query.requested":
            self._check_query(st, entry, self._where(entry, st))
        if st.type == "key.added":
            try:
                weak = public_key_problem(public_key_from_b64(st.values["public_key"]))
            except ValueError as exc:
                weak = str(exc)
            if weak is not None:
                raise AuditFailure(self._where(entry, st), f"key.added: {weak}")
        return computed, st

    @staticmethod
    def _where(entry: AuditEntry, st: Any) -> str:
        return f"{_where(entry)}, statement {st.id}"

    def _verify_signature(self, st, entry: AuditEntry, data: bytes) -> None:  # type: ignore[no-untyped-def]
        try:
            if self.founding:
                if entry.key_id != key_id_for(self.authority_public_key):
                    raise AuditFailure(self._where(entry, st), "founding statement not signed by the given authority key")
                verify_signature(self.authority_public_key, data, entry.signature)
            else:
                record = self.registry.key_for(entry.key_id, st.issuer, st.issued_at)
                verify_signature(record.public_key, data, entry.signature)
        except KeyError_ as exc:
            raise AuditFailure(self._where(entry, st), f"signature: {exc}") from None

    def _check_query(self, st, entry: AuditEntry, where: str) -> None:  # type: ignore[no-untyped-def]
        """An accepted query must be one the policy accepts (freshness aside: its bound is a setting)."""
        outcome = entry.outcome or {}
        if outcome.get("status") not in ("accepted", "refused"):
            raise AuditFailure(where, f"query outcome {outcome!r} is not accepted or refused")
        if outcome["status"] == "accepted":
            dept = self.registry.departments.get(st.issuer)
            if dept is None:
                raise AuditFailure(where, f"query accepted from unregistered department {st.issuer}")
            verdict = queries.decide(dept, st, parse_datetime(entry.recorded_at), timedelta(days=36500))
            if verdict["status"] != "accepted":
                raise AuditFailure(where, f"query accepted although the policy refuses it: {verdict['reason']}")


class Auditor:
    """Streaming verifier of entries and checkpoints."""

    def __init__(self, authority_public_key: bytes, log_verifier_key: str, origin: str | None = None) -> None:
        self.authority_public_key = authority_public_key
        self.log_verifier_key = log_verifier_key
        self.origin = origin
        self.registry = KeyRegistry()
        self.authority_code: str | None = None
        self.tree = StreamingTreeBuilder()
        self.last_position = 0
        self.report = AuditReport()
        self._checkpoints: Iterator[str] = iter(())
        self._pending: tuple[int, bytes, str] | None = None

    def expect_checkpoints(self, notes: Iterable[str]) -> None:
        """Checkpoint notes in increasing size; each is checked when the tree reaches its size."""
        self._checkpoints = iter(notes)
        self._next_checkpoint()

    def _next_checkpoint(self) -> None:
        self._pending = None
        for note in self._checkpoints:
            try:
                cp, _ = open_checkpoint(note, self.log_verifier_key, self.origin)
            except NoteError as exc:
                raise AuditFailure("checkpoint", f"signature or format does not verify: {exc}") from None
            self._pending = (cp.size, cp.root, note)
            return

    def _check_checkpoints(self) -> None:
        while self._pending is not None and self._pending[0] <= self.tree.size:
            size, root, _ = self._pending
            if size < self.tree.size:
                raise AuditFailure(f"checkpoint of size {size}", "checkpoints are not in increasing size order")
            if root != self.tree.root():
                raise AuditFailure(
                    f"checkpoint of size {size}",
                    "its root does not match the root recomputed from the ledger's first "
                    f"{size} entries: the history was changed after it was signed, or the log forked",
                )
            self.report.checkpoints += 1
            self._next_checkpoint()

    @property
    def founding(self) -> bool:
        """True until the authority's own key is registered (entries then verify with the pinned key)."""
        return self.authority_code is None or not any(
            k.department == self.authority_code for k in self.registry.keys.values())

    def checker(self) -> EntryChecker:
        """A checker holding the registry as it is now (for checking entries elsewhere, e.g. in parallel)."""
        return EntryChecker(self.authority_public_key, self.registry, self.authority_code, self.founding, self.origin)

    def add(self, entry: AuditEntry) -> None:
        """Check one entry (the next in leaf order)."""
        self._check_place(entry)
        computed, st = self.checker().check(entry)
        self._apply(st)
        self._append(entry, computed)

    def add_checked(self, entry: AuditEntry, computed: bytes) -> None:
        """Take an entry that a ``checker()`` snapshot already checked (one that changes no registry state)."""
        self._check_place(entry)
        self._append(entry, computed)

    def _check_place(self, entry: AuditEntry) -> None:
        expected = self.tree.size
        if entry.leaf_index != expected:
            raise AuditFailure(_where(entry), f"expected leaf {expected}: an entry is missing or out of order")
        if entry.position <= self.last_position:
            raise AuditFailure(_where(entry), f"position does not follow the previous one ({self.last_position})")

    def _append(self, entry: AuditEntry, computed: bytes) -> None:
        self.tree.append(computed)
        self.last_position = entry.position
        self.report.entries += 1
        self._check_checkpoints()

    def _apply(self, st) -> None:  # type: ignore[no-untyped-def]
        if st.type not in AUTHORITY_TYPES:
            return
        department = apply_authority_statement(self.registry, st.type, st.body)
        if department is not None and "authority" in department.roles and self.authority_code is None:
            self.authority_code = department.code
            self.report.authorities.append(department.code)

    def add_checkpoint(self, note: str) -> None:
        """Check a checkpoint now: its size must be the number of entries added so far."""
        self._checkpoints = iter([note])
        self._next_checkpoint()
        if self._pending is not None and self._pending[0] != self.tree.size:
            raise AuditFailure(f"checkpoint of size {self._pending[0]}",
                               f"found after entry {self.tree.size - 1}; a bundle places it after entry {self._pending[0] - 1}")
        self._check_checkpoints()

    def finish(self) -> AuditReport:
        """Check that no checkpoint claims more entries than there are; return the report."""
        if self._pending is not None:
            raise AuditFailure(f"checkpoint of size {self._pending[0]}",
                               f"it covers more entries than the ledger holds ({self.tree.size})")
        self.report.root = self.tree.root()
        return self.report
