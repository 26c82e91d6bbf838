"""Typed dependencies: the ledger, its group committer and the settings, from app state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.runtime import Views
from projections.answers import Answers
from api.settings import Settings
from ledger.application import Ledger
from ledger.adapters.committer import GroupCommitter


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


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
CommitterDep = Annotated[GroupCommitter, Depends(get_committer)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ViewsDep = Annotated[Views, Depends(get_views)]
AnswersDep = Annotated[Answers, Depends(get_answers)]
