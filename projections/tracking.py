"""Tracked positions of the views: each view writes its rows and its position in one transaction."""

from __future__ import annotations

from projections.store import Store, Tx


def get_position(q: Tx | Store, name: str) -> int:
    """A view's tracked position (0 if it has none)."""
    rows = (q.execute if hasattr(q, "execute") else q.query)(  # type: ignore[union-attr]
        "SELECT position FROM projection_positions WHERE name = %s", (name,))
    return int(rows[0][0]) if rows else 0


def set_position(tx: Tx, name: str, position: int) -> None:
    """Record a view's position (in the same transaction as its rows)."""
    tx.execute(
        "INSERT INTO projection_positions (name, position) VALUES (%s, %s) "
        "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        (name, position),
    )


class TrackedView:
    """What every view shares: its name, its store, its position and catching up all the way."""

    name: str
    store: Store

    def position(self) -> int:
        """The view's tracked position."""
        return get_position(self.store, self.name)

    def catch_up(self, batch: int = 1000) -> int:
        """Apply one batch; return how much was applied (0: caught up)."""
        raise NotImplementedError

    def catch_up_all(self) -> int:
        """Catch up until there is nothing new."""
        total = 0
        while n := self.catch_up():
            total += n
        return total
