"""Strict JSON parsing and RFC 8785 (JCS) canonical bytes.

What is signed is JCS(statement). To keep that unambiguous the parser refuses duplicate object
keys, NaN and Infinity, non-UTF-8 bytes and deep nesting, so every accepted body has exactly one
reading. Pure code: bytes in, values out.
"""

from __future__ import annotations

import json
from typing import Any

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


def _depth_ok(text: str, max_depth: int) -> None:
    """Refuse nesting deeper than ``max_depth`` before the recursive parser sees it."""
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                raise MalformedError(f"JSON nesting deeper than {max_depth} levels")
        elif ch in "]}":
            depth -= 1


def parse_json(body: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a request body strictly; raise MalformedError with a one-line reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"body is not valid UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise MalformedError("body starts with a byte order mark")
    if text.count("[") + text.count("{") > max_depth:
        _depth_ok(text, max_depth)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except MalformedError:
        raise
    except json.JSONDecodeError as exc:
        raise MalformedError(f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise MalformedError("JSON nesting too deep") from None


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 canonical form of a JSON value."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedError(f"value has no RFC 8785 canonical form: {exc}") from None
