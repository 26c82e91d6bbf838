"""The two busiest endpoints as plain Starlette routes, first in the application's router.

``POST /v1/statements`` and ``POST /v1/queries`` are served by the same functions as their FastAPI routes,
called with their dependencies directly (``api.deps.provide``, which honours overrides as FastAPI does),
without FastAPI's dependency solving and validation. Being first, these routes take those requests; the
FastAPI routes of the same paths stay declared, so the OpenAPI document lists the endpoints with their
bodies and answers. Refusals and failures become the problem responses the application's exception
handlers give.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from api import problems
from api.deps import get_answers, get_committer, get_settings, provide
from api.routers import queries, statements
from ledger.errors import LedgerError

Dependency = Callable[[Request], Awaitable[Any]]


class Endpoint:
    """An ASGI endpoint calling a route function with the request and what its dependencies give; refusals
    and failures become the problems the app's exception handlers give, here (a failure is logged once, by
    ``problems.unexpected``, and is not raised on to the server)."""

    def __init__(self, function: Callable[..., Awaitable[Response]], *dependencies: Dependency) -> None:
        self.function = function
        self.dependencies = dependencies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            arguments = []
            for dependency in self.dependencies:
                arguments.append(await provide(request, dependency))
            response = await self.function(request, *arguments)
        except LedgerError as exc:
            response = await problems.ledger_error(request, exc)
        except Exception as exc:  # noqa: BLE001 - answered as the app's own handler answers it
            response = await problems.unexpected(request, exc)
        await response(scope, receive, send)


ROUTES: tuple[tuple[str, Endpoint], ...] = (
    ("/v1/statements", Endpoint(statements.append_statement, get_committer, get_settings)),
    ("/v1/queries", Endpoint(queries.query, get_committer, get_settings, get_answers)),
)
"""Each fast path with the FastAPI route function it calls and that function's dependencies, in order."""


def routes() -> list[Route]:
    """The fast routes (POST only: other methods of these paths are answered 405 as by the app)."""
    return [Route(path, endpoint, methods=["POST"], name=f"fast_{endpoint.function.__name__}",
                  include_in_schema=False) for path, endpoint in ROUTES]


WRITES = ("/v1/statements", "/v1/statements/batch", "/v1/queries", "/v1/log/checkpoint")
"""What a read-only server refuses (POST): appends, queries (recorded before they are answered) and signing."""


class ReadOnly:
    """The answer of a read-only server to a write: a ``read-only`` problem naming the primary; the body is
    not read, so nothing is stored."""

    def __init__(self, primary: str | None) -> None:
        self.primary = primary

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        where = f"send it to the primary, {self.primary}" if self.primary else "send it to the primary"
        exc = problems.ReadOnlyError(f"this server reads from a standby and takes no appends, queries or "
                                     f"checkpoints: {where}")
        extra = {"primary": self.primary} if self.primary else {}
        response = problems.refusal(exc, instance=path, **extra)
        response.headers["Allow"] = "GET, HEAD" if path == "/v1/log/checkpoint" else ""
        await response(scope, receive, send)


def install(app: FastAPI, read_only: bool = False, primary: str | None = None) -> None:
    """Put the fast routes at the front of ``app``'s router, before every route FastAPI declared; on a
    read-only server, the refusal of every write instead."""
    if read_only:
        refuse = ReadOnly(primary)
        app.router.routes[0:0] = [Route(path, refuse, methods=["POST"], name=f"read_only_{n}", include_in_schema=False)
                                  for n, path in enumerate(WRITES)]
        return
    app.router.routes[0:0] = routes()
