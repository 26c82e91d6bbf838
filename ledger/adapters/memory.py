"""The ledger in memory: the library's plain-Python (POPO) recorder, with the entry rows kept beside the events.

For tests and tools that need the ledger's rules without a database. The entries follow the SQL tables'
rules: one per event, leaf indexes dense in position order, a statement id used once (a second use is an
``IntegrityError``, as a unique constraint would raise). Events and entries change together under the
library's lock, which the reads take too.

``Ledger()`` selects this recorder on the library's default (in-memory) backend; ``PERSISTENCE_MODULE``
may also name this module, whose one factory is ``MemoryLedgerFactory``.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

# The factory's base is reached through its module: the library finds a persistence module's factory as
# the one factory class among the module's names.
from eventsourcing import popo
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.utils import resolve_topic

from ledger.adapters.entries import (
    SIGNED_WITH_LIMIT, EntryRow, EntryStore, Placement, SignedEntry, entries_of, placed_in_order,
)


class MemoryLedgerRecorder(popo.POPOApplicationRecorder, EntryStore):
    """In-memory application recorder keeping an entry row per event (``entries``, by aggregate id and
    version, passed to ``insert_events``), which returns each event's ``Placement``."""

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[EntryRow] = []  # by leaf index
        self._by_statement: dict[UUID, EntryRow] = {}
        self._by_key: dict[str, list[EntryRow]] = defaultdict(list)  # in position order

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        ids = [row.statement_id for row in entries_of(stored_events, kwargs.get("entries"))]
        taken = set(ids) & self._by_statement.keys()
        if taken or len(set(ids)) < len(ids):
            raise IntegrityError(f"statement id already in the ledger: {sorted(map(str, taken)) or ids}")

    def _update_table(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> list[Placement]:
        rows = entries_of(stored_events, kwargs.get("entries"))
        placed = placed_in_order(rows, super()._update_table(stored_events, **kwargs) or [], len(self._entries))
        for p, row in sorted(zip(placed, rows, strict=True), key=lambda pr: pr[0].leaf_index):
            entry = dataclasses.replace(row, leaf_index=p.leaf_index, position=int(p))
            self._entries.append(entry)
            self._by_statement[entry.statement_id] = entry
            if entry.key_id is not None:
                self._by_key[entry.key_id].append(entry)
        return placed

    def find_entries(self, statement_ids: Iterable[UUID]) -> dict[UUID, EntryRow]:
        """Entry rows of the given statement ids that are in the ledger."""
        with self._database_lock:
            return {sid: self._by_statement[sid] for sid in statement_ids if sid in self._by_statement}

    def count_entries(self) -> int:
        """Number of statements in the ledger."""
        with self._database_lock:
            return len(self._entries)

    def entries_signed_with(self, key_id: str, after: int, before: int, recorded_from: str,
                            limit: int = SIGNED_WITH_LIMIT) -> list[SignedEntry]:
        """Entries signed with ``key_id`` at positions in (``after``, ``before``) recorded from
        ``recorded_from`` on, in position order, with their stored events."""
        found: list[SignedEntry] = []
        with self._database_lock:
            signed = self._by_key.get(key_id, [])
            for entry in signed[bisect.bisect_right(signed, after, key=lambda e: e.position):]:
                if entry.position >= before or len(found) == limit:
                    break
                if entry.recorded_at >= recorded_from:
                    stored = self._stored_events[entry.position - 1]
                    found.append(SignedEntry(entry.leaf_index, entry.position, entry.statement_id,
                                             entry.recorded_at, stored))
        return found


class MemoryLedgerFactory(popo.POPOFactory):
    """The library's in-memory factory whose application recorder is ``MemoryLedgerRecorder`` (or the
    class ``APPLICATION_RECORDER_TOPIC`` names, as the SQL factories allow)."""

    def application_recorder(self) -> ApplicationRecorder:
        topic = self.env.get(self.APPLICATION_RECORDER_TOPIC)
        recorder_class: type[ApplicationRecorder] = resolve_topic(topic) if topic else MemoryLedgerRecorder
        return recorder_class()
