"""The app factory: ``create_app(settings)``; pools and the ledger open in the lifespan only."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import fastpath, problems, site
from api.routers import health, log, public, queries, statements
from api.runtime import open_ledger, open_views
from api.settings import Settings
from ledger.adapters.committer import GroupCommitter


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
        worker = views.worker(settings)
        committer = GroupCommitter(ledger, max_batch=settings.group_commit_max_batch,
                                   linger=settings.group_commit_linger_seconds,
                                   on_commit=worker.notify if settings.run_projections else None)
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
            views.close()
            ledger.close()

    app = FastAPI(
        title="Credit ledger",
        version="0.1.0",
        summary="Signed, event-sourced personal credit records with a verifiable log.",
        description=(
            "Departments append statements signed with Ed25519 over their RFC 8785 canonical bytes. "
            "Every refusal is an RFC 9457 problem and stores nothing."
        ),
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(statements.router)
    app.include_router(queries.router)
    app.include_router(log.router)
    app.include_router(public.router)
    site.install(app)
    fastpath.install(app)
    return app
