"""Checking one receipt against the transparency log, offline. Pure: parsed JSON and text in, a result out.

A receipt (what ``POST /v1/statements`` or ``POST /v1/queries`` answers) says a statement was recorded as
leaf ``leaf_index`` at ``recorded_at``. With the envelope that was sent, the receipt gives the leaf data
(``ledger.log.leaves``: key id, recorded_at, signature, statement, and a query's outcome); its hash, an RFC
9162 inclusion proof (the JSON of ``GET /v1/log/proof/inclusion``) and a checkpoint signed by the log's
key (a C2SP signed note) show the log of that size holds exactly that leaf. Every check that fails raises
:class:`ReceiptError` with one line naming it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from ledger.errors import LedgerError
from ledger.format.canonical import canonical_bytes
from ledger.log.leaves import entry_bytes
from ledger.log.merkle import ProofError, leaf_hash, root_from_inclusion_proof
from ledger.log.note import (
    Checkpoint,
    InvalidSignatureError,
    NoteError,
    UnverifiedNoteError,
    open_checkpoint,
    parse_verifier_key,
)


class ReceiptError(ValueError):
    """The receipt, envelope, proof or checkpoint does not show the entry in the log; the message says which."""


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a receipt check established: leaf ``leaf_index`` (``leaf_hash``) is in the log of ``origin``
    of size ``tree_size`` whose signed checkpoint has root ``root``."""

    statement_id: str
    leaf_index: int
    leaf_hash: bytes
    tree_size: int
    root: bytes
    origin: str

    def line(self) -> str:
        """The one-line summary a user reads."""
        return (f"leaf {self.leaf_index} is in the log of size {self.tree_size} "
                f"whose checkpoint is signed by {self.origin}")


def receipt_of(document: Any) -> dict[str, Any]:
    """The receipt in ``document``: a receipt itself, or an object holding one under ``receipt`` (a query's
    answer, a refused query's problem)."""
    if isinstance(document, dict) and isinstance(document.get("receipt"), dict):
        document = document["receipt"]
    if not isinstance(document, dict) or "leaf_index" not in document:
        raise ReceiptError("the receipt file holds no receipt (an object with statement_id, leaf_index and recorded_at)")
    return document


def _index(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReceiptError(f"{what} is not a non-negative integer")
    return value


def _text(obj: dict[str, Any], name: str, what: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise ReceiptError(f"the {what} has no {name}")
    return value


def _hash(value: Any, what: str) -> bytes:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True) if isinstance(value, str) else b""
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise ReceiptError(f"{what} is not a base64 SHA-256 hash")
    return raw


def leaf_data(receipt: dict[str, Any], envelope: Any) -> bytes:
    """The leaf data of the entry the receipt and the envelope describe (after checking they agree)."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("statement"), dict):
        raise ReceiptError("the envelope file holds no envelope (an object with statement, key_id and signature)")
    statement = envelope["statement"]
    statement_id = _text(receipt, "statement_id", "receipt")
    if statement.get("id") != statement_id:
        raise ReceiptError(f"the receipt is for statement {statement_id}, the envelope holds statement "
                           f"{statement.get('id')}")
    kind = _text(receipt, "type", "receipt")
    if statement.get("type") != kind:
        raise ReceiptError(f"the receipt is for a {kind} statement, the envelope holds a {statement.get('type')}")
    outcome = receipt.get("outcome")
    if kind == "query.requested" and not isinstance(outcome, dict):
        raise ReceiptError("the receipt of a query carries no outcome (its leaf holds the ledger's decision)")
    if kind != "query.requested" and outcome is not None:
        raise ReceiptError(f"the receipt carries an outcome, but the leaf of a {kind} statement has none")
    try:
        canonical = canonical_bytes(statement)
        return entry_bytes(canonical, _text(envelope, "key_id", "envelope"), _text(envelope, "signature", "envelope"),
                           _text(receipt, "recorded_at", "receipt"), outcome)
    except (LedgerError, ValueError) as exc:
        raise ReceiptError(f"the envelope and receipt give no leaf data: {exc}") from None


def open_signed_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """The checkpoint in the signed note ``note``, after checking the log's key signed it."""
    try:
        key = parse_verifier_key(verifier_key)
    except NoteError as exc:
        raise ReceiptError(f"the log verifier key is not valid: {exc}") from None
    try:
        checkpoint, _ = open_checkpoint(note, key)
    except UnverifiedNoteError:
        raise ReceiptError(f"the checkpoint is not signed by the log key {key.name}+{key.key_id.hex()}") from None
    except InvalidSignatureError:
        raise ReceiptError(f"the checkpoint's signature by the log key {key.name} does not verify") from None
    except NoteError as exc:
        raise ReceiptError(f"the checkpoint is not a well-formed signed note: {exc}") from None
    if checkpoint.origin != key.name:
        raise ReceiptError(f"the checkpoint is of the log {checkpoint.origin}, the verifier key is for {key.name}")
    return checkpoint


def verify_receipt(receipt: Any, envelope: Any, checkpoint_note: str, proof: Any, verifier_key: str) -> VerifiedReceipt:
    """Check that the entry of ``receipt`` and ``envelope`` is in the log, by ``proof`` (the JSON of
    ``GET /v1/log/proof/inclusion``) up to the checkpoint in ``checkpoint_note`` signed by ``verifier_key``
    (``origin+keyid+base64``). Returns what was shown; raises :class:`ReceiptError` naming the first check that
    fails."""
    receipt = receipt_of(receipt)
    checkpoint = open_signed_checkpoint(checkpoint_note, verifier_key)
    data = leaf_data(receipt, envelope)
    index = _index(receipt.get("leaf_index"), "the receipt's leaf_index")
    ledger = envelope["statement"].get("ledger")
    if ledger is not None and ledger != checkpoint.origin:
        raise ReceiptError(f"the statement is for the ledger {ledger}, the checkpoint is of the log {checkpoint.origin}")
    if index >= checkpoint.size:
        raise ReceiptError(f"leaf {index} is not in the checkpoint's log of size {checkpoint.size}: "
                           "a checkpoint of a larger log is needed")
    if not isinstance(proof, dict) or not isinstance(proof.get("proof"), list):
        raise ReceiptError("the proof file holds no inclusion proof (leaf_index, tree_size and proof)")
    proof_index = _index(proof.get("leaf_index"), "the proof's leaf_index")
    if proof_index != index:
        raise ReceiptError(f"the proof is for leaf {proof_index}, the receipt for leaf {index}")
    proof_size = _index(proof.get("tree_size"), "the proof's tree_size")
    if proof_size != checkpoint.size:
        raise ReceiptError(f"the proof is for a log of size {proof_size}, the checkpoint of size {checkpoint.size}")
    path = [_hash(h, f"proof element {i}") for i, h in enumerate(proof["proof"])]
    computed = leaf_hash(data)
    if "leaf_hash" in proof and _hash(proof["leaf_hash"], "the proof's leaf_hash") != computed:
        raise ReceiptError(f"leaf {index} of the log is not the entry of this envelope and receipt: their leaf hash "
                           "differs (the statement, key_id, signature, recorded_at or outcome is not the one recorded)")
    try:
        root = root_from_inclusion_proof(computed, index, checkpoint.size, path)
    except ProofError as exc:
        raise ReceiptError(f"the inclusion proof of leaf {index} does not fit a log of size {checkpoint.size}: "
                           f"{exc}") from None
    if root != checkpoint.root:
        raise ReceiptError(f"the inclusion proof of leaf {index} does not lead to the checkpoint's root")
    return VerifiedReceipt(statement_id=receipt["statement_id"], leaf_index=index, leaf_hash=computed,
                           tree_size=checkpoint.size, root=checkpoint.root, origin=checkpoint.origin)
