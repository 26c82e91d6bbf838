"""Signed checkpoints of the transparency log (C2SP tlog-checkpoint in a C2SP signed note).

Each checkpoint commits to the root of the first ``size`` leaves; all are kept, so an auditor can
check any two for consistency. A log key or origin other than the ones that signed the stored checkpoints
is refused when the checkpointer is made: auditors pin the verifier key, and a ledger that went on under
another key would present them a second, unverifiable log.
"""

from __future__ import annotations

from typing import Any

from dataclasses import dataclass
from datetime import datetime, timezone

from keys import KeyFileError, KeyPair
from ledger.log.note import (NoteError, UnverifiedNoteError, format_checkpoint, open_note, parse_checkpoint, sign_note,
                         verifier_key_string)
from ledger.format.statements import format_datetime
from projections.logtree import LogTree
from projections.store import Store


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as stored: its size, root, signed note and when it was made."""

    size: int
    root: bytes
    note: str
    created_at: str


class CheckpointKeyError(KeyFileError):
    """The log key or origin is not the one that signed the ledger's checkpoints."""


class Checkpointer:
    """Makes, stores and serves signed checkpoints with the log key.

    Made over a ledger that has checkpoints, it first checks that its key and origin signed the latest
    one (``check_key``), and refuses to be made otherwise.
    """

    def __init__(self, store: Store, tree: LogTree, origin: str, log_key: KeyPair,
                 key_file: str = "keys/log.pem") -> None:
        self.store = store
        self.tree = tree
        self.origin = origin
        self.log_key = log_key
        self.key_file = key_file
        self.check_key()

    def check_key(self) -> None:
        """Raise CheckpointKeyError (one line naming the key file or the origin, and what to do) unless the
        latest stored checkpoint verifies with this log key and has this origin; nothing to check on a log
        without checkpoints."""
        latest = self.latest()
        if latest is None:
            return
        body = latest.note[: latest.note.rfind("\n\n") + 1]
        try:
            origin = parse_checkpoint(body).origin
        except NoteError as exc:
            raise CheckpointKeyError(f"the latest checkpoint (size {latest.size}) is malformed: {exc}") from None
        if origin != self.origin:
            raise CheckpointKeyError(
                f"this ledger's checkpoints have the log origin {origin!r}, not {self.origin!r}: set "
                f"CREDIT_LEDGER_LOG_ORIGIN={origin} (auditors pin the origin with the log's verifier key)")
        try:
            open_note(latest.note, self.verifier_key)
        except UnverifiedNoteError:
            raise CheckpointKeyError(
                f"{self.key_file} is not the log key that signed this ledger's checkpoints (latest: size "
                f"{latest.size}); put the original {self.key_file} back (mode 0600): auditors pin its verifier "
                "key, and checkpoints under another key would not verify") from None
        except NoteError as exc:
            raise CheckpointKeyError(f"the latest checkpoint (size {latest.size}) does not verify with "
                                     f"{self.key_file}: {exc}") from None

    @property
    def verifier_key(self) -> str:
        """The verifier key string ``origin+keyid+base64(0x01||pubkey)`` auditors pin."""
        return verifier_key_string(self.origin, self.log_key.public_key)

    def _row(self, row: tuple[Any, ...]) -> StoredCheckpoint:
        return StoredCheckpoint(int(row[0]), bytes(row[1]), row[2], row[3])

    def latest(self) -> StoredCheckpoint | None:
        """The newest checkpoint, if any."""
        rows = self.store.query("SELECT size, root, note, created_at FROM log_checkpoints ORDER BY size DESC LIMIT 1")
        return self._row(rows[0]) if rows else None

    def at(self, size: int) -> StoredCheckpoint | None:
        """The checkpoint of exactly this size, if one was made."""
        rows = self.store.query("SELECT size, root, note, created_at FROM log_checkpoints WHERE size = %s", (size,))
        return self._row(rows[0]) if rows else None

    def page(self, after: int = -1, limit: int = 100) -> list[StoredCheckpoint]:
        """Checkpoints with size above ``after``, smallest first."""
        rows = self.store.query(
            "SELECT size, root, note, created_at FROM log_checkpoints WHERE size > %s ORDER BY size LIMIT %s",
            (after, limit))
        return [self._row(r) for r in rows]

    def make(self) -> StoredCheckpoint | None:
        """Sign and store a checkpoint of the tree as it is now, if it grew since the last one."""
        size = self.tree.size()
        latest = self.latest()
        if size == 0 or (latest is not None and latest.size >= size):
            return None
        root = self.tree.root(size)
        note = sign_note(format_checkpoint(self.origin, size, root), self.origin, self.log_key.private_key)
        created = format_datetime(datetime.now(timezone.utc))
        with self.store.transaction() as tx:
            tx.execute(
                "INSERT INTO log_checkpoints (size, root, note, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (size) DO NOTHING", (size, root, note, created))
        return self.at(size)
