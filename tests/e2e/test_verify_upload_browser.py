"""The /verify page's upload form in a real browser (Debian's chromium, driven by Playwright) against a real
``credit-ledger serve`` process: a credit report made over HTTP is saved as a file, chosen in the file picker and
checked (valid, with its code); the same file with one byte changed is invalid, naming why; nothing is stored, the
page loads nothing from elsewhere and fits a phone. A body announced larger than the limit is refused before the
server reads any of it.

Screenshots go to ``/tmp/verify-*.png`` (1280 and 390 pixels wide).
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from keys import KeyPair
from ledger.domain.catalogue import shipped_catalogue_document
from ledger.domain.genesis import AUTHORITY_CODE
from ledger.log.report import report_entry_code
from tests.e2e.test_site_browser import Ledger
from tests.support import make_resident_id, make_uscc, serve_process

pytestmark = pytest.mark.server
playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
SHOTS = Path("/tmp")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """A server on SQLite with one subject's record, and the credit report a department got about them."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    with serve_process(tmp_path) as url:
        ledger = Ledger(url, tmp_path / "ledger-data")
        ledger.accept([ledger.envelope(AUTHORITY_CODE, "catalogue.published", version=2,
                                       catalogue=shipped_catalogue_document(2))])
        hr, key = make_uscc(), KeyPair.generate()
        ledger.keys[hr] = key
        ledger.accept([
            ledger.envelope(AUTHORITY_CODE, "department.registered", department=hr, name="青岛市人力资源和社会保障局",
                            items=["food_drug.serious"], purposes=["employment"]),
            ledger.envelope(AUTHORITY_CODE, "key.added", department=hr, key_id=key.key_id,
                            public_key=key.public_key_b64, valid_from="2020-01-01T00:00:00Z")])
        subject = make_resident_id()
        ledger.accept([ledger.record(hr, "food_drug.serious", "张三", 40, subject, "青市监罚〔2026〕15号", "食品安全法")])
        query = ledger.envelope(hr, "query.requested", operator="hr-1", purpose="employment", scope="credit_report",
                                legal_basis="《中华人民共和国劳动合同法》第八条", subject=subject)
        r = ledger.http.post("/v1/queries", json=query)
        assert r.status_code == 200, r.text
        report = r.json()["data"]
        ledger.http.close()
        yield url, report


def statements(url: str) -> tuple[int, int]:
    import httpx

    health = httpx.get(url + "/healthz", timeout=30).json()
    return health["statements"], health["position"]


def choose_and_check(page: Any, url: str, file: Path) -> str:
    """Open /verify, choose ``file`` in the upload form's picker, send it; the verdict shown."""
    page.goto(url + "/verify")
    form = page.locator("form[enctype='multipart/form-data']")
    form.locator("input[type=file]").set_input_files(file)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    return page.locator("[data-result]").first.get_attribute("data-result")


def test_a_report_file_chosen_in_the_picker_is_checked_in_a_real_browser(served, tmp_path):
    url, report = served
    good = tmp_path / "credit-report.json"
    good.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    raw = good.read_bytes()
    bad = tmp_path / "changed.json"
    bad.write_bytes(raw.replace("张三".encode(), "李三".encode(), 1))
    assert bad.read_bytes() != raw
    before = statements(url)
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            for width, height, mobile in ((1280, 900, False), (390, 844, True)):
                context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                              is_mobile=mobile)
                page = context.new_page()
                page.on("request", lambda r: requests.append(r.url))
                assert choose_and_check(page, url, good) == "valid"
                assert page.locator("[data-field=code]").inner_text() == report_entry_code(report)
                assert page.locator("[data-field=position]").inner_text() == str(report["position"])
                assert page.locator("[data-field=size]").inner_text() == str(report["tree_size"])
                assert report["subject"]["id"] not in page.content() and "张三" not in page.content()
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=SHOTS / f"verify-valid-{width}.png", full_page=True)
                assert choose_and_check(page, url, bad) == "invalid"
                assert "does not verify with the report key" in page.locator("[data-field=reason]").inner_text()
                assert "李三" not in page.content()
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=SHOTS / f"verify-invalid-{width}.png", full_page=True)
                page.goto(url + "/verify?lang=en")
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=SHOTS / f"verify-form-{width}.png", full_page=True)
                response = page.request.get(url + "/verify")
                assert "default-src 'none'" in response.headers["content-security-policy"]
                context.close()
        finally:
            browser.close()
    assert requests and [r for r in requests if not r.startswith(url + "/")] == []
    assert statements(url) == before


def test_a_body_announced_larger_than_the_limit_is_refused_before_it_is_read(served):
    url, _ = served
    before = statements(url)
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as s:
        # The headers only: a server that waited for the 100 MiB it was promised would never answer.
        s.sendall(b"POST /verify?lang=en HTTP/1.1\r\nHost: " + parts.netloc.encode() + b"\r\n"
                  b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 104857600\r\n\r\n")
        answer = b""
        while b"</html>" not in answer:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b'data-result="error"' in body and b"The upload is larger than 2 MiB." in body
    assert statements(url) == before
