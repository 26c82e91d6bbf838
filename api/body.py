"""Reading request bodies: JSON media type, size limits while streaming, strict parsing.

Two limits hold while the body streams in: its bytes, and its JSON structure. Every value after the first
in an array or object follows a comma, every array or object has its two brackets and every string its two
quotes, so counting brackets, commas and quotes (one C-speed pass per chunk) bounds how many objects
parsing will build. The structure budget follows the number of envelopes the endpoint takes: a 32 MiB
batch of empty objects is refused after its first megabytes instead of being parsed into millions of
dictionaries. Small bodies are never counted (they cannot hold more structure than they have bytes), and
are parsed where they arrive; large ones are parsed in a worker thread, so the event loop goes on serving
other requests meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect

from api.problems import PayloadTooLargeError, UnsupportedMediaTypeError
from ledger.format.canonical import parse_json

STRUCTURE_PER_ENVELOPE = 200
"""Brackets, commas and quotes allowed per envelope (an envelope of a record has about 75)."""

STRUCTURE_BASE = 65_536
"""Allowed on top, for one large statement (the shipped catalogue's envelope has about 6,600)."""

PARSE_IN_THREAD_BYTES = 1 << 20
"""Bodies larger than this are parsed in a worker thread."""

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{},"')


def structure_budget(envelopes: int) -> int:
    """How many brackets, commas and quotes a body of at most ``envelopes`` envelopes may hold."""
    return STRUCTURE_BASE + envelopes * STRUCTURE_PER_ENVELOPE


def structure(chunk: bytes) -> int:
    """The brackets, commas and quotes in ``chunk`` (inside strings too: the count errs on the safe side)."""
    return len(chunk.translate(None, _NOT_STRUCTURE))


def header(request: Request, name: bytes) -> str | None:
    """The first value of a request header (``name`` in lower case, as ASGI gives names), read from the raw
    headers: every append and query asks for two, so no header map is built."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def read_json(request: Request, limit: int, envelopes: int = 1) -> Any:
    """The parsed JSON body, refusing other media types, bodies over ``limit`` bytes or with more structure
    than ``envelopes`` envelopes need, and ambiguous JSON."""
    declared_type = header(request, b"content-type")
    ctype = ("application/json" if declared_type is None else declared_type).split(";")[0].strip().lower()
    if ctype != "application/json":
        raise UnsupportedMediaTypeError(f"send application/json, not {ctype}")
    declared = header(request, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    budget = structure_budget(envelopes)
    chunks = []
    total = 0
    counted = -1  # structure is counted once the body is longer than the budget
    receive = request.receive
    more = True
    while more:  # read message by message, without an async generator: every append and query passes here
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        more = message.get("more_body", False)
        chunk = message.get("body", b"")
        if not chunk:
            continue
        total += len(chunk)
        if total > limit:
            raise PayloadTooLargeError(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if total > budget:
            counted = sum(map(structure, chunks)) if counted < 0 else counted + structure(chunk)
            if counted > budget:
                what = "one envelope" if envelopes == 1 else f"a batch of at most {envelopes} envelopes"
                raise PayloadTooLargeError(
                    f"body has more than {budget} JSON brackets, commas and quotes, the limit for {what}")
    body = b"".join(chunks)
    chunks.clear()
    if len(body) > PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(parse_json, body)
    return parse_json(body)
