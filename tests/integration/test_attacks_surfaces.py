"""Attacks on the public surfaces (the site, the JSON lists' sort and cursor, /metrics and the access log), the app
in-process on SQLite and PostgreSQL. A defended attack is a passing test that fails if the defence goes; an
attack that still works is marked ``xfail(strict=True)`` with the hole it shows."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.log.receipts import ReceiptError, verify_receipt
from projections.archive_lists import public_list_page
from projections.store import Store
from tests.support import Department, World, make_resident_id, now

TODAY = now().date()
P = "urn:credit-ledger:problem:"
LISTED_ID = make_resident_id(date(1988, 8, 8))
LISTED_NAME = "欧阳娜娜"


def listed(world: World, dept: Department, days_ago: int, **fields: Any) -> str:
    env = world.submission(dept, decision_date=(TODAY - timedelta(days=days_ago)).isoformat(), **fields)
    world.append_ok(env)
    rid = env["statement"]["id"]
    world.append_ok(world.signed(dept, "record.disclosed", record_id=rid, list="black",
                                 notice_served_at=TODAY.isoformat()))
    return str(rid)


@pytest.fixture
def served(world: World, tmp_path: Path) -> Iterator[tuple[TestClient, World, list[str], Path]]:
    """12 black-list entries (one of 欧阳娜娜), projections caught up by hand; the access log goes to a file."""
    dept = world.department()
    ids = [listed(world, dept, 10 + n, subject_name="张小明") for n in range(11)]
    ids.append(listed(world, dept, 5, subject=LISTED_ID, subject_name=LISTED_NAME))
    log = tmp_path / "access.log"
    app = create_app(world.settings.model_copy(update={"run_projections": False}))
    assert app.access_log is not None  # type: ignore[attr-defined]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    app.access_log.fd = fd  # type: ignore[attr-defined]
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            views = client.app.state.views  # type: ignore[attr-defined]
            views.archive.catch_up_all()
            views.tree.catch_up_all()
            views.checkpointer.make()
            yield client, world, ids, log
    finally:
        os.close(fd)


def entries_of(html: str) -> list[str]:
    return re.findall(r'data-entry="([0-9a-f-]{36})"', html)


# --- the site: /language, search as an oracle ---------------------------------------------------------------

@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "/\t/evil.example", "https:evil.example",
                                    "/%0d%0aSet-Cookie:%20a=1"])
def test_the_language_switch_is_no_open_redirect_and_no_header_injection(served, target: str) -> None:
    client, *_ = served
    r = client.get("/language", params={"to": "en", "next": target}, follow_redirects=False)
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\")) and "\n" not in location
    assert "set-cookie: a=1" not in "\n".join(f"{k}: {v}" for k, v in r.headers.items()).lower()


@pytest.mark.parametrize("target", ["/\n", "/lists/black\n", "/\x00", "/中文"])
def test_the_language_switch_with_a_control_or_non_ascii_next_goes_home(served, target: str) -> None:
    client, *_ = served
    r = client.get("/language", params={"to": "en", "next": target}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_search_is_no_id_number_or_full_name_oracle(served) -> None:
    """A listed person's ID number, or full name, gets the very page an unlisted one gets (the text aside)."""
    client, *_ = served
    unlisted_id = make_resident_id(date(1988, 8, 9))

    def page(path: str, q: str) -> str:
        r = client.get(path, params={"q": q})
        assert r.status_code == 200
        text = r.text
        for shown in (quote_plus(quote_plus(q)), quote_plus(q), q):  # the text, in the page and in its links
            text = text.replace(shown, "Q")
        return text

    for path in ("/search", "/lists/black"):
        for known, unknown in ((LISTED_ID, unlisted_id), (LISTED_ID[-6:] + " " + LISTED_NAME, "888888 欧阳某某"),
                               (LISTED_NAME, "欧阳某某"), (LISTED_ID[:14] + "-" + LISTED_ID[14:], unlisted_id[:14] + "-" + unlisted_id[14:]),
                               (LISTED_ID[:14], unlisted_id[:14])):
            a, b = page(path, known), page(path, unknown)
            assert entries_of(a) == [] and entries_of(b) == [], (path, known)
            assert a == b, (path, known)


# --- the JSON lists: sort and cursor --------------------------------------------------------------------------

def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


INJECTIONS = ["x' OR '1'='1", "x') OR 1=1 --", "x'; DROP TABLE archive_records; --", "%s", "\\", "\u2028"]


def test_forged_cursors_and_sorts_reach_no_sql_and_no_entry_off_the_list(served) -> None:
    client, world, ids, _ = served
    whole = client.get("/v1/public/lists/black", params={"limit": 200}).json()["entries"]
    assert sorted(e["entry_id"] for e in whole) == sorted(ids)
    forged: list[tuple[str, str]] = []
    for bad in INJECTIONS:
        forged += [("-decision_date", b64(f"2999-01-01|{bad}".encode())),
                   ("-decision_date", b64(f"{bad}|x".encode())),
                   ("decision_date", b64(orjson.dumps(["decision_date", "2000-01-01", bad]))),
                   ("authority", b64(orjson.dumps(["authority", bad, "2999-01-01", bad]))),
                   ("authority", b64(orjson.dumps(["authority", "", "2999-01-01", ""]))[:-1] + bad)]
    forged += [("authority", b64(orjson.dumps(["authority", 1, "2999-01-01", "x"]))),
               ("decision_date", b64(orjson.dumps(["decision_date", "2000-01-01", "x", "y"]))),
               ("decision_date", b64(orjson.dumps({"sort": "decision_date"})))]
    for sort, cursor in forged:
        r = client.get("/v1/public/lists/black", params={"sort": sort, "cursor": cursor, "limit": 200})
        assert r.status_code in (200, 400), (sort, cursor, r.text)
        if r.status_code == 400:
            assert r.json()["type"] == P + "invalid-range"
        else:  # a cursor is only a place in the order: what follows it is entries of the list, nothing else
            assert {e["entry_id"] for e in r.json()["entries"]} <= set(ids), (sort, cursor)
    for sort in ("name", "decision_date; DROP TABLE archive_records", "-decision_date,subject", "subject"):
        r = client.get("/v1/public/lists/black", params={"sort": sort})
        assert r.status_code == 422 and r.json()["type"] == P + "invalid-request"
        page = client.get("/lists/black", params={"sort": sort})
        assert page.status_code == 400 and entries_of(page.text) == []
    after = client.get("/v1/public/lists/black", params={"limit": 200}).json()["entries"]
    assert after == whole


def test_a_nul_character_in_a_cursor_or_filter_is_bad_input_not_an_outage(served) -> None:
    client, world, ids, _ = served
    nul = b64("2999-01-01|\x00".encode())
    answers = [client.get("/v1/public/lists/black", params={"cursor": nul}),
               client.get("/v1/public/lists/black", params={"field": "\x00"}),
               client.get("/lists/black", params={"cursor": nul}),
               client.get("/lists/black", params={"field": "food\x00"})]
    for r in answers:
        assert r.status_code in (200, 400), (r.request.url, r.status_code)
    for r in answers[:2]:
        assert r.status_code == 200 or r.json()["type"] == P + "invalid-range"


class CountingStore:
    """A store that counts the rows its queries hand back (the page read's work)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tracking = store.tracking
        self.rows = 0

    def query(self, sql: str, params: Any = ()) -> Any:
        rows = self.store.query(sql, params)
        self.rows += len(rows)
        return rows


def test_a_page_without_a_search_reads_only_its_own_rows(served) -> None:
    client, *_ = served
    store = CountingStore(client.app.state.views.store)  # type: ignore[attr-defined]
    page = public_list_page(store, "black", TODAY, limit=1)  # type: ignore[arg-type]
    assert len(page.entries) == 1 and store.rows <= 2


def test_a_search_reads_a_bounded_number_of_rows_and_pages_on_through_the_rest(served, monkeypatch) -> None:
    """A search's cost per request does not grow with the list: it reads at most ``SEARCH_SCAN`` entries, and
    its cursor goes on from the last one read, so paging finds every match all the same."""
    import projections.archive_lists as lists

    client, *_ = served
    everything = public_list_page(client.app.state.views.store, "black", TODAY, limit=200,  # type: ignore[attr-defined]
                                  search="张").entries
    assert len(everything) >= 2
    monkeypatch.setattr(lists, "SEARCH_SCAN", 3)
    store = CountingStore(client.app.state.views.store)  # type: ignore[attr-defined]
    found, cursor, requests = [], None, 0
    while True:
        before = store.rows
        page = public_list_page(store, "black", TODAY, limit=1, search="张", cursor=cursor)  # type: ignore[arg-type]
        assert store.rows - before <= 3 + 1, f"one search request read {store.rows - before} rows"  # + the catalogue
        found += page.entries
        requests += 1
        cursor = page.next_cursor
        if cursor is None:
            break
        assert requests < 100
    assert found == everything


# --- /metrics and the access log --------------------------------------------------------------------------------

def series(client: TestClient) -> set[str]:
    text = client.get("/metrics").text
    return {line.split(" ")[0] for line in text.splitlines() if line.startswith("credit_ledger_http_requests_total")}


def test_random_paths_methods_and_queries_add_no_metric_series(served) -> None:
    client, *_ = served
    for n in range(3):  # the routes and statuses this test uses, each seen once
        client.get(f"/no/such/{n}")
        client.request("BREW", f"/v1/x{n}")
        client.get("/lists/black", params={"q": f"a{n}"})
        client.get(f"/entries/{n}")
        series(client)
    before = series(client)
    for n in range(40):
        client.get(f"/no/such/{n}x{n}/{LISTED_ID}{n}", params={"subject": LISTED_ID})
        client.request(f"M{n}", f"/v1/x{n}")
        client.get("/lists/black", params={"q": f"q{n}", f"p{n}": "v"})
        client.get(f"/entries/{n}-{n}")
    after = series(client)
    assert after == before
    assert not any(LISTED_ID in s or "q0" in s for s in after)


def log_lines(log: Path, client: TestClient) -> list[dict[str, Any]]:
    client.app.access_log.stop()  # type: ignore[attr-defined]  # writes what is queued
    client.app.access_log.start()  # type: ignore[attr-defined]
    return [orjson.loads(line) for line in log.read_bytes().splitlines()]


def test_the_access_log_holds_no_id_number_query_string_or_client_request_text(served) -> None:
    client, world, ids, log = served
    client.get(f"/v1/archive/{LISTED_ID}", params={"name": LISTED_NAME})
    client.get("/search", params={"q": LISTED_NAME})
    client.get(f"/entries/{ids[-1]}", headers={"X-Request-Id": f"{LISTED_ID}-x"})
    client.get(f"/x/{LISTED_ID[:6]}/{LISTED_ID[6:]}", headers={"Referer": f"http://e/?id={LISTED_ID}"})
    client.get(f"/x/{base64.b64encode(LISTED_NAME.encode()).decode()}")
    text = "\n".join(orjson.dumps(line).decode() for line in log_lines(log, client))
    assert text.count('"request_id"') >= 5
    for secret in (LISTED_ID, LISTED_ID[6:], LISTED_NAME, "name=", "q=", "Referer", LISTED_ID[:6]):
        assert secret not in text, secret


def test_the_access_log_keeps_no_latin_name_from_an_unmatched_path(served) -> None:
    client, _, _, log = served
    client.get("/v1/archive/zhang.xiaoming")
    client.get("/v1/subjects/Ouyang-Nana/records")
    text = log_lines(log, client).__repr__()
    assert "zhang.xiaoming" not in text and "Ouyang-Nana" not in text


# --- verify receipt: forgeries ------------------------------------------------------------------------------------

def test_a_receipt_check_accepts_no_forgery(served) -> None:
    client, world, _, _ = served
    env = world.submission(world.department(), subject_name="张小明")
    sent = client.post("/v1/statements", json=env)
    assert sent.status_code == 201
    receipt = sent.json()
    views = client.app.state.views  # type: ignore[attr-defined]
    views.tree.catch_up_all()
    views.checkpointer.make()
    note = client.get("/v1/log/checkpoint").text
    key = client.get("/v1/log/verifier-key").text.strip()
    index = receipt["leaf_index"]
    proof = client.get("/v1/log/proof/inclusion", params={"leaf_index": index}).json()
    other = client.get("/v1/log/proof/inclusion", params={"leaf_index": index - 1}).json()
    assert verify_receipt(receipt, env, note, proof, key).leaf_index == index
    lines = note.split("\n")
    forged_root = "\n".join([*lines[:2], base64.b64encode(bytes(32)).decode(), *lines[3:]])
    statement = {**env["statement"], "summary": "something else"}
    forgeries = [
        ({**receipt, "recorded_at": "2020-01-01T00:00:00.000000Z"}, env, note, proof, key),
        (receipt, {**env, "statement": statement}, note, proof, key),
        ({**receipt, "leaf_index": index - 1}, env, note, other, key),  # another leaf's proof
        ({**receipt, "outcome": {"status": "accepted"}}, env, note, proof, key),
        (receipt, env, forged_root, proof, key),
        (receipt, env, note, {**proof, "proof": proof["proof"][:-1]}, key),
        (receipt, env, note, {**proof, "leaf_index": index - 1}, key),
        (receipt, env, note, proof, key.replace(key.split("+")[0], "other.example/log")),
        (receipt, {**env, "key_id": "ed25519:" + "0" * 32}, note, proof, key),
    ]
    for n, args in enumerate(forgeries):
        with pytest.raises(ReceiptError):
            verify_receipt(*args)
            pytest.fail(f"forgery {n} was accepted")
