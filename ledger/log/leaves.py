"""Leaf data of the transparency log: the canonical bytes of one ledger entry.

Leaf data is the RFC 8785 (JCS) encoding of the object
``{"key_id": ..., "recorded_at": ..., "signature": ..., "statement": <statement>}``; a query's entry
also carries the ledger's decision, ``"outcome": {"status": "accepted" | "refused", "reason"?: ...}``.
The three strings are ASCII without characters JCS would escape (the parser guarantees it),
and JCS of a nested object is the nested object's JCS, so the bytes are assembled directly from
the statement's canonical bytes. The leaf hash is SHA-256(0x00 || leaf data) (RFC 9162 §2.1.1).
"""

from __future__ import annotations

import re
from typing import Any

import rfc8785

from ledger.log.merkle import leaf_hash

_SAFE = re.compile(r"^[A-Za-z0-9+/=:.\-]*$")


def entry_bytes(
    statement_canonical: bytes, key_id: str, signature: str, recorded_at: str, outcome: dict[str, Any] | None = None
) -> bytes:
    """Leaf data for one entry (see the module docstring)."""
    for name, value in (("key_id", key_id), ("signature", signature), ("recorded_at", recorded_at)):
        if not _SAFE.match(value):
            raise ValueError(f"{name} holds characters outside the entry alphabet")
    decided = b"" if outcome is None else b',"outcome":' + rfc8785.dumps(outcome)
    return b"".join((
        b'{"key_id":"', key_id.encode("ascii"), b'"', decided,
        b',"recorded_at":"', recorded_at.encode("ascii"),
        b'","signature":"', signature.encode("ascii"),
        b'","statement":', statement_canonical, b"}",
    ))


def entry_leaf_hash(
    statement_canonical: bytes, key_id: str, signature: str, recorded_at: str, outcome: dict[str, Any] | None = None
) -> bytes:
    """RFC 9162 leaf hash of an entry."""
    return leaf_hash(entry_bytes(statement_canonical, key_id, signature, recorded_at, outcome))
