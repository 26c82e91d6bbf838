"""The public site's pages over HTTP (the app in-process), on SQLite and PostgreSQL: the same entries, position
and checkpoint as the JSON lists, sorting with cursors, the privacy rules of search, caching, languages, guides
rendered from the catalogue, and bad input answered as a page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from keys import KeyPair
from ledger.domain.catalogue import shipped_catalogue_document
from tests.support import Department, World, make_resident_id, make_uscc, now

TODAY = now().date()
P = "urn:credit-ledger:problem:"
OUYANG_ID = make_resident_id(date(1990, 5, 17))


class Page(HTMLParser):
    """What a test reads of a page: the rows of its entry tables (by ``data-entry``) and their cells' text, the
    ``data-field`` values of an entry page, the ``.reflects`` line's data, the notice and the whole text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.fields: dict[str, str] = {}
        self.reflects: dict[str, str] = {}
        self.lang = ""
        self.text: list[str] = []
        self._open: list[tuple[str, dict[str, Any] | None, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        if "data-position" in a:
            self.reflects = {k: v for k, v in a.items() if k.startswith("data-")}
        if tag == "tr" and "data-entry" in a:
            self.rows.append({"id": a["data-entry"], "cells": {}})
        label = a.get("data-label") if self.rows and tag in ("th", "td") else None
        self._open.append((tag, self.rows[-1] if label else None, label or a.get("data-field")))

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for _, row, key in reversed(self._open):
            if key is None:
                continue
            target = row["cells"] if row is not None else self.fields
            target[key] = (target.get(key, "") + data).strip()
            return

    @property
    def body(self) -> str:
        return "".join(self.text)


def department(world: World, name: str, items: list[str]) -> Department:
    dept = Department(make_uscc(), KeyPair.generate(), name)
    world.append_ok(
        world.signed(world.authority_dept, "department.registered", department=dept.code, name=name, items=items,
                     purposes=["administrative_licensing"]),
        world.signed(world.authority_dept, "key.added", department=dept.code, key_id=dept.key.key_id,
                     public_key=dept.key.public_key_b64, valid_from="2020-01-01T00:00:00Z"))
    return dept


def record(world: World, dept: Department, item: str, days_ago: int, **fields: Any) -> str:
    env = world.submission(dept, item=item, decision_date=(TODAY - timedelta(days=days_ago)).isoformat(), **fields)
    world.append_ok(env)
    return env["statement"]["id"]


def disclose(world: World, dept: Department, rid: str, listing: str = "black", **fields: Any) -> list[Any]:
    extra = {"notice_served_at": TODAY.isoformat()} if listing == "black" else {}
    return world.append(world.signed(dept, "record.disclosed", record_id=rid, list=listing, **extra, **fields))


@pytest.fixture
def site(world: World) -> Iterator[tuple[TestClient, World, dict[str, Any]]]:
    """A ledger with 23 black-list entries of two authorities (one of 欧阳娜娜), 3 red-list ones, and records
    that must not show: repaired, revoked, withdrawn, past its publication, and a minor's (its disclosure refused). Projections run
    only when the test says, so nothing moves between two reads."""
    market = department(world, "青岛市市场监督管理局", ["food_drug.serious", "food_drug.commendation"])
    safety = department(world, "青岛市应急管理局", ["work_safety.serious", "work_safety.commendation"])
    ids: dict[str, Any] = {"black": [], "red": []}
    for n in range(22):
        dept, item = (market, "food_drug.serious") if n % 2 else (safety, "work_safety.serious")
        rid = record(world, dept, item, 20 + n, subject_name="王小明", summary="内部意见：王小明 370202199001011237")
        reason = {"public_reason": "销售过期食品，情节严重"} if n % 5 == 0 else {}
        assert not isinstance(disclose(world, dept, rid, **reason)[0], Exception)
        ids["black"].append(rid)
    ouyang = record(world, market, "food_drug.serious", 5, subject=OUYANG_ID, subject_name="欧阳娜娜")
    disclose(world, market, ouyang, exit_conditions="履行处罚决定并作出信用承诺", remedies="可依法申请行政复议")
    ids["black"].append(ouyang)
    ids["ouyang"] = ouyang
    for n in range(3):
        dept, item = (market, "food_drug.commendation") if n % 2 else (safety, "work_safety.commendation")
        rid = record(world, dept, item, 10 + n, subject_name="李红")
        disclose(world, dept, rid, "red")
        ids["red"].append(rid)
    gone = {}
    for how in ("repaired", "revoked", "withdrawn"):
        rid = gone[how] = record(world, market, "food_drug.serious", 400, subject_name="赵六")
        disclose(world, market, rid)
    world.append_ok(world.signed(market, "record.repaired", record_id=gone["repaired"], method="donation",
                                 proof_reference="p-1", commitment_reference="c-1"))
    world.append_ok(world.signed(market, "record.revoked", record_id=gone["revoked"], reason="annulled",
                                 annulling_document="青行复〔2026〕1号"))
    world.append_ok(world.signed(market, "record.disclosure_withdrawn", record_id=gone["withdrawn"], reason="review"))
    # behaviour that ended six years ago: published until five years after it ended, a year ago
    expired = gone["expired"] = record(world, market, "food_drug.serious", 30, subject_name="赵六",
                                       behaviour_end=(TODAY - timedelta(days=6 * 366)).isoformat())
    assert not isinstance(disclose(world, market, expired)[0], Exception)
    minor = record(world, market, "food_drug.serious", 30, subject=make_resident_id(TODAY - timedelta(days=16 * 365)),
                   subject_name="孙小小")
    before = world.ledger.count()
    (refusal,) = disclose(world, market, minor)
    assert "minors are never put on a public list" in str(refusal) and world.ledger.count() == before
    ids["gone"] = [*gone.values(), minor]
    settings = world.settings.model_copy(update={"run_projections": False})
    with TestClient(create_app(settings)) as client:
        views = client.app.state.views  # type: ignore[attr-defined]
        views.archive.catch_up_all()
        views.tree.catch_up_all()
        views.checkpointer.make()
        yield client, world, ids


def rows(page: Page) -> list[dict[str, str]]:
    return [{"id": r["id"], **r["cells"]} for r in page.rows]


def test_list_pages_show_the_json_lists_entries_position_and_checkpoint(site):
    client, _, ids = site
    for listing, count in (("black", 23), ("red", 3)):
        seen: list[dict[str, str]] = []
        url, cursor = f"/lists/{listing}", None
        while True:
            html = client.get(url, params={"cursor": cursor} if cursor else None)
            js = client.get(f"/v1/public/lists/{listing}", params={"limit": 20, **({"cursor": cursor} if cursor else {})})
            assert html.status_code == 200 and js.status_code == 200
            page, data = Page(html.text), js.json()
            assert [r["id"] for r in page.rows] == [e["entry_id"] for e in data["entries"]]
            for row, entry in zip(rows(page), data["entries"], strict=True):
                assert (row["姓名"], row["身份证号"], row["文书号"]) == (
                    entry["name"], entry["id_number"], entry["document_number"])
            assert page.reflects["data-position"] == str(data["position"]) and data["position"] > 0
            assert page.reflects["data-checkpoint-size"] == str(data["checkpoint"]["size"])
            assert data["checkpoint"]["root"] in page.body
            seen += rows(page)
            cursor = data["next_cursor"]
            if cursor is None:
                break
        assert sorted(r["id"] for r in seen) == sorted(ids[listing]) and len(seen) == count
    for rid in ids["gone"]:
        assert rid not in client.get("/lists/black").text and client.get(f"/entries/{rid}").status_code == 404


def test_the_entry_page_shows_exactly_the_public_fields_and_the_compound_surname_masked(site):
    client, _, ids = site
    entries = client.get("/v1/public/lists/black", params={"limit": 200}).json()["entries"]
    entry = next(e for e in entries if e["entry_id"] == ids["ouyang"])
    page = Page(client.get(f"/entries/{ids['ouyang']}").text)
    assert entry["name"] == "欧*" and page.fields["name"] == entry["name"]
    assert page.fields["id_number"] == entry["id_number"] == OUYANG_ID[:4] + "*" * 10 + OUYANG_ID[-4:]
    for key in ("legal_basis", "document_number", "exit_conditions", "remedies"):
        assert page.fields[key] == entry[key]
    assert page.fields["authority_name"] == entry["authority"]["name"] == "青岛市市场监督管理局"
    assert page.fields["authority_code"] == entry["authority"]["code"]
    assert page.fields["category"] == "食品药品领域严重失信行为"  # the catalogue's Chinese title of the category
    assert page.fields["decision_date"] == "{0.year}年{0.month}月{0.day}日".format(date.fromisoformat(entry["decision_date"]))
    assert "阳娜" not in page.body and "娜娜" not in page.body and OUYANG_ID not in page.body


def test_no_page_holds_what_the_json_lists_do_not(site):
    client, _, ids = site
    secrets = ["王小明", "欧阳娜娜", "赵六", "孙小小", "李红", "内部意见", "370202199001011237", OUYANG_ID]
    paths = ["/", "/lists/black", "/lists/red", "/search?q=食品", f"/entries/{ids['ouyang']}",
             *[f"/entries/{r}" for r in ids["black"][:3]], "/transparency"]
    for path in paths:
        text = client.get(path).text
        assert [s for s in secrets if s in text] == [], path


def test_search_cannot_look_a_person_up(site):
    client, world, ids = site
    listed = Page(client.get("/search", params={"q": OUYANG_ID}).text)
    unlisted = Page(client.get("/search", params={"q": make_resident_id()}).text)
    assert listed.rows == unlisted.rows == []
    assert "像身份证号码" in listed.body and "未执行搜索" in listed.body
    on_list = Page(client.get("/lists/black", params={"q": OUYANG_ID}).text)
    assert on_list.rows == [] and "未执行搜索" in on_list.body
    full_name = Page(client.get("/search", params={"q": "欧阳娜娜"}).text)
    other_name = Page(client.get("/search", params={"q": "欧阳修"}).text)
    assert full_name.rows == other_name.rows == [] and "像完整姓名" in full_name.body
    english = Page(client.get("/search", params={"q": "欧阳娜娜", "lang": "en"}).text)
    assert "looks like a full name" in english.body
    # what is public is searchable: the masked name, the category in either language, the authority
    masked = [r["id"] for r in Page(client.get("/lists/black", params={"q": "欧*"}).text).rows]
    assert masked == [ids["ouyang"]]
    assert len(Page(client.get("/lists/red", params={"q": "表彰"}).text).rows) == 3
    assert len(Page(client.get("/lists/black", params={"q": "应急管理"}).text).rows) == 11
    view = client.app.state.views  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="ID number"):
        view.archive.public_list("black", TODAY, search=OUYANG_ID)
    assert world.ledger.count() > 0


def test_json_sorting_and_cursors(site):
    client, world, _ = site
    def walk(sort: str, limit: int = 4) -> list[dict[str, Any]]:
        out, cursor = [], None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": limit, **({"cursor": cursor} if cursor else {})}
            data = client.get("/v1/public/lists/black", params=params).json()
            out += data["entries"]
            cursor = data["next_cursor"]
            if cursor is None:
                return out
    full = walk("-decision_date", 200)
    assert walk("-decision_date") == full
    assert walk("decision_date") == sorted(full, key=lambda e: (e["decision_date"], e["entry_id"]))
    by_authority = walk("authority", 5)
    expected = sorted(full, key=lambda e: e["entry_id"])
    expected.sort(key=lambda e: e["decision_date"], reverse=True)  # stable: ids stay ascending within a day
    expected.sort(key=lambda e: e["authority"]["name"])
    assert by_authority == expected
    before = world.ledger.count()
    newest = client.get("/v1/public/lists/black", params={"limit": 2}).json()["next_cursor"]
    for params in ({"sort": "authority", "cursor": newest}, {"sort": "name"}, {"cursor": "bm90IGEgY3Vyc29y"}):
        r = client.get("/v1/public/lists/black", params=params)
        assert r.status_code in (400, 422) and r.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/public/lists/black", params={"sort": "authority", "cursor": newest}).json()["type"] == (
        P + "invalid-range")
    assert world.ledger.count() == before
    page = Page(client.get("/lists/black", params={"sort": "authority"}).text)
    assert [r["id"] for r in page.rows] == [e["entry_id"] for e in by_authority[:20]]


def test_filters_on_the_page_are_the_json_filters(site):
    client, _, _ = site
    frm, to = (TODAY - timedelta(days=30)).isoformat(), (TODAY - timedelta(days=25)).isoformat()
    for params in ({"field": "food_drug"}, {"from": frm, "to": to}, {"field": "work_safety", "sort": "decision_date"}):
        data = client.get("/v1/public/lists/black", params={**params, "limit": 20}).json()
        page = Page(client.get("/lists/black", params=params).text)
        assert [r["id"] for r in page.rows] == [e["entry_id"] for e in data["entries"]] and page.rows
    code = client.get("/v1/public/lists/red").json()["entries"][0]["authority"]["code"]
    page = Page(client.get("/lists/red", params={"authority": code}).text)
    assert page.rows and all(r["cells"]["认定部门"] == "青岛市应急管理局" for r in page.rows)


def test_pages_are_cached_like_the_json_lists_and_speak_both_languages(site):
    client, _, _ = site
    first = client.get("/lists/black")
    assert first.headers["cache-control"] == "public, max-age=60"
    assert first.headers["vary"] == "Accept-Language, Cookie" and "default-src 'none'" in first.headers[
        "content-security-policy"]
    again = client.get("/lists/black", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    english = client.get("/lists/black", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert Page(english.text).lang == "en" and english.headers["etag"] != first.headers["etag"]
    assert re.search(r"\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}", english.text)
    assert Page(client.get("/lists/black", headers={"Accept-Language": "fr, zh-TW;q=0.8"}).text).lang == "zh-CN"
    assert Page(first.text).lang == "zh-CN" and re.search(r"\d{4}年\d{1,2}月\d{1,2}日", first.text)
    switched = client.get("/language", params={"to": "en", "next": "/lists/red?field=tax"}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/lists/red?field=tax"
    assert "lang=en" in switched.headers["set-cookie"]
    client.cookies.set("lang", "en")
    assert Page(client.get("/lists/red").text).lang == "en"
    assert Page(client.get("/lists/red?lang=zh-CN").text).lang == "zh-CN"
    client.cookies.clear()
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = client.get("/language", params={"to": "en", "next": target}, follow_redirects=False)
        assert r.headers["location"] == "/"
    css = client.get("/static/site.css")
    assert css.status_code == 200 and "Noto Sans CJK SC" in css.text and "url(" not in css.text


def test_guides_render_the_deadlines_of_the_latest_catalogue(site):
    client, world, _ = site
    page = client.get("/guide/objection").text
    assert 'data-days="3"' in page and 'data-days="7"' in page and "3 个工作日" in page
    repair = client.get("/guide/repair", params={"lang": "en"}).text
    assert 'data-severity="serious"' in repair and "12 months" in repair and "36 months" in repair
    assert 'data-decision-days="10"' in repair and "data-deferral-months" not in repair  # v1: no deferrals
    doc = shipped_catalogue_document(3)
    doc = dict(doc, version=3, objection_deadline_working_days={"alone": 4, "with_verification": 9},
               application_decision_working_days=12,
               disclosure={**doc["disclosure"], "serious": {"min_months": 18, "max_months": 36}})
    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=3, catalogue=doc))
    client.app.state.views.archive.catch_up_all()  # type: ignore[attr-defined]
    page = client.get("/guide/objection").text
    assert 'data-days="4"' in page and 'data-days="9"' in page and 'data-days="3"' not in page
    repair = client.get("/guide/repair").text
    assert '<td data-label="最短公示期（此后可申请修复）" data-months="18">18 个月</td>' in repair
    assert "12 个工作日内作出决定" in repair and "最长 6 个月" in repair
    assert "每页默认 200 条" in client.get("/guide/access-log").text


def test_bad_input_is_a_page_saying_what_is_wrong(site):
    client, world, _ = site
    before = world.ledger.count()
    for params, words in (({"from": "2026-02-30"}, "不是有效日期"), ({"authority": "abc"}, "18 位"),
                          ({"cursor": "zzz"}, "分页参数无效"), ({"sort": "name"}, "排序方式无效"),
                          ({"q": "x" * 51}, "输入过长"), ({"from": "2026-03-01", "to": "2026-02-01"}, "晚于")):
        r = client.get("/lists/black", params=params)
        assert r.status_code == 400 and r.headers["content-type"].startswith("text/html") and words in r.text
    for path in ("/lists/green", f"/entries/{uuid.uuid4()}", "/entries/not-an-id"):
        r = client.get(path)
        assert r.status_code == 404 and "不在公示名单上" in r.text
    assert world.ledger.count() == before


def test_the_transparency_page_and_the_openapi_document(site):
    client, _, _ = site
    page = Page(client.get("/transparency").text)
    note = client.get("/v1/log/checkpoint").text
    assert page.fields["size"] == note.split("\n")[1] and page.fields["root"] == note.split("\n")[2]
    assert page.fields["verifier_key"] == client.get("/v1/log/verifier-key").text.strip().strip('"')
    assert page.fields["position"] == str(client.get("/v1/public/lists/black").json()["position"])
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/public/lists/{listing}" in paths and not any(
        p == "/" or p.startswith(("/lists", "/entries", "/guide", "/static", "/search", "/language")) for p in paths)
