"""``credit-ledger query`` against a real server: signed, logged reads; refusals recorded or not, in one line."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from keys import KeyPair
from ledger.domain.genesis import AUTHORITY_CODE, authority_statement
from ledger.format.statements import format_datetime, make_envelope
from tests.e2e import test_server
from tests.support import make_resident_id, make_uscc, now

pytestmark = pytest.mark.server
server = test_server.server  # the real `credit-ledger serve` on each backend
cli = test_server.cli


def register(url: str, cwd: Path, name: str, *, purposes: list[str], roles: list[str] | None = None,
             items: list[str] | None = None) -> tuple[str, KeyPair]:
    """A department registered by the authority with a key saved as ``name``.pem; its code and key."""
    authority = KeyPair.load(cwd / "ledger-data/keys/authority.pem")
    key = KeyPair.generate()
    key.save(cwd / f"{name}.pem")
    code = make_uscc()
    for statement in (
        authority_statement("department.registered", {"department": code, "name": name, "items": items or [],
                                                      "purposes": purposes, "roles": roles or []}, now(), AUTHORITY_CODE),
        authority_statement("key.added", {"department": code, "key_id": key.key_id, "public_key": key.public_key_b64,
                                          "valid_from": format_datetime(now())}, now(), AUTHORITY_CODE),
    ):
        assert httpx.post(url + "/v1/statements", json=make_envelope(statement, authority.key_id, authority.sign)
                          ).status_code == 201
    return code, key


def count(url: str) -> int:
    return int(httpx.get(url + "/healthz").json()["statements"])


def one_line(proc) -> str:  # type: ignore[no-untyped-def]
    assert proc.returncode == 1 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("credit-ledger: "), proc.stderr
    return str(proc.stderr)


def test_query_reads_a_subjects_archive_and_sends_integer_filters_as_numbers(server):
    url, env, cwd = server
    code, key = register(url, cwd, "bureau", purposes=["administrative_licensing"], items=["food_drug.serious"])
    auditor, _ = register(url, cwd, "auditor", purposes=["audit"], roles=["auditor"])
    subject = make_resident_id()
    record = {"type": "record.submitted", "id": str(uuid.uuid4()), "issuer": code, "issued_at": format_datetime(now()),
              "ledger": "credit-ledger.example/log", "subject": subject, "subject_name": "张三",
              "item": "food_drug.serious", "summary": "Sold food past its use-by date", "decision_date": "2026-02-27",
              "document_number": "青市监罚〔2026〕15号", "legal_basis": "Food Safety Law art. 124"}
    assert httpx.post(url + "/v1/statements", json=make_envelope(record, key.key_id, key.sign)).status_code == 201
    before = count(url)

    out = cli("query", "--key", "bureau.pem", "--issuer", code, "--operator", "clerk-7", "--scope", "archive",
              "--purpose", "administrative_licensing", "--legal-basis", "Administrative Licensing Law art. 31",
              "--subject", subject, "--save-envelope", "q.env.json", "--url", url, env=env, cwd=cwd)
    answer = json.loads(out.stdout)
    assert answer["receipt"]["leaf_index"] == before and answer["receipt"]["outcome"] == {"status": "accepted"}
    assert "青市监罚〔2026〕15号" in json.dumps(answer["data"], ensure_ascii=False)
    saved = json.loads((cwd / "q.env.json").read_text(encoding="utf-8"))
    assert saved["statement"]["id"] == answer["receipt"]["statement_id"]
    assert {k: saved["statement"][k] for k in ("operator", "scope", "purpose", "subject", "ledger")} == {
        "operator": "clerk-7", "scope": "archive", "purpose": "administrative_licensing", "subject": subject,
        "ledger": "credit-ledger.example/log"}
    assert count(url) == before + 1

    # ledger_entries: start and end are integers by the scope's schema; a file's filters merge with --filter
    (cwd / "filters.json").write_text('{"start": 0, "end": 2}')
    cli("query", "--key", "auditor.pem", "--issuer", auditor, "--operator", "aud-1", "--scope", "ledger_entries",
        "--purpose", "audit", "--legal-basis", "Audit Law art. 3", "--filters-json", "filters.json",
        "--filter", "end=3", "--save-envelope", "a.env.json", "--output", "a.json", "--url", url, env=env, cwd=cwd)
    sent = json.loads((cwd / "a.env.json").read_text())["statement"]["filters"]
    assert sent == {"start": 0, "end": 3} and all(type(v) is int for v in sent.values())
    entries = json.loads((cwd / "a.json").read_text())["data"]["entries"]
    assert [e["leaf_index"] for e in entries] == [0, 1, 2]
    assert count(url) == before + 2


def test_the_review_report_takes_its_default_legal_basis_and_access_report_still_works(server):
    url, env, cwd = server
    officer, _ = register(url, cwd, "officer", purposes=["privacy_review"], roles=["privacy_officer"])
    before = count(url)
    out = cli("query", "--key", "officer.pem", "--issuer", officer, "--operator", "po-1", "--scope", "review_report",
              "--purpose", "privacy_review", "--filter", "from=2026-01-01T00:00:00Z", "--save-envelope", "r.env.json",
              "--url", url, env=env, cwd=cwd)
    assert json.loads(out.stdout)["data"]["from"].startswith("2026-01-01")
    statement = json.loads((cwd / "r.env.json").read_text())["statement"]
    assert statement["legal_basis"] == "Shandong Social Credit Regulation art. 22 (query review)"
    assert statement["filters"] == {"from": "2026-01-01T00:00:00Z"}
    report = cli("access-report", "--key", "officer.pem", "--issuer", officer, "--operator", "po-1", "--url", url,
                 env=env, cwd=cwd)
    assert f"this read is leaf {before + 1} of the ledger" in report.stdout
    assert count(url) == before + 2


def test_a_refused_query_is_recorded_and_said_in_one_line_with_its_leaf(server):
    url, env, cwd = server
    code, _ = register(url, cwd, "bureau", purposes=["administrative_licensing"])
    before = count(url)
    args = ["query", "--key", "bureau.pem", "--issuer", code, "--operator", "clerk-7", "--scope", "archive",
            "--purpose", "public_benefits", "--legal-basis", "Social Assistance Measures art. 9",
            "--subject", make_resident_id(), "--url", url]
    line = one_line(cli(*args, "--output", "refused.json", env=env, cwd=cwd, check=False))
    assert "query refused (403 query-refused): purpose public_benefits is not allowed" in line
    assert f"recorded in the ledger as leaf {before} " in line and "refused.json" in line
    problem = json.loads((cwd / "refused.json").read_text())
    assert problem["receipt"]["leaf_index"] == before and problem["receipt"]["outcome"]["status"] == "refused"
    assert count(url) == before + 1
    line = one_line(cli(*args, env=env, cwd=cwd, check=False))  # without --output: the line alone
    assert f"as leaf {before + 1} " in line and count(url) == before + 2


def test_a_query_not_recorded_says_its_problem_type_and_detail(server):
    url, env, cwd = server
    code, _ = register(url, cwd, "bureau", purposes=["administrative_licensing"])
    KeyPair.generate().save(cwd / "stranger.pem")
    before = count(url)
    base = ["--issuer", code, "--operator", "clerk-7", "--scope", "archive", "--purpose", "administrative_licensing",
            "--legal-basis", "Administrative Licensing Law art. 31", "--subject", make_resident_id(), "--url", url]
    line = one_line(cli("query", "--key", "stranger.pem", *base, env=env, cwd=cwd, check=False))
    assert "query refused and not recorded (401 unknown-key)" in line
    line = one_line(cli("query", "--key", "bureau.pem", *base, "--ledger", "other.example/log", env=env, cwd=cwd,
                        check=False))
    assert "query refused and not recorded (403 wrong-ledger)" in line
    assert count(url) == before


@pytest.mark.parametrize("change,said", [
    (["--legal-basis", None], "scope archive needs --legal-basis"),
    (["--subject", None], "query not sent: scope archive needs a subject"),
    (["--filter", "limit=5"], "limit is not a filter of scope archive (its filters: none)"),
    (["--identity-check", "id_card_reader"], "write it as METHOD:REFERENCE"),
    (["--identity-check", "palm_reading:window 3"], "query not sent: identity_check: method: must be one of"),
])
def test_a_query_the_ledger_would_refuse_is_not_sent(server, change, said):
    url, env, cwd = server
    code, _ = register(url, cwd, "bureau", purposes=["administrative_licensing"])
    args = {"--key": "bureau.pem", "--issuer": code, "--operator": "clerk-7", "--scope": "archive",
            "--purpose": "administrative_licensing", "--legal-basis": "Administrative Licensing Law art. 31",
            "--subject": make_resident_id(), "--url": url, "--save-envelope": "never.json"}
    args[change[0]] = change[1]
    before = count(url)
    words = [w for k, v in args.items() if v is not None for w in (k, v)]
    assert said in one_line(cli("query", *words, env=env, cwd=cwd, check=False))
    assert count(url) == before and not (cwd / "never.json").exists()


def test_integer_filters_are_checked_against_the_scopes_schema(server):
    url, env, cwd = server
    officer, _ = register(url, cwd, "officer", purposes=["privacy_review"], roles=["privacy_officer"])
    before = count(url)
    base = ["--key", "officer.pem", "--issuer", officer, "--operator", "po-1", "--scope", "access_log",
            "--purpose", "privacy_review", "--legal-basis", "Personal Information Protection Law art. 54", "--url", url]
    assert "--filter limit=ten: limit is an integer" in one_line(
        cli("query", *base, "--filter", "limit=ten", env=env, cwd=cwd, check=False))
    assert "filters.limit: must be an integer from 1 to 1000" in one_line(
        cli("query", *base, "--filter", "limit=0", env=env, cwd=cwd, check=False))
    assert count(url) == before
    page = json.loads(cli("query", *base, "--filter", "limit=1", "--filter", "operator=007", "--save-envelope",
                          "p.env.json", env=env, cwd=cwd).stdout)
    assert page["receipt"]["leaf_index"] == before and page["data"]["queries"] == []
    # a text filter stays text even when it looks like a number
    assert json.loads((cwd / "p.env.json").read_text())["statement"]["filters"] == {"limit": 1, "operator": "007"}
