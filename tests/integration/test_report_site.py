"""The public site's /verify page over HTTP (the app in-process), on SQLite and PostgreSQL: a report's code is
looked up by leaf index and checked by hash prefix, an uploaded report is checked with the ledger's own keys,
and neither answer says anything about the subject; bad input is a page, and nothing is ever stored."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from fastapi.testclient import TestClient

from keys import KeyPair
from ledger.log.note import format_checkpoint, sign_note
from ledger.log.report import entry_code, report_entry_code, signed_bytes
from tests.integration.test_report import made, publish_v2, report_query  # noqa: F401  (fixture)
from tests.support import World


def result_of(html: str) -> str:
    found = re.search(r'data-result="([a-z-]+)"', html)
    assert found, html
    return found.group(1)


def field(html: str, name: str) -> str:
    found = re.search(rf'data-field="{name}">([^<]*)<', html)
    assert found, html
    return found.group(1)


def no_subject_data(html: str, report: dict[str, Any]) -> None:
    """The page shows nothing of the report's subject, department or records."""
    record = report["records"][0]
    for secret in [report["subject"]["id"], report["subject"]["name"], report["department"]["code"],
                   record["record_id"], record["fields"]["summary"], report["purpose"]]:
        assert secret not in html


def upload(client: TestClient, document: Any) -> Any:
    return client.post("/verify", content=json.dumps(document, ensure_ascii=False).encode(),
                       headers={"Content-Type": "application/json"})


def test_a_code_finds_its_entry_and_a_wrong_prefix_finds_nothing(client, world: World, made):  # noqa: F811
    report = made[0]["data"]
    code = report_entry_code(report)
    leaf = report["query"]["leaf_index"]
    assert re.fullmatch(rf"{leaf}-[A-Z2-7]{{8}}", code)
    before = world.ledger.count()
    r = client.get("/verify", params={"code": code.lower()})
    assert r.status_code == 200 and result_of(r.text) == "match"
    assert f'data-leaf="{leaf}"' in r.text and f'data-size="{report["tree_size"]}"' in r.text
    no_subject_data(r.text, report)
    # The same leaf index with another hash prefix, and a leaf beyond the log: no entry matches.
    prefix = code.split("-")[1]
    wrong = f"{leaf}-{'A' if prefix[0] != 'A' else 'B'}{prefix[1:]}"
    for other in (wrong, f"{leaf + 10_000}-{prefix}"):
        r = client.get("/verify", params={"code": other})
        assert r.status_code == 200 and result_of(r.text) == "no-match" and "data-leaf" not in r.text
    # A garbage code is a page saying what a code looks like, status 400.
    for garbage in ("hello", "12-ABC", "x-ABCDEFGH", "1-ABCDEFG1", "9" * 30 + "-ABCDEFGH"):
        r = client.get("/verify", params={"code": garbage})
        assert r.status_code == 400 and result_of(r.text) == "error" and "1234-ABCDEFGH" in r.text
    assert client.get("/verify").status_code == 200
    assert world.ledger.count() == before


def test_an_uploaded_report_is_checked_with_the_ledgers_own_keys(client, world: World, made):  # noqa: F811
    answer = made[0]
    report = answer["data"]
    before = world.ledger.count()
    for document in (report, answer):  # the report, or the whole answer holding it
        r = upload(client, document)
        assert r.status_code == 200 and result_of(r.text) == "valid", r.text
        assert field(r.text, "code") == report_entry_code(report)
        assert field(r.text, "position") == str(report["position"])
        assert field(r.text, "size") == str(report["tree_size"])
        no_subject_data(r.text, report)
    # The JS-free form: the report pasted into the textarea.
    r = client.post("/verify", data={"report": json.dumps(report, ensure_ascii=False)})
    assert r.status_code == 200 and result_of(r.text) == "valid"
    # One changed byte: the signature fails, and the page says so without echoing the upload.
    raw = json.dumps(report, ensure_ascii=False)
    changed = raw.replace("Sold food", "Sold fooe", 1)
    assert changed != raw
    r = client.post("/verify", content=changed.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and result_of(r.text) == "invalid"
    assert "does not verify with the report key" in field(r.text, "reason")
    assert "fooe" not in r.text
    no_subject_data(r.text, report)
    assert world.ledger.count() == before


def test_another_ledgers_report_and_unsigned_checkpoints_are_invalid(client, world: World, made, tmp_path):  # noqa: F811
    report = made[0]["data"]
    own = KeyPair.load(world.settings.keys_dir / "report.pem")
    before = world.ledger.count()
    # Another ledger's report: signed by another report key.
    other = copy.deepcopy(report)
    elsewhere = KeyPair.generate()
    other["signature"]["key"] = other["signature"]["key"].replace(report["ledger"], "other.example/log")
    other["ledger"] = "other.example/log"
    other["signature"]["value"] = elsewhere.sign(signed_bytes(other))
    r = upload(client, other)
    assert r.status_code == 422 and result_of(r.text) == "invalid"
    assert "not the pinned report key" in field(r.text, "reason") and "other.example" not in r.text
    # A checkpoint the log never signed, even under the report key itself.
    forged = copy.deepcopy(report)
    forged["checkpoint"] = sign_note(format_checkpoint(report["ledger"], report["tree_size"], b"\x01" * 32),
                                     report["ledger"], elsewhere.private_key)
    forged["signature"]["value"] = own.sign(signed_bytes(forged))
    r = upload(client, forged)
    assert r.status_code == 422 and "checkpoint" in field(r.text, "reason")
    assert world.ledger.count() == before


def test_uploads_that_are_not_reports_are_refused_clearly(client, world: World, made):  # noqa: F811
    report = made[0]["data"]
    before = world.ledger.count()
    r = client.post("/verify", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and result_of(r.text) == "error" and "JSON" in r.text
    r = client.post("/verify", content=b"<html>", headers={"Content-Type": "text/html"})
    assert r.status_code == 415 and result_of(r.text) == "error"
    big = b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    r = client.post("/verify", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and result_of(r.text) == "error"
    r = upload(client, {"format": "something else", "subject": report["subject"]})
    assert r.status_code == 422 and "no credit report" in field(r.text, "reason")
    assert report["subject"]["id"] not in r.text
    r = client.post("/verify", data={"report": ""})
    assert r.status_code == 400 and result_of(r.text) == "error"
    assert world.ledger.count() == before
    assert entry_code(0, b"\x00" * 32) == "0-AAAAAAAA"


def pick(client: TestClient, content: bytes, lang: str = "zh-CN", name: str = "report.json") -> Any:
    """The upload form: ``content`` as the file chosen in its picker (multipart/form-data)."""
    return client.post(f"/verify?lang={lang}", files={"file": (name, content, "application/json")})


def test_a_report_file_chosen_in_the_upload_form_is_checked(client, world: World, made):  # noqa: F811
    answer = made[0]
    report = answer["data"]
    raw = json.dumps(report, ensure_ascii=False, indent=1).encode()
    before = world.ledger.count()
    for content in (raw, b"\xef\xbb\xbf" + raw, json.dumps(answer).encode()):  # also with a BOM, or the answer
        r = pick(client, content)
        assert r.status_code == 200 and result_of(r.text) == "valid", r.text
        assert field(r.text, "code") == report_entry_code(report)
        assert field(r.text, "position") == str(report["position"]) and field(r.text, "size") == str(report["tree_size"])
        no_subject_data(r.text, report)
    # One changed byte: invalid, naming the reason, echoing nothing of the file.
    changed = raw.replace("Sold food".encode(), b"Sold fooe", 1)
    assert changed != raw and len(changed) == len(raw)
    for lang in ("en", "zh-CN"):
        r = pick(client, changed, lang)
        assert r.status_code == 422 and result_of(r.text) == "invalid"
        assert "does not verify with the report key" in field(r.text, "reason") and "fooe" not in r.text
        no_subject_data(r.text, report)
    # Another ledger's report.
    other = copy.deepcopy(report)
    other["signature"]["key"] = other["signature"]["key"].replace(report["ledger"], "other.example/log")
    other["ledger"] = "other.example/log"
    other["signature"]["value"] = KeyPair.generate().sign(signed_bytes(other))
    r = pick(client, json.dumps(other).encode())
    assert r.status_code == 422 and result_of(r.text) == "invalid"
    assert "not the pinned report key" in field(r.text, "reason") and "other.example" not in r.text
    # The picker's part wins over a pasted text in the same form.
    r = client.post("/verify", data={"report": "{not json"}, files={"file": ("r.json", raw, "application/json")})
    assert r.status_code == 200 and result_of(r.text) == "valid"
    assert world.ledger.count() == before


def test_uploaded_files_that_are_too_big_or_not_reports_are_refused_in_both_languages(client, world: World,
                                                                                       made):  # noqa: F811
    report = made[0]["data"]
    before = world.ledger.count()
    head = client.get("/healthz").json()["position"]

    def refused(r: Any, status: int, zh: str, en: str) -> None:
        assert r.status_code == status and result_of(r.text) == "error", r.text
        assert f'<html lang="{lang}">' in r.text and (zh if lang == "zh-CN" else en) in r.text

    for lang in ("zh-CN", "en"):
        # A file just over 2 MiB (the body within the form's allowance: refused while the file is read) and one
        # of 3 MiB (its Content-Length already says so).
        at_limit = b'{"x": "' + b"a" * (2 * 1024 * 1024 - 9) + b'"}'
        just_over = at_limit[:-1] + b' }'
        assert len(at_limit) == 2 * 1024 * 1024 == len(just_over) - 1
        r = pick(client, at_limit, lang)  # exactly 2 MiB is read and checked
        assert r.status_code == 422 and "no credit report" in field(r.text, "reason")
        for content in (just_over, b" " * (3 * 1024 * 1024)):
            refused(pick(client, content, lang), 413, "上传内容超过 2 MiB。", "The upload is larger than 2 MiB.")
        refused(pick(client, b"{not json", lang), 400, "上传内容不是 JSON。", "The upload is not JSON.")
        refused(pick(client, "报告".encode("gbk"), lang), 400, "上传内容不是 JSON。", "The upload is not JSON.")
        refused(pick(client, b"", lang, name=""), 400, "没有上传报告。", "No report was sent.")
        r = pick(client, json.dumps({"format": "something else", "subject": report["subject"]}).encode(), lang)
        assert r.status_code == 422 and "no credit report" in field(r.text, "reason")
        assert report["subject"]["id"] not in r.text
        # A body that is not a whole form: no boundary, a truncated one, too many parts.
        r = client.post(f"/verify?lang={lang}", content=b"x", headers={"Content-Type": "multipart/form-data"})
        refused(r, 400, "无法读取上传的表单", "The uploaded form could not be read")
        whole = client.build_request("POST", "/verify", files={"file": ("r.json", b"{}", "application/json")})
        body = whole.read()
        r = client.post(f"/verify?lang={lang}", content=body[:-20], headers={"Content-Type": whole.headers["content-type"]})
        refused(r, 400, "无法读取上传的表单", "The uploaded form could not be read")
        many = {f"f{i}": "x" for i in range(6)}
        r = client.post(f"/verify?lang={lang}", data=many, files={"file": ("r.json", b"{}", "application/json")})
        refused(r, 400, "无法读取上传的表单", "The uploaded form could not be read")
    assert world.ledger.count() == before and client.get("/healthz").json()["position"] == head
