"""RFC 9457 problem responses: every refusal is ``application/problem+json``.

``type`` is ``urn:credit-ledger:problem:<slug>``; the slugs are listed in the README. A refusal's slug and
title come from its error (the ledger names its reasons); its HTTP status comes from ``STATUS`` here.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    IntegrityFailure,
    LedgerError,
    MalformedError,
    NotFoundError,
    QueryExpiredError,
    QueryRefusedError,
    RuleError,
    UnavailableError,
    ValidationError,
    WrongLedgerError,
)

PROBLEM_TYPE = "urn:credit-ledger:problem:"
PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("credit_ledger.api")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "example": "urn:credit-ledger:problem:bad-signature"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}


class PayloadTooLargeError(LedgerError):
    """The body exceeds the configured limit."""

    slug = "payload-too-large"
    title = "Request body too large"


class UnsupportedMediaTypeError(LedgerError):
    """The body is not declared as JSON."""

    slug = "unsupported-media-type"
    title = "Unsupported media type"


class RangeError(LedgerError):
    """A size, index, range, date or cursor outside the log or list read."""

    slug = "invalid-range"
    title = "Outside the log"


class ReadOnlyError(LedgerError):
    """An append, a query or a checkpoint sent to a read-only server (a hot standby's): sent to the primary,
    it would be taken; nothing was stored here."""

    slug = "read-only"
    title = "Read-only server"


STATUS: dict[type[LedgerError], int] = {
    ReadOnlyError: 405,
    QueryExpiredError: 403,
    QueryRefusedError: 403,
    WrongLedgerError: 403,
    MalformedError: 400,
    ValidationError: 422,
    AuthenticationError: 401,
    ForbiddenError: 403,
    RuleError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    UnavailableError: 503,
    IntegrityFailure: 500,
    PayloadTooLargeError: 413,
    UnsupportedMediaTypeError: 415,
    RangeError: 400,
    LedgerError: 400,
}
"""The HTTP status of each refusal, most specific class first; an error takes the entry of the nearest
class in its own ancestry (so a subclass not listed answers as its parent does)."""


def status_of(exc: LedgerError) -> int:
    """The HTTP status answering ``exc``."""
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return STATUS[LedgerError]


def problem_body(slug: str, title: str, status: int, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    """The problem object for a refusal."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def problem_of(exc: LedgerError) -> dict[str, Any]:
    """Problem object for a ledger refusal."""
    return problem_body(exc.slug, exc.title, status_of(exc), str(exc))


def problem(slug: str, title: str, status: int, detail: str | None = None, **extra: Any) -> Response:
    """A problem response."""
    return Response(
        orjson.dumps(problem_body(slug, title, status, detail, **extra)),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
    )


def refusal(exc: LedgerError, **extra: Any) -> Response:
    """The problem response for a refusal: its slug, title and message, with the status ``STATUS`` gives
    its class."""
    return problem(exc.slug, exc.title, status_of(exc), str(exc), **extra)


def install(app: FastAPI) -> None:
    """Map every error the API can meet to a problem response."""

    app.exception_handler(LedgerError)(ledger_error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem("invalid-request", "Invalid request", 422, f"{where}: {first.get('msg', 'invalid')}",
                       instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        response = problem(slug, str(exc.detail), exc.status_code, instance=request.url.path)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    app.exception_handler(Exception)(unexpected)


async def ledger_error(request: Request, exc: LedgerError) -> Response:
    """A ledger refusal as its problem."""
    return refusal(exc, instance=request.url.path)


async def unexpected(request: Request, exc: Exception) -> Response:
    """Storage down: 503; anything else: 500, logged with its traceback."""
    from eventsourcing.persistence import OperationalError, PersistenceError

    if isinstance(exc, (OperationalError, PersistenceError, OSError)):
        log.warning("storage unavailable: %s", type(exc).__name__)
        return problem("unavailable", "Storage unavailable", 503, "the ledger's database cannot be reached; retry",
                       instance=request.url.path)
    log.exception("unexpected error on %s", request.url.path, exc_info=exc)
    return problem("internal", "Internal error", 500, "an unexpected error occurred; nothing was stored",
                   instance=request.url.path)
