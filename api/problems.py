"""RFC 9457 problem responses: every refusal is ``application/problem+json``.

``type`` is ``urn:credit-ledger:problem:<slug>``; the slugs are listed in the README.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import LedgerError

PROBLEM_TYPE = "urn:credit-ledger:problem:"
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


def problem_body(slug: str, title: str, status: int, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    """The problem object for a refusal."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def problem_of(exc: LedgerError) -> dict[str, Any]:
    """Problem object for a ledger refusal."""
    return problem_body(exc.slug, exc.title, exc.status, str(exc))


def problem(slug: str, title: str, status: int, detail: str | None = None, **extra: Any) -> Response:
    """A problem response."""
    return Response(
        orjson.dumps(problem_body(slug, title, status, detail, **extra)),
        status_code=status,
        media_type="application/problem+json",
    )


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
    return problem(exc.slug, exc.title, exc.status, str(exc), instance=request.url.path)


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
