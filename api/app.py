"""The app factory: ``create_app(settings)``; pools and the ledger open in the lifespan only."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from api import fastpath, problems, site
from api.metrics import MEDIA_TYPE, Metrics
from api.observe import LineWriter, Observer
from api.routers import health, log, public, queries, report, statements
from api.runtime import open_ledger, open_views
from api.settings import Settings
from ledger.adapters.committer import GroupCommitter

DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
"""Swagger UI 5 as the fastapi-offline package ships it: the API page loads nothing from elsewhere."""


class App(FastAPI):
    """The FastAPI application with ``api.observe.Observer`` around everything, error handlers included, so
    the access log and the metrics see each answer as sent."""

    access_log: LineWriter | None = None
    metrics: Metrics | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.access_log is None and self.metrics is None:
            return stack
        return Observer(stack, lambda: self.router.routes, log=self.access_log, metrics=self.metrics)


def preflight(settings: Settings) -> None:
    """Open what the service opens as it starts, and close it again: ``serve`` calls this before it listens,
    so what would stop the start (a log key or origin other than the one that signed the ledger's
    checkpoints, an unreachable database) is refused as one line rather than a failed startup."""
    ledger = open_ledger(settings)
    try:
        open_views(settings, ledger).close()
    finally:
        ledger.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI application; nothing connects until the lifespan starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ledger = await asyncio.to_thread(open_ledger, settings)
        views = await asyncio.to_thread(open_views, settings, ledger)
        if settings.read_only:  # a hot standby's: its views come from the primary by replication
            app.state.settings, app.state.ledger, app.state.views, app.state.committer = settings, ledger, views, None
            if access_log is not None:
                access_log.start()
            try:
                yield
            finally:
                views.close()
                ledger.close()
                if access_log is not None:
                    await asyncio.to_thread(access_log.stop)
            return
        worker = views.worker(settings)
        committer = GroupCommitter(ledger, max_batch=settings.group_commit_max_batch,
                                   linger=settings.group_commit_linger_seconds,
                                   on_commit=worker.notify if settings.run_projections else None,
                                   on_write=metrics.committed if metrics is not None else None)
        if access_log is not None:
            access_log.start()
        stop_sampling = metrics.sample() if metrics is not None else None
        ledger.start_verifiers(background=True)
        committer.start()
        if settings.run_projections:
            worker.start()
        app.state.settings = settings
        app.state.ledger = ledger
        app.state.committer = committer
        app.state.views = views
        # What start-up built lives as long as the app: frozen, the cycle collector's full passes (which
        # every request's short-lived objects bring round often) walk only what serving makes.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            await asyncio.to_thread(committer.stop)
            await asyncio.to_thread(worker.stop)
            if stop_sampling is not None:
                stop_sampling()
            views.close()
            ledger.close()
            if access_log is not None:
                await asyncio.to_thread(access_log.stop)

    app = App(
        title="Credit ledger",
        version="0.1.0",
        summary="Signed, event-sourced personal credit records with a verifiable log.",
        description=(
            "Departments append statements signed with Ed25519 over their RFC 8785 canonical bytes. "
            "Every refusal is an RFC 9457 problem and stores nothing."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    metrics = Metrics(lambda: app.state) if settings.metrics else None
    access_log = None
    if settings.access_log:
        access_log = LineWriter(dropped=metrics.log_dropped.inc if metrics is not None else None)
    app.access_log, app.metrics = access_log, metrics
    problems.install(app)
    app.include_router(health.router)
    app.include_router(statements.router)
    app.include_router(queries.router)
    app.include_router(log.router)
    app.include_router(public.router)
    app.include_router(report.router)
    install_docs(app)
    if metrics is not None:
        install_metrics(app, metrics)
    site.install(app)
    fastpath.install(app, settings.read_only, settings.primary_url)
    if settings.read_only:
        install_position(app)
    return app


def install_position(app: FastAPI) -> None:
    """On a read-only server, every answer names in ``Ledger-Position`` the standby's replayed ledger head, read
    before the answer: the answer reflects that position or a later one."""
    from api.routers.health import replayed_head

    @app.middleware("http")
    async def position(request: Request, call_next: Any) -> Response:
        views = getattr(request.app.state, "views", None)
        head = None
        if views is not None:
            try:
                head = await asyncio.to_thread(replayed_head, views.store)
            except Exception:  # noqa: BLE001 - the answer itself says whether the database is reachable
                head = None
        response: Response = await call_next(request)
        if head is not None:
            response.headers["Ledger-Position"] = str(head)
        return response


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) with its script, style and icon served from ``/docs/assets``. (No ReDoc page: its
    bundle shows a logo it loads from its maker's CDN.)"""
    app.mount("/docs/assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url, title=f"{app.title} - API",
            swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/assets/favicon.png", oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},
        )


def install_metrics(app: FastAPI, metrics: Metrics) -> None:
    """``GET /metrics``: the Prometheus text format (not in the OpenAPI document)."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics_text() -> Response:
        return Response(await asyncio.to_thread(metrics.exposition), media_type=MEDIA_TYPE)
