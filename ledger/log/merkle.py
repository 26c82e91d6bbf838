"""RFC 9162 section 2.1 Merkle tree hashes, proofs and proof verification.

Pure functions over bytes, in the style of Go's golang.org/x/mod/sumdb/tlog.
Storage sits behind the one-method :class:`HashReader` protocol. A stored hash
is addressed by ``(level, index)``: the perfect subtree of ``2**level`` leaves
covering leaves ``[index * 2**level, (index + 1) * 2**level)``. Level 0 holds
the leaf hashes. Every hash a proof needs is either one stored perfect subtree
or is composed from a few of them, so a proof reads O(log n) stored hashes in a
single ``read_hashes`` call. Verification functions raise :class:`ProofError`
and return ``None`` on success.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Protocol, Sequence

HASH_SIZE = 32
"""Size in bytes of every hash (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}): the root hash of the empty tree, SHA-256 of the empty string."""

Addr = tuple[int, int]


class ProofError(ValueError):
    """A proof, root or hash failed verification; the message says which check."""


class HashReader(Protocol):
    """Storage of perfect-subtree hashes, addressed by ``(level, index)``."""

    def read_hashes(self, addrs: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return the stored hashes for ``addrs``, in the same order."""
        ...


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    """Combine perfect-subtree hashes (left to right, sizes decreasing)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _split(n: int) -> int:
    """Return the largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_addrs(lo: int, hi: int) -> list[Addr]:
    """Addresses of the perfect subtrees whose right fold is MTH(D[lo:hi]);
    ``lo`` is aligned to a power of two >= hi - lo, as in every RFC 9162 subtree."""
    addrs = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        addrs.append((level, lo >> level))
        lo += 1 << level
    return addrs


def _is_hash(h: object) -> bool:
    return isinstance(h, (bytes, bytearray)) and len(h) == HASH_SIZE


def _check_hash(h: bytes, what: str) -> None:
    if not _is_hash(h):
        raise ValueError(f"{what} must be {HASH_SIZE} bytes")


def _read(read: HashReader, addrs: list[Addr]) -> dict[Addr, bytes]:
    """One batched read of the distinct ``addrs``; checks the reader's answer."""
    wanted = list(dict.fromkeys(addrs))
    got = list(read.read_hashes(wanted)) if wanted else []
    if len(got) != len(wanted):
        raise ValueError(f"read_hashes returned {len(got)} hashes for {len(wanted)} addresses")
    for addr, h in zip(wanted, got):
        _check_hash(h, f"stored hash {addr}")
    return dict(zip(wanted, got))


def _ranges_to_hashes(ranges: list[tuple[int, int]], read: HashReader) -> list[bytes]:
    """MTH of every ``[lo, hi)`` in ``ranges`` using a single batched read."""
    per_range = [_range_addrs(lo, hi) for lo, hi in ranges]
    stored = _read(read, [a for addrs in per_range for a in addrs])
    return [_fold_right([stored[a] for a in addrs]) for addrs in per_range]


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return MTH over already-hashed leaves, iteratively in O(n) time."""
    builder = StreamingTreeBuilder()
    for h in hashes:
        builder.append(h)
    return builder.root()


def node_hashes_for_batch(
    start_index: int, leaf_hashes: Sequence[bytes], read: HashReader
) -> list[tuple[int, int, bytes]]:
    """Return ``(level, index, hash)`` for every perfect subtree completed by
    appending ``leaf_hashes`` as leaves ``start_index, start_index + 1, ...``.

    Only the stored right-edge subtrees of the first ``start_index`` leaves that
    the batch actually completes are read, in one call; hashes produced within
    the batch are kept in memory.
    """
    if start_index < 0:
        raise ValueError("start_index must be non-negative")
    for h in leaf_hashes:
        _check_hash(h, "leaf hash")
    end = start_index + len(leaf_hashes)
    # Right edge of the old tree: bit L of start_index set means the perfect
    # subtree (L, (start >> L) - 1) is complete; it is needed only if the batch
    # completes its parent at level L + 1.
    edge: list[Addr] = []
    for level in range(start_index.bit_length() - 1, -1, -1):
        if start_index >> level & 1:
            parent_end = ((start_index >> (level + 1)) + 1) << (level + 1)
            if end >= parent_end:
                edge.append((level, (start_index >> level) - 1))
    stored = _read(read, edge)
    stack: list[tuple[int, int, bytes]] = [(lv, ix, stored[(lv, ix)]) for lv, ix in edge]
    out: list[tuple[int, int, bytes]] = []
    for offset, h in enumerate(leaf_hashes):
        level, index = 0, start_index + offset
        out.append((level, index, bytes(h)))
        while index & 1:
            left_level, left_index, left = stack.pop()
            assert (left_level, left_index) == (level, index - 1)
            h = node_hash(left, h)
            level, index = level + 1, index >> 1
            out.append((level, index, h))
        stack.append((level, index, bytes(h)))
    return out


def new_node_hashes(index: int, leaf_hash: bytes, read: HashReader) -> list[tuple[int, int, bytes]]:
    """Return ``(level, index, hash)`` for every perfect subtree completed by
    appending leaf ``index`` (level 0 included); store them all."""
    return node_hashes_for_batch(index, [leaf_hash], read)


def tree_root(size: int, read: HashReader) -> bytes:
    """Return MTH of the first ``size`` leaves from O(log n) stored hashes."""
    if size < 0:
        raise ValueError("size must be non-negative")
    if size == 0:
        return EMPTY_ROOT
    return _ranges_to_hashes([(0, size)], read)[0]


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Subtree ranges of PATH(index, D[0:size]), leaf end first (RFC 9162 2.1.3.1)."""
    lo, hi, ranges = 0, size, []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(m: int, n: int) -> list[tuple[int, int]]:
    """Subtree ranges of PROOF(m, D[0:n]) for 0 < m < n (RFC 9162 2.1.4.1)."""
    lo, hi, whole, ranges = 0, n, True, []
    while m != hi:
        k = _split(hi - lo)
        if m <= lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, read: HashReader) -> list[bytes]:
    """Return the RFC 9162 inclusion proof PATH(index, D[0:size])."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} not in a tree of size {size}")
    return _ranges_to_hashes(_inclusion_ranges(index, size), read)


def consistency_proof(m: int, n: int, read: HashReader) -> list[bytes]:
    """Return the RFC 9162 consistency proof PROOF(m, D[0:n]).

    ``m == n`` gives the empty proof. ``m == 0 < n`` is refused: RFC 9162
    defines no proof from the empty tree (and verification refuses one).
    """
    if not 0 <= m <= n:
        raise ValueError(f"need 0 <= m <= n, got m={m} n={n}")
    if m == n:
        return []
    if m == 0:
        raise ValueError("no consistency proof from the empty tree")
    return _ranges_to_hashes(_consistency_ranges(m, n), read)


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, p in enumerate(proof):
        if not _is_hash(p):
            raise ProofError(f"proof element {i} is not a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Return the root implied by an inclusion proof (RFC 9162 2.1.3.2 steps 1-4)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    if not _is_hash(leaf_hash):
        raise ProofError(f"leaf hash is not a {HASH_SIZE}-byte hash")
    _check_proof(proof)
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check an RFC 9162 inclusion proof; raise ProofError on failure."""
    if root_from_inclusion_proof(leaf_hash, index, size, proof) != root:
        raise ProofError("inclusion proof does not lead to the given root")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check an RFC 9162 consistency proof; raise ProofError on failure.

    Equal sizes need an empty proof and equal roots (the empty tree's root
    must be EMPTY_ROOT). A proof from size 0 to a larger size is refused.
    """
    if not 0 <= size1 <= size2:
        raise ProofError(f"need 0 <= size1 <= size2, got size1={size1} size2={size2}")
    if size1 == size2:
        if proof:
            raise ProofError("sizes are equal but the proof is not empty")
        if root1 != root2:
            raise ProofError("sizes are equal but the roots differ")
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise ProofError("root of the empty tree is not EMPTY_ROOT")
        return
    if size1 == 0:
        raise ProofError("no consistency proof from the empty tree")
    if not proof:
        raise ProofError("consistency proof is empty")
    _check_proof(proof)
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: root1 is a node
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not lead to root1")
    if sr != root2:
        raise ProofError("consistency proof does not lead to root2")


class MemoryHashStore:
    """Dict-backed :class:`HashReader` holding every perfect-subtree hash."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._hashes: dict[Addr, bytes] = {}
        self.size = 0
        self.extend(leaf_hashes)

    def read_hashes(self, addrs: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return stored hashes for ``addrs``; KeyError names a missing one."""
        try:
            return [self._hashes[(a[0], a[1])] for a in addrs]
        except KeyError as e:
            raise KeyError(f"no stored hash at {e.args[0]}") from None

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash, store the subtrees it completes, return its index."""
        return self.extend([leaf_hash])

    def extend(self, leaf_hashes: Iterable[bytes]) -> int:
        """Append leaf hashes in order; return the index of the last one (or -1)."""
        batch = list(leaf_hashes)
        for level, index, h in node_hashes_for_batch(self.size, batch, self):
            self._hashes[(level, index)] = h
        self.size += len(batch)
        return self.size - 1

    def root(self, size: int | None = None) -> bytes:
        """Return the root of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        if size > self.size:
            raise ValueError(f"size {size} exceeds the stored {self.size} leaves")
        return tree_root(size, self)


class StreamingTreeBuilder:
    """Root of a growing tree from only the right-edge perfect-subtree hashes
    (O(log n) memory), e.g. for an offline auditor streaming millions of leaves."""

    def __init__(self) -> None:
        self._edge: list[bytes] = []  # perfect subtrees, sizes decreasing
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Append the next leaf hash."""
        _check_hash(leaf_hash, "leaf hash")
        h, n = bytes(leaf_hash), self._size
        while n & 1:  # each trailing 1 bit of the old size is a subtree to merge
            h, n = node_hash(self._edge.pop(), h), n >> 1
        self._edge.append(h)
        self._size += 1

    def root(self) -> bytes:
        """Return the root of the leaves appended so far (EMPTY_ROOT if none)."""
        return _fold_right(self._edge) if self._edge else EMPTY_ROOT
