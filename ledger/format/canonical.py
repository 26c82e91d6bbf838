"""Strict JSON parsing and RFC 8785 (JCS) canonical bytes.

What is signed is JCS(statement). To keep that unambiguous the parser refuses duplicate object
keys, NaN and Infinity, non-UTF-8 bytes and deep nesting, so every accepted body has exactly one
reading. Pure code: bytes in, values out.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import orjson
import rfc8785

from ledger.errors import MalformedError

MAX_DEPTH = 32


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise MalformedError(f"duplicate JSON object key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise MalformedError(f"{name} is not a JSON number")


# The text in pieces, each matched at C speed: a run outside strings with no bracket or quote, an opening
# bracket (group 1), a closing one (group 2), or a whole string with its escapes (an unterminated one
# runs to the end of the text).
_DEPTH_TOKENS = re.compile(r'[^\[\]{}"]++|([\[{])|([\]}])|"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)


def _depth_ok(text: str, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` before the recursive parser sees it. Python steps only
    from bracket to bracket and string to string, so the scan's cost follows the body's structure, not
    its length."""
    depth = 0
    for match in _DEPTH_TOKENS.finditer(text):
        opened = match.lastindex
        if opened == 1:
            depth += 1
            if depth > max_depth:
                raise MalformedError(f"JSON nesting deeper than {max_depth} levels")
        elif opened == 2:
            depth -= 1


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _outside_strings(body: bytes) -> bytes:
    """A well-formed JSON text without its strings, at C speed: escaped backslashes and quotes taken out,
    then every other piece between quotes dropped. (For a malformed text the result may be off.)"""
    return b"".join(body.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')[::2])


def _nesting(body: bytes) -> int:
    """The deepest nesting of a well-formed JSON text, counted in bytes at C speed where it can be: the
    brackets outside strings. (For a malformed text the count may be off; ``parse_json`` then asks
    ``_depth_ok``.)"""
    outside = _outside_strings(body)
    depth = deepest = 0
    for byte in outside.translate(None, _NOT_BRACKETS):
        if byte == 91 or byte == 123:  # [ {
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


_UNSURE = object()
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
QUICK_PARSE_BYTES = 1 << 20
"""Bodies up to this size are first read by orjson (see ``_quick_parse``)."""


def _quick_parse(body: bytes) -> Any:
    """orjson's reading of ``body`` where it is certainly the reading ``json.loads`` gives below (and so
    without its per-object hook, several times faster), else ``_UNSURE``.

    orjson accepts no more than ``json.loads`` does (no NaN, no lone surrogates). Their readings agree but
    for numbers (orjson reads integers beyond 64 bits as floats) and repeated keys (orjson keeps the last):
    so a text with a fraction, an exponent or a run of 19 digits outside its strings is left to
    ``json.loads``, and so is one with fewer keys in its reading than name separators in its text (each
    ``:`` outside strings separates one member's name from its value)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _UNSURE
    outside = _outside_strings(body)
    if (b"." in outside or b"E" in outside or _LONG_DIGITS.search(outside) is not None
            or outside.count(b"e") != outside.count(b"true") + outside.count(b"false")):
        return _UNSURE
    colons = outside.count(b":")
    if colons and _outside_strings(orjson.dumps(value)).count(b":") != colons:
        return _UNSURE
    return value


def parse_json(body: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a request body strictly; raise MalformedError with a one-line reason.

    Nesting is checked before parsing. A body with more brackets than ``max_depth`` is measured by
    ``_nesting`` (a batch of a thousand statements in about 1 ms, where the character-by-character scan
    takes 11); only when that finds it too deep, or the body then fails to parse, does ``_depth_ok``
    scan it, so every refusal is the one the scan gives. A body ``_quick_parse`` is sure of is read by
    orjson; the others, and every refusal, by ``json.loads``.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"body is not valid UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise MalformedError("body starts with a byte order mark")
    bracketed = text.count("[") + text.count("{") > max_depth
    if bracketed and _nesting(body) > max_depth:
        _depth_ok(text, max_depth)
    if len(body) <= QUICK_PARSE_BYTES:
        value = _quick_parse(body)
        if value is not _UNSURE:
            return value
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except MalformedError:
        if bracketed:
            _depth_ok(text, max_depth)
        raise
    except json.JSONDecodeError as exc:
        if bracketed:
            _depth_ok(text, max_depth)
        raise MalformedError(f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError:  # a number beyond the digits Python converts (json.loads raises nothing else)
        if bracketed:
            _depth_ok(text, max_depth)
        raise MalformedError(f"body has an integer of more than {sys.get_int_max_str_digits()} digits") from None
    except RecursionError:
        if bracketed:
            _depth_ok(text, max_depth)
        raise MalformedError("JSON nesting too deep") from None


_SAFE_INT = 2**53 - 1


def _plain(value: Any, depth: int = 0) -> bool:
    """True if JCS of ``value`` equals orjson's sorted-key output: no floats, integers within IEEE-754's
    exact range, ASCII object keys (so UTF-16 and code-point key orders agree). Exact types only: a
    subclass of str or int takes the general path."""
    t = type(value)
    if t is str or value is None or t is bool:
        return True
    if t is int:
        return -_SAFE_INT <= value <= _SAFE_INT
    if depth > MAX_DEPTH:
        return False
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                return False
            if type(v) is not str and not _plain(v, depth + 1):
                return False
        return True
    if t is list:
        for v in value:
            if type(v) is not str and not _plain(v, depth + 1):
                return False
        return True
    return False


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 canonical form of a JSON value.

    Statements hold strings, integers and ASCII keys; for those the JCS bytes are orjson's output with
    sorted keys (a property test checks the two agree), which is fifty times faster than the general
    canonicaliser used for everything else.
    """
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except (orjson.JSONEncodeError, TypeError):
            pass  # e.g. a lone surrogate: let the general path give the error
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedError(f"value has no RFC 8785 canonical form: {exc}") from None
