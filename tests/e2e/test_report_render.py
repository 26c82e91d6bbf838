"""``credit-ledger report render``: a report made by a ``credit_report`` query becomes a self-contained printable
page and a PDF; the page, opened in a real chromium, shows the report with its code and whole QR code, loads
nothing from elsewhere, and its /verify address, asked of the ledger's site, finds the report's entry. The PDF is
read back (pypdf): as many pages as the printed layout needs, each numbered and carrying the code, the text the
page shows. Its first page is drawn to ``/tmp/report-page-1.png`` (pdftoppm; without it, the page printed as
print media in chromium is captured instead) to be looked at."""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
import subprocess
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import segno
from pypdf import PdfReader

from tests.e2e.test_server import CLI
from tests.integration.test_report import made, publish_v2, report_query  # noqa: F401  (fixture)

CHROMIUM = shutil.which("chromium")
A4_CONTENT_PX = ((210 - 2 * 14) * 96 / 25.4, (297 - 2 * 16) * 96 / 25.4)  # A4 less the page's @page margins
QR_BOX = """() => { const svg = document.querySelector('.verify svg'), vb = svg.viewBox.baseVal;
  const box = svg.getBoundingClientRect(), drawn = svg.querySelector('path').getBoundingClientRect();
  return {viewbox: Boolean(vb && vb.width > 0), shown: [box.width, box.height],
          inside: drawn.left >= box.left && drawn.top >= box.top && drawn.right <= box.right
                  && drawn.bottom <= box.bottom}; }"""


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
    assert segno.make(url, error="m").svg_inline(scale=4, border=2, omitsize=True) in html  # the QR code's address

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
            qr = page.evaluate(QR_BOX)
            # The layout as printed: A4's width less the margins, print media.
            printed = browser.new_page(viewport={"width": round(A4_CONTENT_PX[0]), "height": 800})
            printed.emulate_media(media="print")
            printed.goto((tmp_path / "report.html").as_uri())
            printed_height = printed.evaluate("document.documentElement.scrollHeight")
            if shutil.which("pdftoppm") is None:
                printed.screenshot(path="/tmp/report-page-1.png", full_page=True)
        finally:
            browser.close()
    assert requested == [(tmp_path / "report.html").as_uri()]  # nothing loaded from elsewhere
    assert fields == {"code": code, "subject_name": "张三", "subject_id": report["subject"]["id"], "grade": "D",
                      "points": "70（基础分 base 100）", "position": str(report["position"])}
    assert "信用报告" in text and "Credit report" in text and url in text and qr_modules >= 1
    assert "录用聘用从严审查" in text and report["records"][0]["fields"]["summary"] in text
    # The whole QR code is drawn (quiet zone included), scaled to its box of at least 30 mm, nothing cut off.
    assert qr["viewbox"] and qr["inside"], qr
    assert min(qr["shown"]) >= 30 * 96 / 25.4, qr

    # The PDF: as many pages as the printed layout needs (not fewer: nothing cut; at most one more where a table
    # moved to the next page whole), each numbered "i / n" with the code; the text the page shows.
    pdf = PdfReader(tmp_path / "report.pdf")
    pages = [unicodedata.normalize("NFKC", page.extract_text()) for page in pdf.pages]
    needed = math.ceil(printed_height / A4_CONTENT_PX[1])
    assert needed <= len(pages) <= needed + 1, (len(pages), printed_height)
    for number, page_text in enumerate(pages, 1):
        # (页 may come out of the font as its radical form, which NFKC leaves as it is)
        assert re.search(rf"第 {number} / {len(pages)} \S page", page_text) and code in page_text, page_text[-200:]
        assert len(page_text.split("验证码 Verification code")[0].strip()) > 100  # no page is (nearly) empty
    assert fields["subject_name"] in pages[0] and fields["subject_id"] in pages[0] and "信用报告" in pages[0]
    whole = re.sub(r"\s+", "", "".join(pages))
    for words in ("录用聘用从严审查", report["records"][0]["fields"]["summary"], "credit-ledgerreportverify",
                  report["signature"]["key"]):
        assert re.sub(r"\s+", "", words) in whole, words
    assert len(pdf.pages[0].mediabox) == 4 and round(float(pdf.pages[0].mediabox.width) / 72 * 25.4) == 210
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-r", "90", "-f", "1", "-l", "1", "-png", "-singlefile", tmp_path / "report.pdf",
                        "/tmp/report-page-1"], check=True, timeout=60)
    width, height = struct.unpack(">II", Path("/tmp/report-page-1.png").read_bytes()[16:24])
    assert width > 0 and height > 0

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
