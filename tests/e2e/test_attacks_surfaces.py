"""Attacks on the console from the same machine, in a real browser (Debian's chromium through Playwright) against real
``serve`` and ``console`` processes: what another local web server learns when the console's user visits it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.e2e.test_console_ledger import ConsoleProcess, Site, build, console, serving

pytestmark = pytest.mark.server
playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("console-attacks")
    with serving(build(root, days=2), root) as served:
        yield served


@pytest.fixture(scope="module")
def window(site: Site) -> Iterator[ConsoleProcess]:
    with console(site, "window", "service_window") as proc:
        yield proc


class Listener:
    """Another local web server (any local user may start one on 127.0.0.1): it keeps the Cookie headers it gets."""

    def __init__(self) -> None:
        cookies: list[str] = []
        self.cookies = cookies

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                cookies.append(self.headers.get("Cookie") or "")
                body = b"<!doctype html><title>elsewhere</title><p>another local page"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server signature
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


def test_a_page_of_another_local_site_cannot_drive_the_console(site: Site, window: ConsoleProcess, browser: Any,
                                                                   listener: Listener) -> None:
    """The defence that holds: a page on another port of 127.0.0.1 (same site, another origin) that makes the
    browser load or post to the console is refused, and nothing is stored."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(window.start_url)
        assert "Refused" not in page.content()
        page.goto(listener.origin + "/")
        before = site.count()
        statuses = page.evaluate("""async (origin) => {
            const out = [];
            for (const [method, body] of [["GET", null], ["POST", "subject=1&method=id_card_reader"]]) {
                try {
                    const r = await fetch(origin + (body ? "/window/resident" : "/window"), {method, body, credentials: "include", mode: "no-cors",
                        headers: body ? {"Content-Type": "application/x-www-form-urlencoded"} : {}});
                    out.push(r.type);
                } catch (e) { out.push("error"); }
            }
            return out;
        }""", window.origin)
        assert len(statuses) == 2
        page.evaluate("""(to) => { const a = document.createElement("a"); a.href = to; a.id = "to-console"; a.textContent = "console";
                                    document.body.appendChild(a); }""", window.origin + "/window")
        with page.expect_navigation():
            page.click("#to-console")  # a link on that page, followed
        assert "Refused" in page.content()  # Sec-Fetch-Site: same-site is refused
        assert site.count() == before
    finally:
        context.close()


def test_the_console_token_never_reaches_another_local_server(site: Site, window: ConsoleProcess, browser: Any,
                                                              listener: Listener) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(window.start_url)
        page.goto(listener.origin + "/")
    finally:
        context.close()
    port = window.origin.rsplit(":", 1)[1]
    name = f"credit_ledger_console_{port}"
    stolen = [c.split("=", 1)[1] for header in listener.cookies for c in header.split("; ") if c.startswith(name + "=")]
    if stolen:  # what the other server can do with it: read the console's pages as its user
        r = httpx.get(window.origin + "/window", cookies={name: stolen[0]}, timeout=30)
        assert r.status_code == 200 and "Refused" not in r.text
    assert stolen == []
