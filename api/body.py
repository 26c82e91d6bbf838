"""Reading request bodies: JSON media type, size limit while streaming, strict parsing."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ledger.canonical import parse_json
from ledger.errors import LedgerError


class PayloadTooLargeError(LedgerError):
    """The body exceeds the configured limit."""

    slug = "payload-too-large"
    status = 413
    title = "Request body too large"


class UnsupportedMediaTypeError(LedgerError):
    """The body is not declared as JSON."""

    slug = "unsupported-media-type"
    status = 415
    title = "Unsupported media type"


async def read_json(request: Request, limit: int) -> Any:
    """The parsed JSON body, refusing other media types, oversize bodies and ambiguous JSON."""
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise UnsupportedMediaTypeError(f"send application/json, not {ctype}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLargeError(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return parse_json(b"".join(chunks))
