"""The rules behind the site's search, languages and dates (pure), and the list read's search and sort contract
on both backends: a search runs over public fields only, an ID number is never searched, cursors belong to
their order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from api.runtime import open_views
from api.site.i18n import format_date, format_time, negotiate
from api.site.pages import safe_next
from projections.archive import ArchiveView
from projections.archive_lists import search_kind
from tests.support import World, make_resident_id, now

TODAY = now().date()


@pytest.mark.parametrize("text,kind", [
    ("370202199001011237", "id"), ("37020219900101123X", "id"), ("37020219900101123x", "id"),
    ("370202 19900101 1237", "id"), ("370202-19900101-1237", "id"), ("３７０２０２１９９００１０１１２３７", "id"),
    ("370202900101123", "id"), ("ID 370202199001011237 please", "id"),
    ("张三", "name"), ("欧阳娜娜", "name"), ("阿依古丽·买买提", "name"), ("食品药品领域严重失信行为", ""), ("王 芳", "name"),
    ("张*", ""), ("欧*", ""), ("3702", ""), ("青市监罚〔2026〕15号", ""), ("food", ""), ("", ""),
    ("1370200123456", ""),
])
def test_what_a_search_text_looks_like(text: str, kind: str) -> None:
    assert search_kind(text) == kind


@pytest.mark.parametrize("param,cookie,accept,expected", [
    (None, None, None, ("zh-CN", False)),
    (None, None, "en-US,en;q=0.9", ("en", False)),
    (None, None, "fr-FR, en;q=0.5, zh-CN;q=0.8", ("zh-CN", False)),
    (None, None, "de, fr", ("zh-CN", False)),
    (None, None, "zh-TW;q=0, en;q=0.1", ("en", False)),
    (None, "en", "zh-CN", ("en", False)),
    ("zh-CN", "en", "en", ("zh-CN", True)),
    ("xx", None, "en", ("en", False)),
    (None, None, "en;q=abc, zh", ("zh-CN", False)),
])
def test_the_language_of_a_request(param, cookie, accept, expected) -> None:
    assert negotiate(param, cookie, accept) == expected


def test_dates_and_times_in_the_readers_form() -> None:
    assert format_date("2026-02-27", "zh-CN") == "2026年2月27日"
    assert format_date("2026-02-27", "en") == "27 Feb 2026"
    assert format_date(date(2026, 12, 1), "en") == "1 Dec 2026"
    assert format_date("not a date", "en") == "not a date" and format_date(None, "zh-CN") == ""
    assert format_time("2026-02-27T16:05:09.123456Z", "zh-CN") == "2026年2月28日 00:05:09"  # Beijing time
    assert format_time("2026-02-27T16:05:09.123456Z", "en") == "28 Feb 2026 00:05:09"


@pytest.mark.parametrize("target,expected", [
    ("/lists/black?field=tax", "/lists/black?field=tax"), ("/", "/"), (None, "/"), ("", "/"),
    ("//evil.example", "/"), ("/\\evil.example", "/"), ("https://evil.example/", "/"), ("javascript:alert(1)", "/"),
    ("/ok path", "/"),
])
def test_the_language_switch_goes_back_only_to_this_site(target, expected) -> None:
    assert safe_next(target) == expected


@pytest.fixture
def view(world: World) -> Iterator[ArchiveView]:
    views = open_views(world.settings, world.ledger)
    yield views.archive
    views.close()


def test_a_search_matches_public_fields_only_and_never_an_id_number(world: World, view: ArchiveView) -> None:
    dept = world.department()
    subject = make_resident_id(date(1985, 3, 4))
    env = world.submission(dept, subject=subject, subject_name="欧阳娜娜", summary="内部：欧阳娜娜",
                           decision_date=(TODAY - timedelta(days=9)).isoformat(), document_number="青市监罚〔2026〕77号")
    world.append_ok(env)
    rid = env["statement"]["id"]
    world.append_ok(world.signed(dept, "record.disclosed", record_id=rid, list="black",
                                 notice_served_at=TODAY.isoformat()))
    view.catch_up_all()
    for text in ("欧*", "〔2026〕77", "food and drugs", "食品药品领域", "FOOD AND", dept.code[-4:]):
        page = view.public_list("black", TODAY, search=text)
        assert [e["entry_id"] for e in page.entries] == [rid], text
    for text in ("欧阳娜娜", "娜娜", "阳", "内部", subject[-4:], subject[:6], "1985"):
        assert view.public_list("black", TODAY, search=text).entries == [], text
    for text in (subject, subject[:17] + "-", "x" * 51):
        with pytest.raises(ValueError):
            view.public_list("black", TODAY, search=text)
    page = view.public_list("black", TODAY, search="   ")  # blank: no search
    assert [e["entry_id"] for e in page.entries] == [rid] and page.position == view.position()


def test_cursors_belong_to_their_order_and_sorting_is_total(world: World, view: ArchiveView) -> None:
    a, b = world.department(), world.department()
    for n in range(7):
        dept = (a, b)[n % 2]
        env = world.submission(dept, decision_date=(TODAY - timedelta(days=10 + n // 2)).isoformat())
        world.append_ok(env)
        world.append_ok(world.signed(dept, "record.disclosed", record_id=env["statement"]["id"], list="black",
                                     notice_served_at=TODAY.isoformat()))
    view.catch_up_all()
    for sort in ("-decision_date", "decision_date", "authority"):
        whole = view.public_list("black", TODAY, sort=sort, limit=200).entries
        seen, cursor = [], None
        while True:
            page = view.public_list("black", TODAY, sort=sort, limit=2, cursor=cursor)
            seen += page.entries
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
            for other in {"-decision_date", "decision_date", "authority"} - {sort}:
                with pytest.raises(ValueError, match="cursor"):
                    view.public_list("black", TODAY, sort=other, cursor=cursor)
        assert seen == whole and len(whole) == 7
    with pytest.raises(ValueError, match="sort"):
        view.public_list("black", TODAY, sort="name")
    empty = view.public_list("black", TODAY, field="tax")
    assert empty.entries == [] and empty.next_cursor is None and empty.position == view.position() > 0
