"""The public disclosure site: server-rendered pages over the public lists."""

from __future__ import annotations

from pathlib import Path

from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from api.site import verify
from api.site.routes import Site, build

STATIC = Path(__file__).with_name("static")


class Static(StaticFiles):
    """The site's own style sheet and icon (nothing is loaded from elsewhere), cached for an hour."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(app: FastAPI) -> None:
    """Add the site's routes (``/``, ``/lists/...``, ``/entries/...``, the guides, ``/transparency``) and its
    files (``/static/...``) to ``app``; none of them is in the OpenAPI document."""
    app.include_router(build(Site()))
    app.include_router(verify.build(Site()))
    app.mount("/static", Static(directory=STATIC), name="static")
