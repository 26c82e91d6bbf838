"""Ed25519 keys of departments, the authority and the log, and the key registry.

This layer depends on the standard library and `cryptography` only.
"""

from keys.errors import KeyError_, KeyFileError, KeyNotValidError, KeyRevokedError, SignatureError, UnknownKeyError
from keys.keypair import KeyPair, key_id_for, public_key_from_b64
from keys.points import public_key_problem
from keys.registry import Department, KeyRecord, KeyRegistry
from keys.signatures import signatures_valid, verifies, verify_signature

__all__ = [
    "Department",
    "KeyError_",
    "KeyFileError",
    "KeyNotValidError",
    "KeyRevokedError",
    "KeyPair",
    "KeyRecord",
    "KeyRegistry",
    "SignatureError",
    "UnknownKeyError",
    "key_id_for",
    "public_key_from_b64",
    "public_key_problem",
    "signatures_valid",
    "verifies",
    "verify_signature",
]
