"""Which Ed25519 public keys may be registered: canonical encodings of points of large order. Pure.

An Ed25519 public key is the encoding of a curve point: 255 bits of y and one sign bit of x (RFC 8032
§5.1.3). A key that is a point of small order (the identity, the point of order 2, those of order 4 and
8: [8]P is the identity) makes signatures verify that no one made: with a small-order A and R,
``[S]B = R + [k]A`` holds for S = 0 whatever the message. A non-canonical encoding (y ≥ p, or x = 0
with its sign bit set) names a point another encoding names too, so two key ids would stand for one
key. Both are refused before a key enters the registry; the rest of the curve arithmetic is left to
``cryptography``.
"""

from __future__ import annotations

P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z


def _recover_x(y: int, sign: int) -> int | None:
    """x for ``y`` with the given sign bit, or None if there is no such point (RFC 8032 §5.1.3)."""
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    if (v * x * x - u) % P != 0:
        x = (x * SQRT_M1) % P
        if (v * x * x - u) % P != 0:
            return None
    if x == 0 and sign:
        return None  # x = 0 has no negative: a non-canonical encoding
    if x & 1 != sign:
        x = P - x
    return x


def _double(pt: Point) -> Point:
    """2P in extended coordinates (the dbl-2008-hwcd formulas for a = -1)."""
    x1, y1, z1, _ = pt
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = (a + b) % P
    e = (h - (x1 + y1) * (x1 + y1)) % P
    g = (a - b) % P
    f = (c + g) % P
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def public_key_problem(raw: bytes) -> str | None:
    """Why ``raw`` may not be registered as an Ed25519 public key, or None if it may."""
    if len(raw) != 32:
        return "an Ed25519 public key is 32 bytes"
    n = int.from_bytes(raw, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if y >= P:
        return "the public key is not canonically encoded (y is not reduced modulo 2^255 - 19)"
    x = _recover_x(y, sign)
    if x is None:
        return "the public key is not a point on the Ed25519 curve, or not canonically encoded"
    pt: Point = (x, y, 1, x * y % P)
    for _ in range(3):
        pt = _double(pt)
    if pt[0] % P == 0 and (pt[1] - pt[2]) % P == 0:
        return "the public key is a point of small order: any signature of the right shape would verify"
    return None
