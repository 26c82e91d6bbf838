"""Ed25519 key pairs: PKCS#8 PEM files (mode 0600), key ids, signing bytes (``keys.signatures`` verifies).

A key id is ``"ed25519:"`` followed by the first 16 bytes of SHA-256 over the raw 32-byte
public key, in lowercase hex. It is derived, so a registry entry can be checked against its key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys.errors import KeyFileError

KEY_ID_PREFIX = "ed25519:"


def key_id_for(public_key: bytes) -> str:
    """Return the key id of a raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return KEY_ID_PREFIX + hashlib.sha256(public_key).digest()[:16].hex()


def public_key_from_b64(text: str) -> bytes:
    """Decode a base64 raw Ed25519 public key, refusing anything but 32 bytes."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("public_key is not valid base64") from exc
    if len(raw) != 32:
        raise ValueError("public_key must decode to 32 bytes")
    return raw


@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 private key with its derived public key and key id."""

    private_key: Ed25519PrivateKey

    def __repr__(self) -> str:  # never show key material
        return f"KeyPair(key_id={self.key_id!r})"

    @classmethod
    def generate(cls) -> KeyPair:
        """Make a new random key pair."""
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_key_b64(self) -> str:
        """The public key in standard base64."""
        return base64.b64encode(self.public_key).decode("ascii")

    @property
    def key_id(self) -> str:
        """The derived key id."""
        return key_id_for(self.public_key)

    def sign(self, message: bytes) -> str:
        """Sign bytes; return the signature in standard base64."""
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")

    def to_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted (the file mode protects it)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def save(self, path: Path) -> None:
        """Write the PEM file with mode 0600, refusing to overwrite an existing file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.to_pem())

    @classmethod
    def load(cls, path: Path, *, check_mode: bool = True) -> KeyPair:
        """Read a PKCS#8 PEM file; refuse one that group or others may read."""
        path = Path(path)
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
        if check_mode and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"key file {path} is accessible by group or others (mode {oct(mode & 0o777)}); "
                "run: chmod 600 " + str(path)
            )
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise KeyFileError(f"key file {path} is not an unencrypted PKCS#8 PEM key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"key file {path} does not hold an Ed25519 key")
        return cls(key)
