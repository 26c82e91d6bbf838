"""The public site in a real browser (Debian's chromium, driven by Playwright) against a real ``credit-ledger serve``
process holding data submitted over HTTP: filters, sorting and pagination clicked through, every entry's masked
fields checked against the JSON lists, every request kept on the server, keyboard use, contrast, both widths.

Screenshots go to the test's temporary directory; with ``CREDIT_LEDGER_SCREENSHOTS=docs`` two of them are also
copied there (``docs/site-black-list-1280.png``, ``docs/site-entry-390.png``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from keys import KeyPair
from ledger.domain.genesis import AUTHORITY_CODE
from ledger.format.statements import format_datetime, make_envelope
from tests.conftest import PG_URL
from tests.e2e.test_server import CLI, _free_port
from tests.support import make_resident_id, make_uscc, now, wait_until_serving

pytestmark = pytest.mark.server
playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
ROOT = Path(__file__).resolve().parents[2]
TODAY = now().date()
ORIGIN = "credit-ledger.example/log"

DEPARTMENTS = [  # name, field codes, document prefix, reason, legal basis
    ("青岛市市场监督管理局", ["food_drug", "product_quality"], "青市监罚", "销售超过保质期的食品，情节严重",
     "《中华人民共和国食品安全法》第一百二十四条"),
    ("青岛市应急管理局", ["work_safety", "fire_safety"], "青应急罚", "未履行安全生产管理职责，导致生产安全事故",
     "《中华人民共和国安全生产法》第九十五条"),
    ("国家税务总局青岛市税务局", ["tax"], "青税稽罚", "虚开增值税专用发票，情节严重",
     "《中华人民共和国税收征收管理法》第六十三条"),
    ("青岛市生态环境局", ["environment"], "青环罚", "通过暗管违法排放水污染物", "《中华人民共和国水污染防治法》第八十三条"),
]
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴霞", "徐涛", "孙丽", "马超",
         "朱琳", "胡军", "郭燕", "何平", "高峰", "林琳", "罗斌", "郑洁", "梁宇", "谢婷", "宋涛", "司马光明"]
OUYANG = ("欧阳娜娜", make_resident_id(date(1991, 8, 8)))


class Ledger:
    """Signs statements as the authority and the departments and posts them to the server, as clients would."""

    def __init__(self, url: str, data: Path) -> None:
        self.url = url
        self.keys = {AUTHORITY_CODE: KeyPair.load(data / "keys" / "authority.pem")}
        self.http = httpx.Client(base_url=url, timeout=60)

    def envelope(self, issuer: str, kind: str, **fields: Any) -> dict[str, Any]:
        statement = {"type": kind, "id": str(uuid.uuid4()), "issuer": issuer, "issued_at": format_datetime(now()),
                     "ledger": ORIGIN, **fields}
        key = self.keys[issuer]
        return make_envelope(statement, key.key_id, key.sign)

    def post(self, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        r = self.http.post("/v1/statements/batch", json={"envelopes": envelopes})
        assert r.status_code == 200, r.text
        return r.json()["results"]

    def accept(self, envelopes: list[dict[str, Any]]) -> None:
        refused = [x["problem"] for x in self.post(envelopes) if "problem" in x]
        assert refused == [], refused

    def department(self, name: str, items: list[str]) -> str:
        code, key = make_uscc(), KeyPair.generate()
        self.keys[code] = key
        self.accept([
            self.envelope(AUTHORITY_CODE, "department.registered", department=code, name=name, items=items,
                          purposes=["administrative_licensing"]),
            self.envelope(AUTHORITY_CODE, "key.added", department=code, key_id=key.key_id,
                          public_key=key.public_key_b64, valid_from="2020-01-01T00:00:00Z")])
        return code

    def record(self, dept: str, item: str, name: str, days_ago: int, subject: str | None = None,
               document: str = "", basis: str = "") -> dict[str, Any]:
        return self.envelope(dept, "record.submitted", subject=subject or make_resident_id(), subject_name=name,
                             item=item, summary=f"内部处理意见：{name}", document_number=document,
                             decision_date=(TODAY - timedelta(days=days_ago)).isoformat(), legal_basis=basis)


def populate(ledger: Ledger) -> dict[str, Any]:
    """26 black-list entries (one of 欧阳娜娜) of four authorities, 5 red-list ones; a repaired, a revoked and a
    withdrawn entry that must not show, and a minor's disclosure, refused."""
    depts = [(ledger.department(name, [f"{f}.serious" for f in fields] + [f"{f}.commendation" for f in fields]),
              name, fields, prefix, reason, basis) for name, fields, prefix, reason, basis in DEPARTMENTS]
    records, disclosures = [], []
    for n, name in enumerate([*NAMES, OUYANG[0]]):
        code, _, fields, prefix, reason, basis = depts[n % len(depts)]
        subject = OUYANG[1] if name == OUYANG[0] else None
        rec = ledger.record(code, f"{fields[n % len(fields)]}.serious", name, 3 + 11 * n, subject,
                            f"{prefix}〔2026〕{101 + n}号", basis)
        records.append(rec)
        disclosures.append(ledger.envelope(
            code, "record.disclosed", record_id=rec["statement"]["id"], list="black",
            notice_served_at=TODAY.isoformat(), public_reason=reason, exit_conditions="履行行政处罚决定并作出信用承诺；公示期满自动移出",
            remedies="可向信用服务窗口提出异议，也可依法申请行政复议或提起行政诉讼"))
    for n in range(5):
        code, _, fields, prefix, _, _ = depts[n % len(depts)]
        rec = ledger.record(code, f"{fields[0]}.commendation", NAMES[-1 - n], 20 + 30 * n, None,
                            f"青政奖〔2026〕{7 + n}号", "《青岛市社会信用条例》")
        records.append(rec)
        disclosures.append(ledger.envelope(code, "record.disclosed", record_id=rec["statement"]["id"], list="red",
                                           public_reason="获评全市安全生产与食品安全先进个人"))
    market = depts[0][0]
    gone = [ledger.record(market, "food_drug.serious", "钱多多", 400, None, "青市监罚〔2025〕9号", "食品安全法")
            for _ in range(3)]
    minor = ledger.record(market, "food_drug.serious", "孙小小", 30, make_resident_id(TODAY - timedelta(days=16 * 365)),
                          "青市监罚〔2026〕1号", "食品安全法")
    ledger.accept(records + gone + [minor])
    ledger.accept(disclosures + [ledger.envelope(market, "record.disclosed", record_id=g["statement"]["id"], list="black",
                                                 notice_served_at=TODAY.isoformat()) for g in gone])
    ids = [g["statement"]["id"] for g in gone]
    ledger.accept([
        ledger.envelope(market, "record.repaired", record_id=ids[0], method="donation", proof_reference="p",
                        commitment_reference="c"),
        ledger.envelope(market, "record.revoked", record_id=ids[1], reason="annulled", annulling_document="青复〔2026〕2号"),
        ledger.envelope(market, "record.disclosure_withdrawn", record_id=ids[2], reason="review")])
    count = ledger.http.get("/healthz").json()["statements"]
    (refusal,) = ledger.post([ledger.envelope(market, "record.disclosed", record_id=minor["statement"]["id"],
                                              list="black", notice_served_at=TODAY.isoformat())])
    assert "minors are never put on a public list" in refusal["problem"]["detail"]
    assert ledger.http.get("/healthz").json()["statements"] == count
    return {"gone": [*ids, minor["statement"]["id"]], "statements": count,
            "ouyang": records[len(NAMES)]["statement"]["id"]}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    if request.param == "postgres":
        env["CREDIT_LEDGER_DATABASE_URL"] = PG_URL
        env["CREDIT_LEDGER_DATABASE_SCHEMA"] = request.getfixturevalue("pg_schema")
    port = _free_port()
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url, log)
        ledger = Ledger(url, tmp_path / "ledger-data")
        facts = populate(ledger)
        settle(ledger.http, facts["statements"])
        ledger.http.close()
        yield url, facts
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def settle(http: httpx.Client, statements: int) -> None:
    """Wait until the lists hold what was submitted and a checkpoint covers every statement (nothing moves after)."""
    deadline = time.monotonic() + 60
    while True:
        black = http.get("/v1/public/lists/black", params={"limit": 200}).json()
        red = http.get("/v1/public/lists/red").json()
        checkpoint = black["checkpoint"]
        # 26 only once the last batch (repair, revocation, withdrawal) is in: the archive is at the ledger's head
        if len(black["entries"]) == 26 and len(red["entries"]) == 5 and checkpoint and checkpoint["size"] == statements:
            return
        assert time.monotonic() < deadline, f"the lists did not settle: {len(black['entries'])}, {checkpoint}"
        time.sleep(0.2)


def json_list(url: str, listing: str, **params: Any) -> dict[str, Any]:
    return httpx.get(f"{url}/v1/public/lists/{listing}", params={"limit": 20, **params}).json()


def table_rows(page: Any) -> list[dict[str, str]]:
    """Each row of the entry table: its entry id and the text of each cell by its column's label."""
    return page.eval_on_selector_all("table.entries tbody tr", """rows => rows.map(r => Object.fromEntries(
        [["id", r.dataset.entry], ...[...r.children].map(c => [c.dataset.label, c.innerText.trim()])]))""")


def check_rows(page: Any, data: dict[str, Any]) -> None:
    rows = table_rows(page)
    assert [r["id"] for r in rows] == [e["entry_id"] for e in data["entries"]]
    for row, entry in zip(rows, data["entries"], strict=True):
        assert (row["姓名"], row["身份证号"], row["文书号"]) == (entry["name"], entry["id_number"], entry["document_number"])
        assert row["认定部门"] == entry["authority"]["name"]
    reflects = page.locator("p.reflects").first
    assert reflects.get_attribute("data-position") == str(data["position"])
    assert reflects.get_attribute("data-checkpoint-size") == str(data["checkpoint"]["size"])
    assert data["checkpoint"]["root"] in reflects.inner_text()


def zh_date(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


CONTRAST = """() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126*r + 0.7152*g + 0.0722*b; };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c; } return [255, 255, 255]; };
  const worst = [];
  for (const el of document.querySelectorAll('h1, h2, p, a, th, td, label, dt, dd, li, button, caption')) {
    if (!el.innerText || !el.innerText.trim()) continue;
    const fg = lum(rgb(getComputedStyle(el).color)), back = lum(bg(el));
    const ratio = (Math.max(fg, back) + 0.05) / (Math.min(fg, back) + 0.05);
    if (ratio < 4.5) worst.push([el.tagName, el.innerText.slice(0, 20), ratio.toFixed(2)]);
  }
  return worst;
}"""


def test_the_site_in_a_browser(served, tmp_path):
    url, facts = served
    shots = tmp_path / "screenshots"
    shots.mkdir()
    requests: list[str] = []
    problems: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            wide = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page = wide.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(url + "/")
            assert page.locator("html").get_attribute("lang") == "zh-CN"
            assert page.locator("h2").all_inner_texts()[:2] == ["严重失信主体名单（黑名单）", "守信激励名单（红名单）"]
            page.screenshot(path=shots / "site-home-1280.png", full_page=True)

            # The black list, page by page, as the JSON list gives it.
            page.get_by_role("link", name="黑名单", exact=True).click()
            first = json_list(url, "black")
            check_rows(page, first)
            page.screenshot(path=shots / "site-black-list-1280.png", full_page=True)
            page.get_by_role("link", name="下一页").click()
            check_rows(page, json_list(url, "black", cursor=first["next_cursor"]))
            assert len(table_rows(page)) == 6 and page.get_by_role("link", name="下一页").count() == 0
            page.get_by_role("link", name="第一页").click()
            check_rows(page, first)

            # Filters and sorting, clicked: the same entries as the JSON list with the same parameters.
            page.get_by_label("领域", exact=True).select_option("food_drug")
            page.get_by_role("button", name="应用").click()
            assert "field=food_drug" in page.url
            check_rows(page, json_list(url, "black", field="food_drug"))
            page.get_by_label("排序", exact=True).select_option("authority")
            page.get_by_role("button", name="应用").click()
            check_rows(page, json_list(url, "black", field="food_drug", sort="authority"))
            page.get_by_role("link", name="清除筛选").click()
            authority = first["entries"][3]["authority"]
            page.get_by_label("认定部门", exact=True).select_option(authority["code"])
            frm, to = (TODAY - timedelta(days=200)).isoformat(), (TODAY - timedelta(days=20)).isoformat()
            page.get_by_label("决定日期（起）", exact=True).fill(frm)
            page.get_by_label("决定日期（止）", exact=True).fill(to)
            page.get_by_label("排序", exact=True).select_option("decision_date")
            page.get_by_role("button", name="应用").click()
            filtered = json_list(url, "black", authority=authority["code"], sort="decision_date", **{"from": frm, "to": to})
            assert filtered["entries"]
            check_rows(page, filtered)
            page.get_by_role("link", name="清除筛选").click()

            # Keyboard: Tab reaches every filter control, each with its label.
            reached: dict[str, str] = {}
            for _ in range(40):
                page.keyboard.press("Tab")
                focus = page.evaluate("""() => { const e = document.activeElement;
                    return [e.id || e.tagName, e.labels && e.labels.length ? e.labels[0].innerText : ''] }""")
                reached.setdefault(focus[0], focus[1])
            for control in ("q", "field", "authority", "from", "to", "sort"):
                assert reached.get(control), f"Tab did not reach a labelled #{control}: {reached}"
            assert page.evaluate(CONTRAST) == []

            # Every entry's page: exactly the JSON entry's public fields.
            everything = [*json_list(url, "black", limit=200)["entries"], *json_list(url, "red", limit=200)["entries"]]
            assert len(everything) == 31
            for entry in everything:
                page.goto(f"{url}/entries/{entry['entry_id']}")
                fields = page.eval_on_selector_all("dd[data-field]", "ds => Object.fromEntries(ds.map(d => "
                                                   "[d.dataset.field, d.innerText.trim()]))")
                assert (fields["name"], fields["id_number"]) == (entry["name"], entry["id_number"])
                assert fields["name"] == entry["name"][0] + "*" and entry["id_number"][4:14] == "*" * 10
                for key in ("reason", "legal_basis", "document_number", "exit_conditions", "remedies"):
                    assert fields[key] == (entry[key] or "未载明"), key  # "not stated"
                assert fields["authority_code"] == entry["authority"]["code"]
                assert fields["decision_date"] == zh_date(entry["decision_date"])
                assert fields["public_until"] == zh_date(entry["public_until"])
            for rid in facts["gone"]:
                assert page.request.get(f"{url}/entries/{rid}").status == 404

            # From the list to 欧阳娜娜's entry by a click; the name shows as the JSON masks it.
            page.goto(url + "/lists/black?q=" + "欧*")
            page.get_by_role("link", name="欧*").first.click()
            assert page.url.endswith(facts["ouyang"]) and page.locator("dd[data-field=name]").inner_text() == "欧*"
            assert "阳娜" not in page.content()

            # Search cannot find a person by ID number or full name, and says so.
            page.goto(url + "/")
            page.get_by_label("关键词").fill(OUYANG[1])
            page.get_by_role("button", name="搜索").click()
            assert table_rows(page) == [] and "未执行搜索" in page.locator("p.notice").inner_text()
            page.get_by_label("关键词").fill(OUYANG[0])
            page.get_by_role("button", name="搜索").click()
            assert table_rows(page) == [] and "完整姓名" in page.locator("p.notice").inner_text()

            # The language switch, remembered.
            page.goto(url + "/lists/red")
            page.get_by_role("link", name="English").click()
            assert page.locator("html").get_attribute("lang") == "en" and page.url.endswith("/lists/red")
            decided = page.locator("table.entries tbody tr td[data-label='Decided']").first.inner_text()
            assert decided.split()[1] in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                          "Nov", "Dec")
            page.goto(url + "/transparency")
            assert page.locator("html").get_attribute("lang") == "en"
            assert page.locator("dd[data-field=size]").inner_text() == str(facts["statements"])
            wide.close()

            # A phone's width: no sideways scrolling; the entries as cards.
            narrow = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
            phone = narrow.new_page()
            phone.on("request", lambda r: requests.append(r.url))
            for path, name in (("/lists/black", "site-black-list-390.png"), (f"/entries/{facts['ouyang']}",
                                                                              "site-entry-390.png"), ("/", "site-home-390.png"),
                               ("/verify", "site-verify-390.png")):
                phone.goto(url + path)
                assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
                phone.screenshot(path=shots / name, full_page=True)
            assert phone.evaluate(CONTRAST) == []
            narrow.close()
            entry_wide = browser.new_page(viewport={"width": 1280, "height": 900})
            entry_wide.on("request", lambda r: requests.append(r.url))
            entry_wide.goto(f"{url}/entries/{facts['ouyang']}")
            entry_wide.screenshot(path=shots / "site-entry-1280.png", full_page=True)
        finally:
            browser.close()
    assert requests and [r for r in requests if not r.startswith(url + "/")] == []
    assert problems == []
    target = os.environ.get("CREDIT_LEDGER_SCREENSHOTS")
    if target:
        for name in ("site-black-list-1280.png", "site-entry-390.png"):
            shutil.copy(shots / name, ROOT / target / name)
