"""A credit report from a real server: the catalogue with measures published with ``sign`` and ``submit``, the
report fetched with ``credit-ledger query``, then ``credit-ledger report verify`` offline with the server stopped;
a changed byte and another ledger's keys are refused in one line."""

from __future__ import annotations

import json

import httpx

from keys import KeyPair
from ledger.domain.catalogue import shipped_catalogue_document
from ledger.domain.genesis import AUTHORITY_CODE
from ledger.log.note import verifier_key_string
from ledger.log.report import report_key_name
from tests.e2e import test_cli_query
from tests.e2e.test_cli_verify import cli, served, write  # noqa: F401  (the fixture)
from tests.support import make_resident_id


def test_a_report_is_made_by_query_and_verified_offline(served):  # noqa: F811
    url, env, cwd = served.url, served.env, served.cwd
    write(cwd / "catalogue.json", {"type": "catalogue.published", "version": 2, "catalogue": shipped_catalogue_document(2)})
    cli("sign", "catalogue.json", "--key", "ledger-data/keys/authority.pem", "--issuer", AUTHORITY_CODE, "-o",
        "catalogue.env.json", env=env, cwd=cwd)
    cli("submit", "catalogue.env.json", "--url", url, env=env, cwd=cwd)
    assert httpx.get(url + "/healthz").json()["catalogue_version"] == 2
    code, _ = test_cli_query.register(url, cwd, "hr", purposes=["employment"], items=["tax.serious"])
    subject = make_resident_id()
    write(cwd / "record.json", {
        "type": "record.submitted", "subject": subject, "subject_name": "王五", "item": "tax.serious",
        "summary": "Evaded tax", "decision_date": "2026-02-27", "document_number": "青税罚〔2026〕3号",
        "legal_basis": "Tax Collection Law art. 63"})
    cli("sign", "record.json", "--key", "hr.pem", "--issuer", code, "-o", "record.env.json", env=env, cwd=cwd)
    cli("submit", "record.env.json", "--url", url, env=env, cwd=cwd)
    cli("query", "--key", "hr.pem", "--issuer", code, "--operator", "hr-1", "--scope", "credit_report", "--purpose",
        "employment", "--legal-basis", "Labour Contract Law art. 8", "--subject", subject, "--url", url,
        "--output", "report.json", env=env, cwd=cwd)
    (cwd / "report-key.txt").write_text(httpx.get(url + "/v1/report/verifier-key").text)
    log_key = httpx.get(url + "/v1/log/verifier-key").text.strip()
    served.stop()

    ok = cli("report", "verify", "report.json", "--report-key", "report-key.txt", "--log-verifier-key", log_key,
             env=env, cwd=cwd)
    report = json.loads((cwd / "report.json").read_text())["data"]
    assert ok.stdout.startswith("report ") and f"about {subject} is signed by the report key of" in ok.stdout
    assert ok.stdout.count("\n") == 1 and "3 entries" not in ok.stdout and "2 entries are in the log" in ok.stdout
    assert [m["id"] for m in report["measures"]] == ["P-EMPLOYMENT"]

    raw = (cwd / "report.json").read_bytes()
    assert raw.count("Evaded tax".encode()) == 2  # the record's fields, and its entry's statement
    (cwd / "changed.json").write_bytes(raw.replace(b"Evaded tax", b"Evaded tay", 1))
    bad = cli("report", "verify", "changed.json", "--report-key", "report-key.txt", "--log-verifier-key", log_key,
              env=env, cwd=cwd, check=False)
    assert bad.returncode == 1 and bad.stdout == "" and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("credit-ledger: report NOT verified: the report's signature does not verify")

    other = KeyPair.generate()
    elsewhere = cli("report", "verify", "report.json", "--report-key",
                    verifier_key_string(report_key_name("other.example/log"), other.public_key),
                    "--log-verifier-key", verifier_key_string("other.example/log", other.public_key),
                    env=env, cwd=cwd, check=False)
    assert elsewhere.returncode == 1 and "not the pinned report key" in elsewhere.stderr
