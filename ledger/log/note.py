"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and
tlog checkpoints (c2sp.org/tlog-checkpoint). Pure: strings and bytes in and out.

Follows golang.org/x/mod/sumdb/note: a note is text ending in a newline, a
blank line, then signature lines ``— <name> <base64(key id || signature)>``.
Signatures from unknown keys are ignored; a note verifies only if at least one
known key signed it and every signature by a known key is valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, NamedTuple, Union

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys import verifies

__all__ = [
    "ALG_ED25519", "MAX_SIGNATURES", "NoteError", "UnverifiedNoteError",
    "InvalidSignatureError", "VerifierKey", "Checkpoint", "format_checkpoint",
    "parse_checkpoint", "key_id", "verifier_key_string", "signer_key_string",
    "parse_verifier_key", "parse_signer_key", "signature_line", "sign_note",
    "open_note", "open_checkpoint",
]

ALG_ED25519 = 0x01
"""Signature type byte for Ed25519 in key ids and key strings."""

MAX_SIGNATURES = 100
"""Most signature lines accepted in one note (the Go implementation's limit)."""

_SIG_PREFIX = "\u2014 "  # em dash, space
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_HEX8_RE = re.compile(r"[0-9a-f]{8}")


class NoteError(ValueError):
    """A note, checkpoint or key string is malformed or does not verify."""


class UnverifiedNoteError(NoteError):
    """The note is well formed but no known key signed it."""


class InvalidSignatureError(NoteError):
    """A signature line from a known key does not verify."""


class VerifierKey(NamedTuple):
    """A parsed verifier key: name, 4-byte key id and 32-byte Ed25519 key."""

    name: str
    key_id: bytes
    public_key: bytes


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint body: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """Return the canonical checkpoint text (the note body)."""
        return format_checkpoint(self.origin, self.size, self.root, self.extensions)


def _b64decode(s: str, what: str) -> bytes:
    """Strict, canonical standard base64 (RFC 4648 section 4, padded)."""
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != s:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _check_chars(text: str, what: str) -> None:
    """UTF-8 encodable, no ASCII control characters other than newline."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not valid UTF-8") from None
    if any(c < " " and c != "\n" for c in text):
        raise NoteError(f"{what} contains a control character")


def _check_name(name: str) -> None:
    """Key names are non-empty with no Unicode spaces and no '+'."""
    if not isinstance(name, str) or not name:
        raise NoteError("key name is empty")
    if "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"key name {name!r} contains a space or '+'")
    _check_chars(name, "key name")


def format_checkpoint(origin: str, size: int, root: bytes, extensions: Iterable[str] = ()) -> str:
    """Return ``origin\\nsize\\nbase64(root)\\n`` plus extension lines."""
    extensions = tuple(extensions)
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 1 << 64:
        raise NoteError("checkpoint size must be an int in [0, 2**64)")
    if not isinstance(root, (bytes, bytearray)) or len(root) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes")
    for line in (origin, *extensions):
        if not isinstance(line, str) or "\n" in line:
            raise NoteError("checkpoint origin and extensions must be single-line strings")
    text = "\n".join([origin, str(size), _b64(root), *extensions]) + "\n"
    parse_checkpoint(text)  # the remaining rules: non-empty lines, characters
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body, refusing anything non-canonical."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError("checkpoint must end with a newline")
    _check_chars(text, "checkpoint")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs origin, size and root lines")
    origin, size_s, root_s, *extensions = lines
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not _SIZE_RE.fullmatch(size_s):
        raise NoteError(f"checkpoint size {size_s!r} is not a canonical decimal")
    size = int(size_s)
    if size >= 1 << 64:
        raise NoteError("checkpoint size does not fit in 64 bits")
    root = _b64decode(root_s, "checkpoint root hash")
    if len(root) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes")
    if any(not e for e in extensions):
        raise NoteError("checkpoint extension lines must be non-empty")
    return Checkpoint(origin, size, root, tuple(extensions))


def key_id(name: str, public_key: bytes) -> bytes:
    """Return the Ed25519 key id SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    if len(public_key) != 32:
        raise NoteError("Ed25519 public key must be 32 bytes")
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def verifier_key_string(name: str, public_key: bytes) -> str:
    """Return ``name+hex(key id)+base64(0x01 || public key)``."""
    _check_name(name)
    return f"{name}+{key_id(name, public_key).hex()}+{_b64(bytes([ALG_ED25519]) + public_key)}"


def _public_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes_raw()


def signer_key_string(name: str, private_key: Ed25519PrivateKey) -> str:
    """Return the secret ``PRIVATE+KEY+name+hex(key id)+base64(0x01 || seed)``."""
    _check_name(name)
    kid = key_id(name, _public_bytes(private_key))
    return f"PRIVATE+KEY+{name}+{kid.hex()}+{_b64(bytes([ALG_ED25519]) + private_key.private_bytes_raw())}"


def _parse_key(s: str, what: str) -> tuple[str, bytes, bytes]:
    """Split ``name+hex8+base64(0x01 || 32 bytes)`` into its checked parts."""
    parts = s.split("+", 2) if isinstance(s, str) else []
    if len(parts) != 3:
        raise NoteError(f"{what} must be name+hash+key")
    name, hex8, key64 = parts
    _check_name(name)
    if not _HEX8_RE.fullmatch(hex8):
        raise NoteError(f"{what} hash must be 8 lowercase hex digits")
    key = _b64decode(key64, f"{what} key")
    if not key or key[0] != ALG_ED25519:
        raise NoteError(f"{what} has an unknown algorithm")
    if len(key) != 33:
        raise NoteError(f"{what} Ed25519 key is not 32 bytes")
    return name, bytes.fromhex(hex8), key[1:]


def parse_verifier_key(s: str) -> VerifierKey:
    """Parse and check a verifier key string; return (name, key id, public key)."""
    name, kid, pub = _parse_key(s, "verifier key")
    if key_id(name, pub) != kid:
        raise NoteError("verifier key hash does not match the key")
    return VerifierKey(name, kid, pub)


def parse_signer_key(s: str) -> tuple[str, Ed25519PrivateKey]:
    """Parse a ``PRIVATE+KEY+...`` signer key string; return (name, private key)."""
    if not isinstance(s, str) or not s.startswith("PRIVATE+KEY+"):
        raise NoteError("signer key must start with PRIVATE+KEY+")
    name, kid, seed = _parse_key(s[len("PRIVATE+KEY+"):], "signer key")
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    if key_id(name, _public_bytes(private_key)) != kid:
        raise NoteError("signer key hash does not match the key")
    return name, private_key


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    _check_chars(text, "note text")


def signature_line(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Return the signature line ``— name base64(key id || sig)\\n`` for text."""
    _check_text(text)
    _check_name(name)
    sig = private_key.sign(text.encode("utf-8"))
    return f"{_SIG_PREFIX}{name} {_b64(key_id(name, _public_bytes(private_key)) + sig)}\n"


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Return the signed note: text, a blank line, one signature line."""
    return text + "\n" + signature_line(text, name, private_key)


VerifierKeys = Union[str, VerifierKey, Iterable[Union[str, VerifierKey]], Mapping[object, Union[str, VerifierKey]]]


def _verifier_map(verifiers: VerifierKeys) -> dict[tuple[str, bytes], bytes]:
    if isinstance(verifiers, (str, VerifierKey)):
        verifiers = [verifiers]
    elif isinstance(verifiers, Mapping):
        verifiers = list(verifiers.values())
    known: dict[tuple[str, bytes], bytes] = {}
    for v in verifiers:
        vk = v if isinstance(v, VerifierKey) else parse_verifier_key(v)
        if known.setdefault((vk.name, vk.key_id), vk.public_key) != vk.public_key:
            raise NoteError(f"ambiguous key {vk.name}+{vk.key_id.hex()}")
    return known


def open_note(note_text: str, verifiers: VerifierKeys) -> tuple[str, list[str]]:
    """Verify a signed note; return (text, names of known keys that signed it).

    ``verifiers`` is one verifier key (string or VerifierKey), an iterable of
    them, or a mapping whose values are them. Raises NoteError if the note is
    malformed, InvalidSignatureError if a known key's signature is bad, and
    UnverifiedNoteError if no known key signed it.
    """
    known = _verifier_map(verifiers)
    if not isinstance(note_text, str):
        raise NoteError("note must be a str")
    _check_chars(note_text, "note")
    split = note_text.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = note_text[: split + 1], note_text[split + 2:]
    if not block.endswith("\n"):
        raise NoteError("note signature block must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    signers: list[str] = []
    message = text.encode("utf-8")
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise NoteError(f"malformed signature line {line!r}")
        name, _, b64 = line[len(_SIG_PREFIX):].partition(" ")
        _check_name(name)
        sig = _b64decode(b64, f"signature by {name}")
        if len(sig) < 5:
            raise NoteError(f"signature by {name} is too short")
        pub = known.get((name, sig[:4]))
        if pub is None:
            continue  # unknown key: ignored, as the spec requires
        try:
            valid = verifies(pub, message, sig[4:])
        except ValueError:  # a verifier key of another size than 32 bytes verifies nothing
            valid = False
        if not valid:
            raise InvalidSignatureError(f"invalid signature for key {name}+{sig[:4].hex()}")
        if name not in signers:
            signers.append(name)
    if not signers:
        raise UnverifiedNoteError("note has no signature from a known key")
    return text, signers


def open_checkpoint(note_text: str, verifiers: VerifierKeys, origin: str | None = None) -> tuple[Checkpoint, list[str]]:
    """Verify a signed checkpoint note and parse it; optionally require ``origin``."""
    text, signers = open_note(note_text, verifiers)
    checkpoint = parse_checkpoint(text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint, signers
