"""What every ledger recorder keeps beside the events: one entry row per appended statement.

An entry gives its statement a dense leaf index (0, 1, 2, ... in the order of the events' positions,
assigned under the ledger's append lock, so rolled-back inserts leave no holes), makes a statement id
usable once across the whole ledger, and keeps the digest and leaf hash needed to answer a
re-submission or a proof without decoding events.

The application passes ``entries={(originator_id, version): EntryRow}`` to ``insert_events`` (directly or
through ``save()``). The recorder answers with a ``Placement`` per event: the event's position, as the
library expects of ``insert_events``, carrying the leaf index and statement id its entry got.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from eventsourcing.persistence import ProgrammingError, StoredEvent


@dataclass(frozen=True)
class EntryRow:
    """What the ledger keeps about one appended statement, beside its event."""

    statement_id: UUID
    statement_digest: bytes
    leaf_hash: bytes
    recorded_at: str
    leaf_index: int = -1
    position: int = -1
    outcome: dict[str, Any] | None = None
    key_id: str | None = None

    @property
    def outcome_text(self) -> str | None:
        return None if self.outcome is None else orjson.dumps(self.outcome, option=orjson.OPT_SORT_KEYS).decode()


class SignedEntry(NamedTuple):
    """An entry found by the key that signed it, with its stored event."""

    leaf_index: int
    position: int
    statement_id: UUID
    recorded_at: str
    stored: StoredEvent


class Placement(int):
    """Where an appended event landed: the value is its position (notification id), which is what the
    library's recorders return from ``insert_events`` and put in each recording's notification; the entry
    written with it adds its leaf index and statement id."""

    leaf_index: int
    statement_id: UUID

    def __new__(cls, position: int, leaf_index: int, statement_id: UUID) -> Placement:
        placed = super().__new__(cls, position)
        placed.leaf_index = leaf_index
        placed.statement_id = statement_id
        return placed

    @property
    def position(self) -> int:
        return int(self)

    def __getnewargs__(self) -> tuple[int, int, UUID]:  # type: ignore[override]
        return int(self), self.leaf_index, self.statement_id

    def __repr__(self) -> str:
        return f"Placement(position={int(self)}, leaf_index={self.leaf_index}, statement_id={self.statement_id})"


def placements(positions: Sequence[int] | None) -> dict[UUID, Placement]:
    """The placements a ledger recorder returned for an append, by statement id (ProgrammingError if the
    recorder returned bare positions: it keeps no entries)."""
    found: dict[UUID, Placement] = {}
    for placed in positions or ():
        if not isinstance(placed, Placement):
            raise ProgrammingError("the recorder placed no ledger entries: use a ledger recorder")
        found[placed.statement_id] = placed
    return found


SIGNED_WITH_LIMIT = 100_000


def outcome_of(text: str | None) -> dict[str, Any] | None:
    """A stored outcome (canonical JSON text) as a dict."""
    return None if text is None else orjson.loads(text)


def entries_of(stored_events: Sequence[StoredEvent], entries: Mapping[tuple[UUID, int], EntryRow] | None
               ) -> list[EntryRow]:
    """Each event's entry row (``entries`` by aggregate id and version), in the events' order."""
    if entries is None:
        raise ProgrammingError("ledger events must be saved with their entries")
    rows = []
    for stored in stored_events:
        key = (UUID(str(stored.originator_id)), stored.originator_version)
        try:
            rows.append(entries[key])
        except KeyError:
            raise ProgrammingError(f"no ledger entry given for event {key}") from None
    return rows


def placed_in_order(rows: Sequence[EntryRow], positions: Sequence[int], first_leaf: int) -> list[Placement]:
    """Placements of entry rows (in their events' order) at the given positions, leaf indexes continuing
    densely from ``first_leaf`` in position order."""
    ranked = sorted(range(len(rows)), key=positions.__getitem__)
    leaves = [0] * len(rows)
    for rank, i in enumerate(ranked):
        leaves[i] = first_leaf + rank
    return [Placement(positions[i], leaves[i], row.statement_id) for i, row in enumerate(rows)]


class EntryStore(ABC):
    """The look-ups every ledger recorder answers from its entries."""

    @abstractmethod
    def find_entries(self, statement_ids: Iterable[UUID]) -> dict[UUID, EntryRow]:
        """Entry rows of the given statement ids that are in the ledger."""

    @abstractmethod
    def count_entries(self) -> int:
        """Number of statements in the ledger."""

    @abstractmethod
    def entries_signed_with(self, key_id: str, after: int, before: int, recorded_from: str,
                            limit: int = SIGNED_WITH_LIMIT) -> list[SignedEntry]:
        """Entries signed with ``key_id`` at positions in (``after``, ``before``) recorded from
        ``recorded_from`` on, in position order, with their stored events."""
