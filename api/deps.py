"""Typed dependencies: the ledger, its group committer and the settings, from app state.

FastAPI routes declare them (``CommitterDep`` ...); the plain routes of ``api.fastpath`` ask for them with
``provide``. Either way ``app.dependency_overrides`` decides what a dependency gives (tests replace the
committer or the answers with ones that fail).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from api.runtime import Views
from projections.answers import Answers
from api.settings import Settings
from ledger.application import Ledger
from ledger.adapters.committer import GroupCommitter

T = TypeVar("T")


async def get_ledger(request: Request) -> Ledger:
    """The application's ledger."""
    return request.app.state.ledger


async def get_committer(request: Request) -> GroupCommitter:
    """The application's group committer."""
    return request.app.state.committer


async def get_settings(request: Request) -> Settings:
    """The application's settings."""
    return request.app.state.settings


async def get_views(request: Request) -> Views:
    """The application's read models."""
    return request.app.state.views


async def get_answers(request: Request) -> Answers:
    """What accepted queries read (a dependency, so tests can make it fail)."""
    return request.app.state.views.answers


async def provide(request: Request, dependency: Callable[[Request], Awaitable[T]]) -> T:
    """What ``dependency`` gives for ``request`` outside FastAPI's dependency solving: the dependency's own
    value, or its override's (an override takes the request or nothing, and may be sync or async)."""
    override = request.app.dependency_overrides.get(dependency)
    if override is None:
        return await dependency(request)
    value: Any = override(request) if inspect.signature(override).parameters else override()
    if inspect.isawaitable(value):
        value = await value
    return value


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
CommitterDep = Annotated[GroupCommitter, Depends(get_committer)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ViewsDep = Annotated[Views, Depends(get_views)]
AnswersDep = Annotated[Answers, Depends(get_answers)]
