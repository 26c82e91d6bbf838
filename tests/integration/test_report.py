"""The credit report: made for a credit_report query, signed, with proofs; checked offline and refused when
tampered with. Both backends, the API served in-process."""

from __future__ import annotations

import base64
import copy
import html
import json
import re
from datetime import timedelta

import httpx
import pytest

from keys import KeyPair
from ledger.domain.catalogue import shipped_catalogue_document
from ledger.log.merkle import root_from_leaf_hashes
from ledger.log.note import format_checkpoint, sign_note, verifier_key_string
from ledger.log.report import ReportError, report_key_name, signed_bytes, verify_report
from tests.support import World, make_resident_id, now


def publish_v2(world: World) -> None:
    doc = shipped_catalogue_document(2)
    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=2, catalogue=doc))


def report_query(world: World, dept, subject: str, purpose: str = "employment") -> dict:
    return world.signed(dept, "query.requested", operator="hr-3", purpose=purpose, scope="credit_report",
                        legal_basis="Labour Contract Law art. 8", subject=subject)


def keys(client) -> tuple[str, str]:
    return (client.get("/v1/report/verifier-key").text.strip(), client.get("/v1/log/verifier-key").text.strip())


def resign(report: dict, key: KeyPair) -> dict:
    """The report signed again with ``key`` (as only the holder of the report key could)."""
    report = copy.deepcopy(report)
    report["signature"]["value"] = key.sign(signed_bytes(report))
    return report


@pytest.fixture
def made(client, world):
    publish_v2(world)
    dept = world.department(purposes=["employment"])
    subject = make_resident_id()
    serious = world.submission(dept, subject=subject)
    world.append_ok(serious)
    world.append_ok(world.signed(dept, "record.corrected", record_id=serious["statement"]["id"], record_version=1,
                                 changes={"summary": "Sold food past its use-by date, twice"}, reason="fuller"))
    before = world.ledger.count()
    r = client.post("/v1/queries", json=report_query(world, dept, subject))
    assert r.status_code == 200, r.text
    assert world.ledger.count() == before + 1
    return r.json(), subject, serious["statement"]["id"], dept


def test_a_report_is_signed_proven_and_verifies_offline(client, world, made):
    answer, subject, record_id, dept = made
    report = answer["data"]
    report_key, log_key = keys(client)
    assert report["subject"] == {"id": subject, "name": "张三"}
    assert report["query"]["receipt"]["statement_id"] == answer["receipt"]["statement_id"]
    assert report["query"]["leaf_index"] == answer["receipt"]["leaf_index"] < report["tree_size"]
    (record,) = report["records"]
    assert record["record_id"] == record_id and len(record["entries"]) == 2
    assert [m["id"] for m in report["measures"]] == ["P-EMPLOYMENT"]
    assert report["measures"][0]["triggered_by"] == [record_id]
    assert report["points"]["total"] == 70 and report["points"]["from"][0]["record_id"] == record_id
    result = verify_report(report, report_key, log_key)
    assert result.subject == subject and result.entries == 3 and result.tree_size == report["tree_size"]
    # A consistency proof to a later checkpoint shows the history was not rewritten afterwards.
    world.append_ok(world.submission(dept))
    client.post("/v1/log/checkpoint")
    later = client.get("/v1/log/checkpoint").text
    size = int(later.splitlines()[1])
    proof = client.get("/v1/log/proof/consistency", params={"first": report["tree_size"], "second": size}).json()
    assert verify_report(report, report_key, log_key, later, proof).later_size == size > report["tree_size"]


def test_tampered_reports_are_refused_naming_what_fails(client, world, made, tmp_path):
    answer, subject, _, _ = made
    report = answer["data"]
    report_key, log_key = keys(client)
    changed = copy.deepcopy(report)
    changed["records"][0]["fields"]["summary"] = changed["records"][0]["fields"]["summary"].replace("S", "T", 1)
    with pytest.raises(ReportError, match="does not verify with the report key"):
        verify_report(changed, report_key, log_key)
    # Another ledger's keys: neither its report key nor its log key is the one pinned.
    other = KeyPair.generate()
    other_report_key = verifier_key_string(report_key_name("other.example/log"), other.public_key)
    with pytest.raises(ReportError, match="not the pinned report key"):
        verify_report(report, other_report_key, verifier_key_string("other.example/log", other.public_key))
    own = KeyPair.load(world.settings.keys_dir / "report.pem")
    with pytest.raises(ReportError, match="report is of the ledger"):
        verify_report(report, report_key, verifier_key_string("other.example/log", other.public_key))
    # A checkpoint the log never signed (even in a report signed again with the report key itself).
    forged = copy.deepcopy(report)
    origin = report["ledger"]
    forged["checkpoint"] = sign_note(format_checkpoint(origin, report["tree_size"], b"\x01" * 32), origin,
                                     other.private_key)
    with pytest.raises(ReportError, match="checkpoint: the checkpoint is not signed by the log key"):
        verify_report(resign(forged, own), report_key, log_key)
    # A proof that does not lead to the signed root.
    bent = copy.deepcopy(report)
    bent["records"][0]["entries"][0]["entry"]["statement"]["summary"] = "Something else"
    with pytest.raises(ReportError, match="does not lead to the checkpoint's root"):
        verify_report(resign(bent, own), report_key, log_key)
    # A consistency proof against a later checkpoint the log never signed.
    fake_later = sign_note(format_checkpoint(origin, report["tree_size"] + 1, b"\x02" * 32), origin, other.private_key)
    with pytest.raises(ReportError, match="later checkpoint"):
        verify_report(report, report_key, log_key, fake_later, {"first": 1, "second": 2, "proof": []})


def test_measures_appear_and_disappear_as_records_change(client, world):
    publish_v2(world)
    dept = world.department(items=["food_drug.serious", "food_drug.commendation"],
                            purposes=["administrative_licensing", "commendation"])
    subject = make_resident_id()

    def measures(purpose: str, day_offset: int = 0) -> dict[str, list[str]]:
        q = world.signed(dept, "query.requested", operator="w-1", purpose=purpose, scope="archive",
                         legal_basis="Administrative Licensing Law art. 31", subject=subject)
        r = client.post("/v1/queries", json=q)
        assert r.status_code == 200, r.text
        return {m["id"]: m["triggered_by"] for m in r.json()["data"]["measures"]}

    # No negative record: the green channel and acceptance with documents to follow.
    assert set(measures("administrative_licensing")) == {"I-GREEN-CHANNEL", "I-ACCEPT-WITH-GAPS"}
    old = world.submission(dept, subject=subject, decision_date=(now().date() - timedelta(days=400)).isoformat())
    fresh = world.submission(dept, subject=subject)
    world.append_ok(old, fresh)
    ids = sorted([old["statement"]["id"], fresh["statement"]["id"]])
    assert measures("administrative_licensing") == {"P-KEY-SUPERVISION": ids}
    assert measures("commendation") == {"P-COMMENDATION": ids}
    # Repaired: the old one no longer triggers; revoked: neither does the other, and the incentives return.
    world.append_ok(world.signed(dept, "record.repaired", record_id=old["statement"]["id"], method="fulfilment",
                                 proof_reference="p", commitment_reference="c"))
    assert measures("commendation") == {"P-COMMENDATION": [fresh["statement"]["id"]]}
    world.append_ok(world.signed(dept, "record.revoked", record_id=fresh["statement"]["id"], reason="annulled",
                                 annulling_document="court 1"))
    assert set(measures("administrative_licensing")) == {"I-GREEN-CHANNEL", "I-ACCEPT-WITH-GAPS"}
    # A traffic record under v2 is under key supervision (v1 had it off).
    traffic = world.department(items=["traffic_safety.serious"], purposes=["administrative_licensing"])
    world.append_ok(world.submission(traffic, item="traffic_safety.serious", subject=subject))
    assert "P-KEY-SUPERVISION" in measures("administrative_licensing")


def test_report_verifier_key_is_published_and_pinned_in_the_data_directory(client, world):
    key = KeyPair.load(world.settings.keys_dir / "report.pem")
    assert client.get("/v1/report/verifier-key").text.strip() == verifier_key_string(
        report_key_name(world.settings.log_origin), key.public_key)
    assert httpx.codes.OK == client.get("/v1/report/verifier-key").status_code


def test_a_checkpoint_signed_by_the_log_key_that_the_log_never_published_is_refused_by_verify(client, world, made):
    """Signed by the real log key, with every proof leading to its root, the report passes the offline check; the
    /verify page also asks that its checkpoint be one this log stored, and refuses it."""
    answer, _, _, dept = made
    report = answer["data"]
    report_key, log_verifier_key = keys(client)
    log_key = KeyPair.load(world.settings.keys_dir / "log.pem")
    own = KeyPair.load(world.settings.keys_dir / "report.pem")
    world.append_ok(world.submission(dept), world.submission(dept))  # one transaction: the log grows by two at once
    assert client.post("/v1/log/checkpoint").status_code == 200
    head = int(client.get("/v1/log/checkpoint").text.splitlines()[1])
    stored = {c["size"] for c in client.get("/v1/log/checkpoints", params={"limit": 1000}).json()["checkpoints"]}
    assert report["tree_size"] in stored and head in stored
    unpublished = [n for n in range(report["tree_size"] + 1, head) if n not in stored]
    assert unpublished, (report["tree_size"], head, stored)
    size = unpublished[0]  # below the head: the log signs checkpoints at its head only, so never this one
    hashes = client.get("/v1/log/leaf-hashes", params={"start": 0, "end": size}).json()["leaf_hashes"]
    root = root_from_leaf_hashes([base64.b64decode(h) for h in hashes])
    forged = copy.deepcopy(report)
    forged["tree_size"] = size
    forged["checkpoint"] = sign_note(format_checkpoint(report["ledger"], size, root), report["ledger"],
                                     log_key.private_key)
    for item in [forged["query"], *(e for r in forged["records"] for e in r["entries"])]:
        item["proof"] = client.get("/v1/log/proof/inclusion",
                                   params={"leaf_index": item["leaf_index"], "tree_size": size}).json()["proof"]
    forged = resign(forged, own)
    assert verify_report(forged, report_key, log_verifier_key).tree_size == size  # offline, it holds
    before = world.ledger.count()
    for lang, words in (("en", "the report's checkpoint is not one this log signed and stored"),
                        ("zh-CN", "报告的检查点不是本日志签发并保存的检查点。")):
        r = client.post(f"/verify?lang={lang}", content=json.dumps(forged, ensure_ascii=False).encode(),
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and 'data-result="invalid"' in r.text, r.text
        assert html.unescape(re.search(r'data-field="reason">([^<]*)<', r.text).group(1)) == words
    r = client.post("/verify", files={"file": ("report.json", json.dumps(forged).encode(), "application/json")})
    assert r.status_code == 422 and 'data-result="invalid"' in r.text
    # The genuine report still checks, nothing was stored, and the forged size is still not a checkpoint.
    r = client.post("/verify", content=json.dumps(report).encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and 'data-result="valid"' in r.text
    assert world.ledger.count() == before
    assert client.get("/v1/log/checkpoints", params={"size": size}).status_code == 404
