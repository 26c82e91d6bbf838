"""The API page (``/docs``, Swagger UI 5) in a real browser (Debian's chromium, driven by Playwright)
against a real ``credit-ledger serve``: it renders the operations from the served OpenAPI document and loads
nothing from anywhere but the server (an offline network has no CDN). Screenshots go to the test's temporary
directory."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import serve_process

pytestmark = pytest.mark.server
playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    with serve_process(tmp_path) as url:
        yield url


def _open(url: str, path: str, shot: Path, ready: str) -> list[str]:
    """Open ``path`` in chromium, wait until an element ``ready`` (a selector) shows, screenshot it; every URL it
    requested.
    Requests to anywhere but the server are refused, so a page that needs them cannot pass by luck."""
    requested: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: requested.append(r.url))
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url + "/")
                       else route.abort())
            page.goto(url + path)
            page.locator(ready).first.wait_for(timeout=30_000)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    return requested


def test_swagger_ui_renders_the_operations_from_the_server_alone(served, tmp_path):
    page = httpx.get(served + "/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower() and "https://" not in page.text
    requested = _open(served, "/docs", tmp_path / "docs.png",
                      ".opblock-post .opblock-summary-path[data-path='/v1/statements/batch']")
    assert [u for u in requested if not u.startswith(served + "/")] == []
    assert served + "/docs/assets/swagger-ui-bundle.js" in requested and served + "/openapi.json" in requested
    # Swagger UI 5 (FastAPI's document is OpenAPI 3.1, which Swagger UI 4 cannot show).
    bundle = httpx.get(served + "/docs/assets/swagger-ui-bundle.js").text
    assert '"5.' in bundle and httpx.get(served + "/openapi.json").json()["openapi"].startswith("3.1")


def test_swagger_ui_lists_post_statements_as_an_operation(served, tmp_path):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(served + "/") else None)
            page.goto(served + "/docs")
            operation = page.locator(".opblock-post .opblock-summary-path", has_text="/v1/statements").first
            operation.wait_for(timeout=30_000)
            summary = page.locator(".opblock-post").filter(has=page.locator('[data-path="/v1/statements"]')).first
            assert "POST" in summary.inner_text() and "/v1/statements" in summary.inner_text()
            assert page.locator(".opblock-get [data-path='/healthz']").count() == 1
        finally:
            browser.close()
    assert outside == []


def test_there_is_no_page_that_would_load_from_a_cdn(served):
    """ReDoc's bundle loads its maker's logo from a CDN whatever it is told: it is not served."""
    assert httpx.get(served + "/redoc").status_code == 404
