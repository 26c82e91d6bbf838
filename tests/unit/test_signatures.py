"""One Ed25519 check behind statements, signed notes and the audit."""

from __future__ import annotations

import base64

import pytest

from keys import KeyPair, SignatureError, signatures_valid, verifies, verify_signature
from ledger.log.note import InvalidSignatureError, open_note, sign_note, verifier_key_string


def test_verifies_answers_for_raw_signatures():
    pair = KeyPair.generate()
    sig = base64.b64decode(pair.sign(b"message"))
    assert verifies(pair.public_key, b"message", sig)
    assert not verifies(pair.public_key, b"messagE", sig)
    assert not verifies(pair.public_key, b"message", sig[:63])
    assert not verifies(pair.public_key, b"message", sig + b"\x00")
    assert not verifies(KeyPair.generate().public_key, b"message", sig)
    with pytest.raises(ValueError):
        verifies(pair.public_key[:31], b"message", sig)


def test_verify_signature_names_what_is_wrong_and_a_bad_key_comes_first():
    pair = KeyPair.generate()
    sig = pair.sign(b"m")
    verify_signature(pair.public_key, b"m", sig)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(pair.public_key, b"n", sig)
    with pytest.raises(ValueError) as caught:
        verify_signature(pair.public_key[:31], b"m", "not base64!")
    assert not isinstance(caught.value, SignatureError)
    assert signatures_valid([(pair.public_key, b"m", sig), (pair.public_key, b"n", sig),
                             (pair.public_key[:31], b"m", sig), (pair.public_key, b"m", "AAAA")]) == [
        True, False, False, False]


def test_a_note_signature_is_checked_by_the_same_primitive():
    pair = KeyPair.generate()
    vkey = verifier_key_string("log.example", pair.public_key)
    note = sign_note("log.example\n1\n" + base64.b64encode(bytes(32)).decode() + "\n", "log.example",
                     pair.private_key)
    assert open_note(note, vkey)[1] == ["log.example"]
    text, _, line = note.rpartition("\u2014 ")
    name, raw = line.split(" ")
    blob = base64.b64decode(raw)
    forged = blob[:4] + bytes([blob[4] ^ 1]) + blob[5:]
    with pytest.raises(InvalidSignatureError):
        open_note(text + "\u2014 " + name + " " + base64.b64encode(forged).decode() + "\n", vkey)
    short = blob[:40]  # a signature of the wrong length from a known key is invalid, not ignored
    with pytest.raises(InvalidSignatureError):
        open_note(text + "\u2014 " + name + " " + base64.b64encode(short).decode() + "\n", vkey)
