"""The two busiest endpoints, answered without FastAPI's routing and dependency solving.

``POST /v1/statements`` and ``POST /v1/queries`` are served by the same functions as their FastAPI
routes (which stay declared, so the OpenAPI document and every other path are unchanged), called with
the application's committer, settings and answers directly. Errors become the same problem responses
the application's exception handlers give. When a dependency is overridden (as tests do), requests take
the ordinary route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api import problems
from api.routers import queries, statements
from ledger.errors import LedgerError


async def _append(request: Request, state: Any) -> Response:
    return await statements.append_statement(request, state.committer, state.settings)


async def _query(request: Request, state: Any) -> Response:
    return await queries.query(request, state.committer, state.settings, state.views.answers)


HANDLERS: dict[str, Callable[[Request, Any], Awaitable[Response]]] = {
    "/v1/statements": _append,
    "/v1/queries": _query,
}


class FastRoutes:
    """ASGI middleware serving ``HANDLERS`` directly (POST only); everything else goes on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = HANDLERS.get(scope["path"])
            application = scope.get("app")
            if handler is not None and application is not None and not application.dependency_overrides:
                request = Request(scope, receive)
                try:
                    response = await handler(request, application.state)
                except LedgerError as exc:
                    response = await problems.ledger_error(request, exc)
                except Exception as exc:  # noqa: BLE001 - answered as the app's own handler answers it
                    response = await problems.unexpected(request, exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
