"""Ed25519 signature verification: the one check behind statements, checkpoints and the audit. Pure.

``verifies`` answers whether raw signature bytes verify; ``verify_signature`` takes a statement's base64
signature and raises ``SignatureError`` saying what is wrong. Public keys are decoded once per process
(a ledger's few keys verify many signatures).
"""

from __future__ import annotations

import base64
import binascii
import functools

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from keys.errors import SignatureError

SIGNATURE_SIZE = 64


@functools.lru_cache(maxsize=4096)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is a valid Ed25519 signature over ``message`` by ``public_key`` (raw 32 bytes;
    any other length is a ValueError)."""
    key = _public_key(public_key)
    if len(signature) != SIGNATURE_SIZE:
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def verify_signature(public_key: bytes, message: bytes, signature_b64: str) -> None:
    """Verify a base64 Ed25519 signature over ``message``; raise SignatureError if it fails (ValueError if
    ``public_key`` is not 32 bytes)."""
    _public_key(public_key)
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("signature is not valid base64") from exc
    if len(signature) != SIGNATURE_SIZE:
        raise SignatureError("an Ed25519 signature is 64 bytes")
    if not verifies(public_key, message, signature):
        raise SignatureError("signature does not verify over the statement's canonical bytes")


def signatures_valid(items: list[tuple[bytes, bytes, str]]) -> list[bool]:
    """For each (public key, message, base64 signature): whether it verifies (a picklable batch check)."""
    out = []
    for public_key, message, signature in items:
        try:
            verify_signature(public_key, message, signature)
        except (SignatureError, ValueError):
            out.append(False)
        else:
            out.append(True)
    return out
