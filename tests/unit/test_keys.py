import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys import (
    KeyFileError, KeyPair, KeyRecord, KeyRegistry, SignatureError, key_id_for, public_key_problem, verify_signature,
)
from keys.errors import KeyNotValidError, KeyRevokedError, UnknownKeyError
from datetime import datetime, timedelta, timezone


def test_rfc8032_test_vector_1():
    # RFC 8032 §7.1, TEST 1: empty message.
    secret = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    pair = KeyPair(Ed25519PrivateKey.from_private_bytes(secret))
    assert pair.public_key == public
    import base64

    assert base64.b64decode(pair.sign(b"")) == sig
    verify_signature(public, b"", base64.b64encode(sig).decode())


def test_sign_verify_and_tamper():
    pair = KeyPair.generate()
    sig = pair.sign(b"hello")
    verify_signature(pair.public_key, b"hello", sig)
    with pytest.raises(SignatureError):
        verify_signature(pair.public_key, b"hellO", sig)
    with pytest.raises(SignatureError, match="base64"):
        verify_signature(pair.public_key, b"hello", "not base64!")
    with pytest.raises(SignatureError, match="64 bytes"):
        verify_signature(pair.public_key, b"hello", "AAAA")


def test_key_id_is_derived_from_the_public_key():
    pair = KeyPair.generate()
    assert pair.key_id == key_id_for(pair.public_key)
    assert pair.key_id.startswith("ed25519:") and len(pair.key_id) == 8 + 32
    assert pair.key_id not in repr(pair.to_pem()) and "PRIVATE" not in repr(pair)


def test_pem_file_mode_0600_and_refusals(tmp_path):
    path = tmp_path / "k" / "dept.pem"
    pair = KeyPair.generate()
    pair.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyPair.load(path).public_key == pair.public_key
    with pytest.raises(FileExistsError):
        pair.save(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        KeyPair.load(path)
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    bad.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PKCS#8"):
        KeyPair.load(bad)
    with pytest.raises(KeyFileError, match="cannot read"):
        KeyPair.load(tmp_path / "missing.pem")


def test_registry_validity_window():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    reg = KeyRegistry()
    reg.add_key(KeyRecord("k1", "D1", b"x" * 32, valid_from=t0))
    assert reg.key_for("k1", "D1", t0).key_id == "k1"
    with pytest.raises(UnknownKeyError):
        reg.key_for("k2", "D1", t0)
    with pytest.raises(KeyNotValidError, match="belongs to department D1"):
        reg.key_for("k1", "D2", t0)
    with pytest.raises(KeyNotValidError, match="valid from"):
        reg.key_for("k1", "D1", t0 - timedelta(seconds=1))
    reg.revoke_key("k1", t0 + timedelta(days=1))
    # Once the revocation is recorded, the key signs nothing new, even dated before effective_at.
    for issued in (t0 + timedelta(hours=23), t0 + timedelta(days=1), t0 + timedelta(days=2)):
        with pytest.raises(KeyRevokedError, match="no new statement"):
            reg.key_for("k1", "D1", issued)


# The eight points of small order (RFC 8032 curve; as listed in "Taming the many EdDSAs", 2020) and
# non-canonical encodings of points.
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]
NON_CANONICAL = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
    "0100000000000000000000000000000000000000000000000000000000000080",  # x = 0 with the sign bit set
]


@pytest.mark.parametrize("hex_key", SMALL_ORDER)
def test_small_order_public_keys_are_refused(hex_key):
    assert "small order" in public_key_problem(bytes.fromhex(hex_key))


@pytest.mark.parametrize("hex_key", NON_CANONICAL)
def test_non_canonical_public_keys_are_refused(hex_key):
    assert "canonical" in public_key_problem(bytes.fromhex(hex_key))


def test_generated_public_keys_pass():
    for _ in range(50):
        assert public_key_problem(KeyPair.generate().public_key) is None
    assert public_key_problem(b"\x01" * 31) == "an Ed25519 public key is 32 bytes"
