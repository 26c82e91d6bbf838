"""The transparency log's stored tree: perfect-subtree hashes over the ledger's entries.

``LogTree.catch_up`` reads new leaf hashes from ``ledger_entries`` in leaf order (the dense index
the ledger assigned when it appended them) and stores every perfect subtree they complete, with its
position, in one transaction. Proofs then read O(log n) stored hashes (``ledger.log.merkle``).

The tree follows the leaf sequence, not the events: its tracked position (the library's ``Tracking``
under the name ``log_tree``) is its size, the number of leaves integrated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from ledger.log import merkle
from projections.store import Store, Tx, scan
from projections.tracking import TrackedView

NAME = "log_tree"
T = TypeVar("T")

SQLITE_DDL = [
    ("CREATE TABLE IF NOT EXISTS log_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID"),
    ("CREATE TABLE IF NOT EXISTS log_checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL,"
    " created_at TEXT NOT NULL)"),
    ("CREATE TRIGGER IF NOT EXISTS log_checkpoints_no_update BEFORE UPDATE ON log_checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'ledger tables are append-only: UPDATE on log_checkpoints refused'); END"),
    ("CREATE TRIGGER IF NOT EXISTS log_checkpoints_no_delete BEFORE DELETE ON log_checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'ledger tables are append-only: DELETE on log_checkpoints refused'); END"),
]


class _Reader:
    """``merkle.HashReader`` over ``ledger_entries`` (level 0) and ``log_nodes`` (above)."""

    def __init__(self, q: Tx | Store, kind: str) -> None:
        self.run = q.execute if hasattr(q, "execute") else q.query
        self.kind = kind

    def read_hashes(self, addrs: Sequence[tuple[int, int]]) -> list[bytes]:
        if not addrs:
            return []
        found: dict[tuple[int, int], bytes] = {}
        leaves = sorted({i for lv, i in addrs if lv == 0})
        nodes = sorted({(lv, i) for lv, i in addrs if lv > 0})
        if self.kind == "postgres":
            # One statement of fixed shape (prepared once), whatever the number of addresses.
            rows = self.run(
                "SELECT 0, leaf_index, leaf_hash FROM ledger_entries WHERE leaf_index = ANY(%s::bigint[]) "
                "UNION ALL SELECT n.level, n.idx, n.hash FROM log_nodes n "
                "JOIN unnest(%s::smallint[], %s::bigint[]) AS a(level, idx) ON n.level = a.level AND n.idx = a.idx",
                (leaves, [lv for lv, _ in nodes], [i for _, i in nodes]))
            for lv, idx, h in rows:
                found[(int(lv), int(idx))] = bytes(h)
            return self._pick(found, addrs)
        parts: list[str] = []
        params: list[int] = []
        if leaves:
            parts.append("SELECT 0, leaf_index, leaf_hash FROM ledger_entries WHERE leaf_index IN ("
                         + ", ".join(["%s"] * len(leaves)) + ")")
            params += leaves
        if nodes:
            # Point lookups OR-ed together: both engines answer them from the primary key.
            parts.append("SELECT level, idx, hash FROM log_nodes WHERE "
                         + " OR ".join(["(level = %s AND idx = %s)"] * len(nodes)))
            params += [v for pair in nodes for v in pair]
        for lv, idx, h in self.run(" UNION ALL ".join(parts), params):
            found[(int(lv), int(idx))] = bytes(h)
        return self._pick(found, addrs)

    @staticmethod
    def _pick(found: dict[tuple[int, int], bytes], addrs: Sequence[tuple[int, int]]) -> list[bytes]:
        try:
            return [found[(lv, i)] for lv, i in addrs]
        except KeyError as exc:
            raise LookupError(f"the log tree has no stored hash at {exc.args[0]}") from None


class LogTree(TrackedView):
    """Stored perfect-subtree hashes and the proofs made from them."""

    name = NAME
    page = 20_000

    def __init__(self, store: Store) -> None:
        self.store = store
        self._known_size = 0  # the tree only grows: a size once seen needs no new look-up

    def size(self) -> int:
        """Leaves integrated so far."""
        self._known_size = max(self._known_size, self.store.position(NAME))
        return self._known_size

    def catch_up(self, batch: int = 20_000) -> int:
        """Integrate up to ``batch`` new leaves; return how many."""
        with self.store.transaction() as tx:
            tx.lock(NAME)
            size = tx.position(NAME)
            rows = tx.execute(
                "SELECT leaf_index, leaf_hash FROM ledger_entries WHERE leaf_index >= %s ORDER BY leaf_index LIMIT %s",
                (size, batch),
            )
            if not rows:
                return 0
            if int(rows[0][0]) != size or int(rows[-1][0]) != size + len(rows) - 1:
                raise RuntimeError(f"ledger_entries has a gap after leaf {size}: the ledger was altered")
            nodes = merkle.node_hashes_for_batch(size, [bytes(h) for _, h in rows], _Reader(tx, self.store.kind))
            tx.insert_many("log_nodes", ("level", "idx", "hash"), ("smallint", "bigint", "bytea"),
                           [(lv, i, h) for lv, i, h in nodes if lv > 0])
            tx.track(NAME, size + len(rows))
            return len(rows)

    def reset(self) -> None:
        """Drop the stored subtrees and the position (checkpoints are kept: they are history)."""
        with self.store.transaction() as tx:
            tx.lock(NAME)
            tx.execute("DELETE FROM log_nodes")
            tx.untrack(NAME)
        self._known_size = 0

    def digest(self) -> str:
        """SHA-256 over every stored subtree hash in address order, and the size."""
        h = hashlib.sha256(f"size {self.size()}\n".encode())
        for level, idx, node in scan(self.store, "SELECT level, idx, hash FROM log_nodes WHERE (level, idx) > (%s, %s) "
                                     "ORDER BY level, idx LIMIT %s", (-1, -1), lambda row: (row[0], row[1])):
            h.update(f"{level} {idx} ".encode() + bytes(node) + b"\n")
        return h.hexdigest()

    def _read(self, size: int, compute: Callable[[_Reader], T]) -> T:
        """Run a proof or root computation for a tree of ``size`` leaves. The size cache is only a hint:
        if stored hashes are missing (the tree was reset by a rebuild elsewhere), look the size up again."""
        self._check_size(size)
        try:
            return compute(_Reader(self.store, self.store.kind))
        except LookupError:
            self._known_size = 0
            self._check_size(size)  # raises ValueError if the tree is now smaller than asked for
            return compute(_Reader(self.store, self.store.kind))

    def root(self, size: int) -> bytes:
        """Root hash of the first ``size`` leaves."""
        return self._read(size, lambda r: merkle.tree_root(size, r))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        if not 0 <= index < size:
            raise ValueError(f"leaf index {index} is not below tree size {size}")
        return self._read(size, lambda r: merkle.inclusion_proof(index, size, r))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 consistency proof between tree sizes ``first`` and ``second``."""
        if not 0 <= first <= second:
            raise ValueError(f"first size {first} must be from 0 to the second size {second}")
        return self._read(second, lambda r: merkle.consistency_proof(first, second, r))

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of leaves ``start`` to ``end - 1``."""
        rows = self.store.query(
            "SELECT leaf_index, leaf_hash FROM ledger_entries WHERE leaf_index >= %s AND leaf_index < %s "
            "ORDER BY leaf_index", (start, end))
        return [bytes(h) for _, h in rows]

    def leaf_index_of(self, statement_id: str) -> int | None:
        """Leaf index of a statement, if it is in the ledger."""
        rows = self.store.query("SELECT leaf_index FROM ledger_entries WHERE statement_id = %s", (statement_id,))
        return int(rows[0][0]) if rows else None

    def _check_size(self, size: int) -> None:
        if 0 <= size <= self._known_size:
            return
        current = self.size()
        if not 0 <= size <= current:
            raise ValueError(f"tree size {size} is beyond the log's current size {current}")
