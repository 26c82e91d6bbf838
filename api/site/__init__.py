"""The public disclosure site: server-rendered pages over the public lists."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the site's routes to ``app``."""
