"""``credit-ledger report render``: a report made by a ``credit_report`` query becomes a self-contained printable
page and a PDF; the page, opened in a real chromium, shows the report with its code and QR code, loads nothing
from elsewhere, and its /verify address, asked of the ledger's site, finds the report's entry."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import segno

from tests.e2e.test_server import CLI
from tests.integration.test_report import made, publish_v2, report_query  # noqa: F401  (fixture)

CHROMIUM = shutil.which("chromium")


def render(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "report", "render", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_a_report_renders_as_a_page_and_a_pdf_whose_code_verifies(client, world, made, tmp_path):  # noqa: F811
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    answer = made[0]
    report = answer["data"]
    (tmp_path / "answer.json").write_text(json.dumps(answer, ensure_ascii=False), encoding="utf-8")
    done = render(tmp_path, "answer.json", "--html", "report.html", "--pdf", "report.pdf", "--site",
                  "https://credit.example.org/")
    assert done.returncode == 0, done.stderr
    code = re.fullmatch(r"report (\d+-[A-Z2-7]{8}): report.html and report.pdf\n", done.stdout).group(1)
    assert code.startswith(f"{report['query']['leaf_index']}-")
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF-")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html and "src=" not in html
    url = f"https://credit.example.org/verify?code={code}"
    assert segno.make(url, error="m").svg_inline(scale=4, border=2) in html  # the QR code carries that address

    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto((tmp_path / "report.html").as_uri())
            text = page.inner_text("body")
            fields = {name: page.inner_text(f'[data-field="{name}"]')
                      for name in ("code", "subject_name", "subject_id", "grade", "points", "position")}
            qr_modules = page.locator(".verify svg path").count()
        finally:
            browser.close()
    assert requested == [(tmp_path / "report.html").as_uri()]  # nothing loaded from elsewhere
    assert fields == {"code": code, "subject_name": "张三", "subject_id": report["subject"]["id"], "grade": "D",
                      "points": "70（基础分 base 100）", "position": str(report["position"])}
    assert "信用报告" in text and "Credit report" in text and url in text and qr_modules >= 1
    assert "录用聘用从严审查" in text and report["records"][0]["fields"]["summary"] in text

    # The address the code and QR code carry, asked of this ledger's site: its entry is found.
    parts = urlsplit(url)
    r = client.get(parts.path + "?" + parts.query)
    assert r.status_code == 200 and 'data-result="match"' in r.text and report["subject"]["id"] not in r.text


def test_what_is_not_a_report_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"format": "something/else"}), encoding="utf-8")
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    for name in ("other.json", "broken.json", "missing.json"):
        done = render(tmp_path, name, "--html", "out.html")
        assert done.returncode != 0 and done.stdout == "" and done.stderr.count("\n") == 1
        assert done.stderr.startswith("credit-ledger: ")
        assert not (tmp_path / "out.html").exists()
