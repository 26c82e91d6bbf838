"""A public-list entry carries no text written for another audience, and no personal data in any text."""

from __future__ import annotations

import orjson

from ledger.domain import record_doc
from ledger.domain.archive_rules import public_entry

SUBJECT = "37020219900101123X"
ITEM = {"code": "food_drug.serious", "kind": "negative", "severity": "serious", "field": "food_drug",
        "listing": "black", "publishable": True, "title": "Serious untrustworthy conduct: food and drugs",
        "key_supervision": True, "version": 1}
SUMMARY = "李四 (ID 370202199001011237, phone 13800000000) sold counterfeit milk powder"
SECRETS = ["李四", "李小四", "370202199001011237", SUBJECT, "13800000000", "lisi@example.com", "6222021234567890128",
           "counterfeit", "0532-88888888"]


def submitted(**fields) -> dict:
    s = {"type": "record.submitted", "id": "00000000-0000-4000-8000-000000000001", "issuer": "91370200MA3C00001N",
         "issued_at": "2026-03-01T00:00:00Z", "subject": SUBJECT, "subject_name": "李四", "item": ITEM["code"],
         "summary": SUMMARY, "decision_date": "2026-02-27", "document_number": "青市监罚〔2026〕15号",
         "legal_basis": "Food Safety Law art. 124", **fields}
    return record_doc.reduce(None, "Submitted", s, {"recorded_at": s["issued_at"], "item": ITEM, "expires_on": None})


def disclosed(doc: dict, **fields) -> dict:
    s = {"type": "record.disclosed", "id": "00000000-0000-4000-8000-000000000002", "issuer": doc["issuer"],
         "issued_at": "2026-03-02T00:00:00Z", "record_id": doc["record_id"], "list": "black",
         "notice_served_at": "2026-03-01", **fields}
    return record_doc.reduce(doc, "Disclosed", s, {"recorded_at": s["issued_at"], "public_until": "2029-02-27",
                                                   "period_months": None})


def corrected(doc: dict, changes: dict) -> dict:
    s = {"type": "record.corrected", "id": "00000000-0000-4000-8000-000000000003", "issuer": doc["issuer"],
         "issued_at": "2026-03-03T00:00:00Z", "record_id": doc["record_id"], "record_version": 2, "changes": changes,
         "reason": "name misspelt"}
    return record_doc.reduce(doc, "Corrected", s, {"recorded_at": s["issued_at"], "expires_on": None,
                                                   "public_until": "2029-02-27"})


def text_of(entry: dict) -> str:
    return orjson.dumps(entry).decode()


def test_the_summary_never_reaches_the_entry_the_catalogue_wording_does():
    entry = public_entry(disclosed(submitted()), "Qingdao Market Supervision Bureau")
    assert entry["reason"] == entry["category"] == ITEM["title"]
    assert entry["name"] == "李*" and entry["id_number"] == "3702**********123X"
    assert entry["legal_basis"] == "Food Safety Law art. 124" and entry["document_number"] == "青市监罚〔2026〕15号"
    assert not any(secret in text_of(entry) for secret in SECRETS)


def test_a_public_reason_is_published_in_place_of_the_wording():
    entry = public_entry(disclosed(submitted(), public_reason="Sold counterfeit infant formula"), "")
    assert entry["reason"] == "Sold counterfeit infant formula" and entry["category"] == ITEM["title"]


def test_personal_data_in_an_older_disclosure_is_masked_in_every_public_text():
    doc = submitted(legal_basis="Food Safety Law art. 124 (李四 card 6222021234567890128)",
                    document_number="青市监罚〔2026〕15号 13800000000")
    doc = disclosed(doc, public_reason=SUMMARY.replace(" sold counterfeit milk powder", " sold fakes"),
                    exit_conditions="李四 pays the fine; mail lisi@example.com",
                    remedies="李四 may call 0532-88888888")
    doc = corrected(doc, {"subject_name": "李小四"})  # the name the texts used is a former one now
    entry = public_entry(doc, "")
    assert not any(secret in text_of(entry) for secret in SECRETS), text_of(entry)
    assert entry["reason"] == "李* (ID [ID number], phone [phone]) sold fakes"
    assert entry["exit_conditions"] == "李* pays the fine; mail [e-mail]"
    assert entry["remedies"] == "李* may call [phone]"
    assert entry["legal_basis"] == "Food Safety Law art. 124 (李* card [bank card])"
    assert entry["document_number"] == "青市监罚〔2026〕15号 [phone]"


def test_a_disclosure_without_public_reason_keeps_the_document_it_always_had():
    doc = disclosed(submitted())
    assert set(doc["disclosure"]) == {"list", "public_until", "disclosed_at", "notice_served_at", "period_months",
                                      "exit_conditions", "remedies", "by_statement"}
    assert disclosed(submitted(), public_reason="x")["disclosure"]["public_reason"] == "x"
