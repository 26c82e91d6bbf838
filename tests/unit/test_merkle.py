"""Tests for ledger.log.merkle: upstream vectors, an RFC 9162 reference, properties."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from ledger.log import merkle
from ledger.log.merkle import (
    EMPTY_ROOT, MemoryHashStore, ProofError, StreamingTreeBuilder,
    consistency_proof, inclusion_proof, leaf_hash, new_node_hashes,
    node_hashes_for_batch, root_from_leaf_hashes, tree_root,
    verify_consistency, verify_inclusion,
)

# --- transparency-dev/merkle known-answer vectors ----------------------------

# Carried in the repository, with their licence and origin (tests/vectors/transparency-dev-merkle/README.md).
VECTORS = Path(os.environ.get("CREDIT_LEDGER_VECTORS")
               or Path(__file__).resolve().parents[1] / "vectors" / "transparency-dev-merkle")
VECTOR_FILES = sorted(VECTORS.rglob("*.json")) if VECTORS.is_dir() else []


def test_vector_files_present():
    assert VECTORS.is_dir(), f"vector directory missing: {VECTORS}"
    assert len(VECTOR_FILES) == 196


def _b64(s):
    return base64.b64decode(s, validate=True)


@pytest.mark.parametrize("path", VECTOR_FILES,
                         ids=[str(p.relative_to(VECTORS).with_suffix("")) for p in VECTOR_FILES])
def test_vector(path):
    v = json.loads(path.read_text())
    proof = [_b64(p) for p in v["proof"] or []]
    if "leafIdx" in v:  # 0-based in all 196 files here, despite the README's warning
        fn, args = verify_inclusion, (_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof, _b64(v["root"]))
    else:
        fn, args = verify_consistency, (v["size1"], v["size2"], proof, _b64(v["root1"]), _b64(v["root2"]))
    assert _verdict(fn, *args) is not v["wantErr"], v["desc"]  # failure means ProofError


# --- naive reference, straight from RFC 9162 2.1.1, 2.1.3.1, 2.1.4.1 ----------

def _h(b):
    return hashlib.sha256(b).digest()


def _k(n):  # largest power of two smaller than n (n > 1)
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d):
    if len(d) == 0:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path_ranges(m, lo, hi):
    """PATH(m, D[lo:hi]) as the (lo, hi) ranges whose MTHs form the proof."""
    if hi - lo == 1:
        return []
    k = _k(hi - lo)
    if m < lo + k:
        return ref_path_ranges(m, lo, lo + k) + [(lo + k, hi)]
    return ref_path_ranges(m, lo + k, hi) + [(lo, lo + k)]


def ref_subproof_ranges(m, lo, hi, b):
    """SUBPROOF(m, D[lo:hi], b) as ranges; m is an absolute leaf count."""
    if m == hi:
        return [] if b else [(lo, hi)]
    k = _k(hi - lo)
    if m <= lo + k:
        return ref_subproof_ranges(m, lo, lo + k, b) + [(lo + k, hi)]
    return ref_subproof_ranges(m, lo + k, hi, False) + [(lo, lo + k)]


def ref_path(m, d):
    return [ref_mth(d[a:b]) for a, b in ref_path_ranges(m, 0, len(d))]


def ref_proof(m, d):
    return [ref_mth(d[a:b]) for a, b in ref_subproof_ranges(m, 0, len(d), True)]


def _rebuild(known, lo, hi):
    """MTH(D[lo:hi]) from subtree hashes in ``known``; None if not determined."""
    if (lo, hi) in known:
        return known[(lo, hi)]
    if hi - lo <= 1:
        return None
    k = _k(hi - lo)
    left, right = _rebuild(known, lo, lo + k), _rebuild(known, lo + k, hi)
    return None if left is None or right is None else _h(b"\x01" + left + right)


def ref_verify_inclusion(lh, index, size, proof, root):
    """Reference verdict: each proof element is the MTH of its PATH subtree."""
    if not 0 <= index < size:
        return False
    ranges = ref_path_ranges(index, 0, size)
    if len(ranges) != len(proof):
        return False
    known = dict(zip(ranges, proof))
    known[(index, index + 1)] = lh
    return _rebuild(known, 0, size) == root


def ref_verify_consistency(m, n, proof, r1, r2):
    """Reference verdict: each proof element is the MTH of its SUBPROOF subtree."""
    if m == n:
        return not proof and r1 == r2 and (m > 0 or r1 == EMPTY_ROOT)
    if not 0 < m < n:
        return False
    ranges = ref_subproof_ranges(m, 0, n, True)
    if len(ranges) != len(proof):
        return False
    known = dict(zip(ranges, proof))
    if m & (m - 1) == 0:
        known[(0, m)] = r1
    return _rebuild(known, 0, m) == r1 and _rebuild(known, 0, n) == r2


def _verdict(fn, *args):
    try:
        fn(*args)
    except ProofError:
        return False
    return True


MAX_LEAVES = 3000
DATA = [b"leaf %d" % i for i in range(MAX_LEAVES)]
LEAVES = [leaf_hash(d) for d in DATA]
STORE = MemoryHashStore(LEAVES)  # prefixes of this store serve every smaller size
SMALL = 70


def test_hash_primitives():
    assert EMPTY_ROOT == _h(b"")
    assert leaf_hash(b"") == bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert merkle.node_hash(b"a", b"b") == _h(b"\x01ab")


def test_roots_match_reference_small():
    for n in range(SMALL + 1):
        want = ref_mth(DATA[:n])
        assert root_from_leaf_hashes(LEAVES[:n]) == want
        assert tree_root(n, STORE) == want


def test_inclusion_proofs_match_reference_small():
    for n in range(1, SMALL + 1):
        root = ref_mth(DATA[:n])
        for i in range(n):
            proof = inclusion_proof(i, n, STORE)
            assert proof == ref_path(i, DATA[:n]), (i, n)
            verify_inclusion(LEAVES[i], i, n, proof, root)


def test_consistency_proofs_match_reference_small():
    roots = [ref_mth(DATA[:n]) for n in range(SMALL + 1)]
    for n in range(1, SMALL + 1):
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, STORE)
            assert proof == (ref_proof(m, DATA[:n]) if m < n else []), (m, n)
            verify_consistency(m, n, proof, roots[m], roots[n])


def test_edge_cases():
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    assert consistency_proof(0, 0, STORE) == []
    assert inclusion_proof(0, 1, STORE) == []
    r3 = tree_root(3, STORE)
    for bad in [(0, 3, [], EMPTY_ROOT, r3), (3, 2, [], r3, r3), (3, 3, [r3], r3, r3), (0, 0, [], r3, r3)]:
        with pytest.raises(ProofError):
            verify_consistency(*bad)
    with pytest.raises(ProofError, match="not below tree size"):
        verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="32-byte"):
        verify_inclusion(LEAVES[0], 0, 2, [b"short"], r3)
    p, c, r5 = inclusion_proof(1, 5, STORE), consistency_proof(3, 5, STORE), tree_root(5, STORE)
    for proof, msg in [(p + [r5], "too long"), (p[:-1], "too short")]:
        with pytest.raises(ProofError, match=msg):
            verify_inclusion(LEAVES[1], 1, 5, proof, r5)
    for proof, roots, msg in [(c + [r5], (r3, r5), "too long"), (c[:-1], (r3, r5), "too short"),
                              (c, (r5, r5), "root1"), (c, (r3, r3), "root2")]:
        with pytest.raises(ProofError, match=msg):
            verify_consistency(3, 5, proof, *roots)
    for args in [(3, 3), (-1, 3), (0, 0)]:
        with pytest.raises(ValueError):
            inclusion_proof(*args, STORE)
    for args in [(3, 2), (0, 3), (-1, 2)]:
        with pytest.raises(ValueError):
            consistency_proof(*args, STORE)
    with pytest.raises(ValueError):
        tree_root(-1, STORE)
    with pytest.raises(KeyError):
        tree_root(MAX_LEAVES + 1, STORE)


class Reader:
    """Dict-backed reader (or a wrapper of ``inner``) that records its calls."""

    def __init__(self, inner=None):
        self.hashes, self.inner, self.calls = {}, inner, []

    def read_hashes(self, addrs):
        self.calls.append(list(addrs))
        return self.inner.read_hashes(addrs) if self.inner else [self.hashes[a] for a in addrs]


@pytest.mark.parametrize("n", [2, 3, 7, 8, 100, 1000, 1023, 1025, MAX_LEAVES])
def test_reads_are_batched_and_logarithmic(n):
    bound = 2 * n.bit_length() + 2
    for make in [lambda r: inclusion_proof(n // 3, n, r), lambda r: inclusion_proof(n - 1, n, r),
                 lambda r: consistency_proof(n // 2 + 1 if n > 2 else 1, n, r),
                 lambda r: consistency_proof(n - 1, n, r), lambda r: tree_root(n, r)]:
        reader = Reader(STORE)
        make(reader)
        assert len(reader.calls) == 1
        assert len(reader.calls[0]) <= bound
        assert all((idx + 1) << lv <= n for lv, idx in reader.calls[0])  # nothing beyond size n


def test_bad_reader_answers_are_refused():
    short, wrong = Reader(), Reader()
    short.read_hashes = lambda addrs: []
    wrong.read_hashes = lambda addrs: [b"x"] * len(addrs)
    for reader in (short, wrong):
        with pytest.raises(ValueError):
            tree_root(5, reader)


def test_new_node_hashes_one_by_one():
    reader = Reader()
    for i, lh in enumerate(LEAVES[:300]):
        for level, idx, h in new_node_hashes(i, lh, reader):
            assert (level, idx) not in reader.hashes
            reader.hashes[(level, idx)] = h
    assert len(reader.hashes) == sum(300 >> lv for lv in range(9))
    assert all(h == STORE.read_hashes([a])[0] for a, h in reader.hashes.items())


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.integers(0, 200), max_size=12))
def test_batches_equal_single_appends(cuts):
    inner, start = Reader(), 0
    for c in cuts + [MAX_LEAVES // 4]:
        reader = Reader(inner)
        for level, idx, h in node_hashes_for_batch(start, LEAVES[start:start + c], reader):
            assert (level, idx) not in inner.hashes
            inner.hashes[(level, idx)] = h
        assert len(reader.calls) <= 1
        start += c
    assert inner.hashes == {a: STORE.read_hashes([a])[0] for a in inner.hashes}
    assert len(inner.hashes) == sum(start >> lv for lv in range(start.bit_length()))
    assert tree_root(start, inner) == tree_root(start, STORE)


# --- hypothesis properties over sizes up to MAX_LEAVES ------------------------

def _flip(b, bit):
    b = bytearray(b)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


@st.composite
def size_and_index(draw):
    n = draw(st.integers(1, MAX_LEAVES))
    return n, draw(st.integers(0, n - 1))


@settings(max_examples=200, deadline=None, database=None)
@given(size_and_index(), st.integers(0, 255), st.data())
def test_inclusion_property(ni, bit, data):
    n, i = ni
    root, proof = tree_root(n, STORE), inclusion_proof(i, n, STORE)
    verify_inclusion(LEAVES[i], i, n, proof, root)
    if n <= 300:
        assert proof == ref_path(i, DATA[:n])
    for j in range(len(proof)):
        bad = proof[:j] + [_flip(proof[j], bit)] + proof[j + 1:]
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[i], i, n, bad, root)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[i], i, n, proof, _flip(root, bit))
    with pytest.raises(ProofError):
        verify_inclusion(_flip(LEAVES[i], bit), i, n, proof, root)
    for bad in (proof + [LEAVES[0]], [LEAVES[0]] + proof, proof[:-1]):
        if bad != proof:
            with pytest.raises(ProofError):
                verify_inclusion(LEAVES[i], i, n, bad, root)
    # A proof binds the size only through its shape (the signed checkpoint binds
    # size to root), so a wrong size may verify: exactly when the reference,
    # rebuilding the root from the proof's subtrees, accepts. A wrong index at
    # the same size never verifies.
    i2 = data.draw(st.integers(0, MAX_LEAVES), "i2")
    n2 = data.draw(st.sampled_from([n, n + 1, n - 1, 2 * n, n // 2, n ^ 2, data.draw(st.integers(0, MAX_LEAVES))]), "n2")
    if (i2, n2) != (i, n):
        assert (_verdict(verify_inclusion, LEAVES[i], i2, n2, proof, root)
                == ref_verify_inclusion(LEAVES[i], i2, n2, proof, root))
    if i2 < n and i2 != i:
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[i], i2, n, proof, root)


@settings(max_examples=200, deadline=None, database=None)
@given(size_and_index(), st.integers(0, 255), st.data())
def test_consistency_property(nm, bit, data):
    n, m = nm[0], nm[1] + 1  # 1 <= m <= n
    r1, r2, proof = tree_root(m, STORE), tree_root(n, STORE), consistency_proof(m, n, STORE)
    verify_consistency(m, n, proof, r1, r2)
    assert ref_verify_consistency(m, n, proof, r1, r2)
    for j in range(len(proof)):
        bad = proof[:j] + [_flip(proof[j], bit)] + proof[j + 1:]
        with pytest.raises(ProofError):
            verify_consistency(m, n, bad, r1, r2)
    for a, b in ((_flip(r1, bit), r2), (r1, _flip(r2, bit)), (r2, r1) if m != n else (r1, _flip(r1, 0))):
        with pytest.raises(ProofError):
            verify_consistency(m, n, proof, a, b)
    for bad in (proof + [LEAVES[0]], [LEAVES[0]] + proof, proof[:-1]):
        if bad != proof:
            with pytest.raises(ProofError):
                verify_consistency(m, n, bad, r1, r2)
    m2 = data.draw(st.sampled_from([m - 1, m + 1, m ^ 2, 2 * m, data.draw(st.integers(0, MAX_LEAVES))]), "m2")
    n2 = data.draw(st.sampled_from([n, n - 1, n + 1, 2 * n, n // 2, data.draw(st.integers(0, MAX_LEAVES))]), "n2")
    for a, b in ((m2, n), (m, n2), (m2, n2)):  # as for inclusion: agree with the reference
        if (a, b) != (m, n):
            assert _verdict(verify_consistency, a, b, proof, r1, r2) == ref_verify_consistency(a, b, proof, r1, r2)


@settings(max_examples=50, deadline=None, database=None)
@given(st.integers(0, MAX_LEAVES))
def test_streaming_builder_matches(n):
    b = StreamingTreeBuilder()
    for lh in LEAVES[:n]:
        b.append(lh)
    assert b.size == n
    assert b.root() == root_from_leaf_hashes(LEAVES[:n]) == tree_root(n, STORE)
    assert len(b._edge) == bin(n).count("1")


def test_streaming_builder_every_prefix_and_memory_store():
    b, store = StreamingTreeBuilder(), MemoryHashStore()
    assert b.root() == store.root() == EMPTY_ROOT
    for n, lh in enumerate(LEAVES[:130], start=1):
        b.append(lh)
        assert store.append(lh) == n - 1
        assert b.root() == store.root() == ref_mth(DATA[:n])
    with pytest.raises(ValueError):
        store.root(131)
    with pytest.raises(ValueError):
        b.append(b"not a hash")
