"""ledger.log.receipts: one receipt checked offline against an inclusion proof and a signed checkpoint."""

from __future__ import annotations

import base64
import copy
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings, strategies as st

from keys import KeyPair
from ledger.format.canonical import canonical_bytes
from ledger.format.statements import make_envelope
from ledger.log.leaves import entry_leaf_hash
from ledger.log.merkle import MemoryHashStore, inclusion_proof
from ledger.log.note import format_checkpoint, sign_note, verifier_key_string
from ledger.log.receipts import ReceiptError, leaf_data, receipt_of, verify_receipt

ORIGIN = "credit-ledger.example/log"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
VERIFIER = verifier_key_string(ORIGIN, LOG_KEY.public_key().public_bytes_raw())
DEPT = KeyPair(Ed25519PrivateKey.from_private_bytes(b"\x09" * 32))
OUTCOME = {"status": "refused", "reason": "purpose audit is not allowed for department X"}


def b64(h: bytes) -> str:
    return base64.b64encode(h).decode("ascii")


def statement(kind: str = "record.submitted", n: int = 0, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "id": str(uuid.UUID(int=n + 1)), "issuer": "91370200MA3C00001N",
            "issued_at": "2026-03-01T08:00:00Z", "ledger": ORIGIN, "summary": f"entry {n} 售过期食品", **extra}


class Log:
    """A log of ``size`` entries (entry ``query_at`` a query with an outcome): envelopes, receipts, the tree."""

    def __init__(self, size: int, query_at: int | None = None) -> None:
        self.envelopes, self.receipts = [], []
        self.tree = MemoryHashStore()
        for i in range(size):
            kind = "query.requested" if i == query_at else "record.submitted"
            env = make_envelope(statement(kind, i), DEPT.key_id, DEPT.sign)
            receipt = {"statement_id": env["statement"]["id"], "type": kind, "position": i + 10, "leaf_index": i,
                       "recorded_at": f"2026-03-01T08:00:{i % 60:02d}.{i:06d}Z"}
            if kind == "query.requested":
                receipt["outcome"] = dict(OUTCOME)
            self.tree.append(entry_leaf_hash(canonical_bytes(env["statement"]), env["key_id"], env["signature"],
                                             receipt["recorded_at"], receipt.get("outcome")))
            self.envelopes.append(env)
            self.receipts.append(receipt)

    def checkpoint(self, size: int | None = None, key: Ed25519PrivateKey = LOG_KEY, origin: str = ORIGIN) -> str:
        size = self.tree.size if size is None else size
        return sign_note(format_checkpoint(origin, size, self.tree.root(size)), origin, key)

    def proof(self, index: int, size: int | None = None) -> dict[str, Any]:
        size = self.tree.size if size is None else size
        (leaf,) = self.tree.read_hashes([(0, index)])
        return {"leaf_index": index, "tree_size": size, "leaf_hash": b64(leaf),
                "proof": [b64(h) for h in inclusion_proof(index, size, self.tree)]}

    def check(self, index: int, **changed: Any) -> Any:
        parts = {"receipt": copy.deepcopy(self.receipts[index]), "envelope": copy.deepcopy(self.envelopes[index]),
                 "checkpoint_note": self.checkpoint(), "proof": self.proof(index), "verifier_key": VERIFIER}
        parts.update(changed)
        return verify_receipt(**parts)


def refused(log: Log, index: int, **changed: Any) -> str:
    with pytest.raises(ReceiptError) as info:
        log.check(index, **changed)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_receipt_is_shown_in_the_log_of_the_checkpoint():
    log = Log(11, query_at=7)
    for index in range(11):
        result = log.check(index)
        assert (result.leaf_index, result.tree_size, result.origin) == (index, 11, ORIGIN)
        assert result.root == log.tree.root() and result.statement_id == log.receipts[index]["statement_id"]
    assert log.check(4).line() == f"leaf 4 is in the log of size 11 whose checkpoint is signed by {ORIGIN}"


def test_the_leaf_data_is_the_documented_bytes():
    log = Log(3, query_at=1)
    env, receipt = log.envelopes[1], log.receipts[1]
    assert leaf_data(receipt, env) == (
        b'{"key_id":"' + env["key_id"].encode() + b'","outcome":{"reason":"' + OUTCOME["reason"].encode()
        + b'","status":"refused"},"recorded_at":"' + receipt["recorded_at"].encode() + b'","signature":"'
        + env["signature"].encode() + b'","statement":' + canonical_bytes(env["statement"]) + b"}")


def test_a_receipt_inside_an_answer_or_a_problem_is_found():
    log = Log(4, query_at=2)
    receipt = log.receipts[2]
    assert receipt_of({"receipt": receipt, "data": {}}) is receipt
    assert receipt_of({"type": "urn:credit-ledger:problem:query-refused", "receipt": receipt}) is receipt
    assert log.check(2, receipt={"receipt": receipt, "data": {"records": []}}).leaf_index == 2
    with pytest.raises(ReceiptError, match="holds no receipt"):
        receipt_of({"data": {}})


def test_a_changed_statement_byte_is_named():
    log = Log(6)
    env = copy.deepcopy(log.envelopes[3])
    env["statement"]["summary"] = env["statement"]["summary"].replace("3", "4")
    assert "leaf 3 of the log is not the entry of this envelope and receipt" in refused(log, 3, envelope=env)
    # without the proof's leaf hash to compare, the proof fails against the root instead
    proof = log.proof(3)
    del proof["leaf_hash"]
    assert refused(log, 3, envelope=env, proof=proof) == "the inclusion proof of leaf 3 does not lead to the " \
                                                           "checkpoint's root"


@pytest.mark.parametrize("field,value", [("recorded_at", "2026-03-01T08:00:03.000004Z"),
                                         ("outcome", {"status": "accepted"})])
def test_a_wrong_recorded_at_or_outcome_is_named(field, value):
    log = Log(6, query_at=3)
    receipt = {**log.receipts[3], field: value}
    assert "their leaf hash differs" in refused(log, 3, receipt=receipt)


def test_another_signature_is_named():
    log = Log(5)
    env = {**log.envelopes[2], "signature": log.envelopes[1]["signature"]}
    assert "recorded_at or outcome is not the one recorded" in refused(log, 2, envelope=env)


def test_a_proof_for_another_leaf_is_named():
    log = Log(9)
    assert refused(log, 5, proof=log.proof(4)) == "the proof is for leaf 4, the receipt for leaf 5"
    # relabelled as leaf 5: its hashes lead elsewhere
    proof = {**log.proof(4), "leaf_index": 5}
    assert "their leaf hash differs" in refused(log, 5, proof=proof)
    del proof["leaf_hash"]
    assert "does not lead to the checkpoint's root" in refused(log, 5, proof=proof)


def test_a_receipt_for_another_statement_is_named():
    log = Log(4)
    assert refused(log, 1, envelope=log.envelopes[2]).startswith(
        f"the receipt is for statement {log.receipts[1]['statement_id']}, the envelope holds statement")


def test_a_checkpoint_signed_by_another_key_is_named():
    log = Log(5)
    other = Ed25519PrivateKey.from_private_bytes(b"\x08" * 32)
    assert refused(log, 2, checkpoint_note=log.checkpoint(key=other)).startswith(
        f"the checkpoint is not signed by the log key {ORIGIN}+")
    forged = log.checkpoint().replace("\n5\n", "\n4\n")  # the log's signature over another body
    assert refused(log, 2, checkpoint_note=forged) == f"the checkpoint's signature by the log key {ORIGIN} does not verify"
    assert "not a well-formed signed note" in refused(log, 2, checkpoint_note="credit-ledger.example/log\n5\n")


def test_a_checkpoint_of_a_smaller_log_than_the_leaf_is_named():
    log = Log(8)
    message = refused(log, 6, checkpoint_note=log.checkpoint(6))
    assert message.startswith("leaf 6 is not in the checkpoint's log of size 6")


def test_a_proof_for_another_tree_size_is_named():
    log = Log(8)
    assert refused(log, 2, proof=log.proof(2, 7)) == "the proof is for a log of size 7, the checkpoint of size 8"
    short = {**log.proof(2), "proof": log.proof(2)["proof"][:-1]}
    assert "does not fit a log of size 8: inclusion proof is too short" in refused(log, 2, proof=short)
    bad = {**log.proof(2), "proof": ["AAAA"]}
    assert refused(log, 2, proof=bad) == "proof element 0 is not a base64 SHA-256 hash"


def test_another_log_or_ledger_is_named():
    log = Log(4)
    other = "other.example/log"
    other_key = verifier_key_string(other, LOG_KEY.public_key().public_bytes_raw())
    assert refused(log, 1, checkpoint_note=log.checkpoint(origin=other), verifier_key=other_key) == \
        f"the statement is for the ledger {ORIGIN}, the checkpoint is of the log {other}"
    assert refused(log, 1, verifier_key="not a key").startswith("the log verifier key is not valid")


def test_a_query_receipt_needs_its_outcome_and_others_have_none():
    log = Log(4, query_at=1)
    receipt = {k: v for k, v in log.receipts[1].items() if k != "outcome"}
    assert "carries no outcome" in refused(log, 1, receipt=receipt)
    receipt = {**log.receipts[2], "outcome": {"status": "accepted"}}
    assert "the leaf of a record.submitted statement has none" in refused(log, 2, receipt=receipt)


def test_malformed_inputs_are_named_not_raised():
    log = Log(3)
    assert "holds no envelope" in refused(log, 1, envelope=[])
    assert "the receipt has no recorded_at" in refused(log, 1, receipt={**log.receipts[1], "recorded_at": 5})
    assert "outside the entry alphabet" in refused(log, 1, receipt={**log.receipts[1], "recorded_at": '2026"'})
    assert "leaf_index is not a non-negative integer" in refused(log, 1, receipt={**log.receipts[1], "leaf_index": True})
    assert "holds no inclusion proof" in refused(log, 1, proof={"leaf_index": 1})


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70), st.data())
def test_every_leaf_of_every_size_verifies_and_any_changed_byte_fails(size, data):
    log = Log(size, query_at=size // 2)
    index = data.draw(st.integers(0, size - 1))
    assert log.check(index).tree_size == size
    env = copy.deepcopy(log.envelopes[index])
    text = env["statement"]["summary"]
    at = data.draw(st.integers(0, len(text) - 1))
    env["statement"]["summary"] = text[:at] + chr(ord(text[at]) ^ 1) + text[at + 1:]
    with pytest.raises(ReceiptError):
        log.check(index, envelope=env)
