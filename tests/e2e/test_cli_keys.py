"""``credit-ledger keys new --department``: the key pair and the authority's ready ``key.added`` statement;
refusals are one line and create nothing. And ``credit-ledger --version``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path

import pytest

from keys import KeyPair
from ledger.domain.genesis import AUTHORITY_CODE
from ledger.format.statements import make_envelope, parse_envelope
from ledger.format.times import parse_datetime

CLI = shutil.which("credit-ledger") or str(Path(sys.executable).parent / "credit-ledger")
DEPT = "91370200MA3C00001N"


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    return subprocess.run([CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_version_of_the_installed_tool(tmp_path: Path) -> None:
    proc = cli(tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout == f"credit-ledger {metadata.version('credit-ledger')}\n"


def test_keys_new_without_department_prints_the_key_only(tmp_path: Path) -> None:
    proc = cli(tmp_path, "keys", "new", "--out", "k.pem")
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)
    assert set(made) == {"key_id", "public_key", "private_key_file"}
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]


def test_keys_new_prints_the_ready_key_added_statement(tmp_path: Path) -> None:
    before = datetime.now(timezone.utc)
    proc = cli(tmp_path, "keys", "new", "--out", "dept.pem", "--department", DEPT)
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)  # one JSON document on stdout
    pair = KeyPair.load(tmp_path / "dept.pem")
    statement = made["statement"]
    assert made["key_id"] == pair.key_id == statement["key_id"]
    assert made["public_key"] == pair.public_key_b64 == statement["public_key"]
    assert {k: v for k, v in statement.items() if k not in ("key_id", "public_key", "valid_from")} == {
        "type": "key.added", "issuer": AUTHORITY_CODE, "department": DEPT}
    valid_from = parse_datetime(statement["valid_from"])
    assert before - timedelta(minutes=1, seconds=1) <= valid_from <= before - timedelta(seconds=59)
    assert [p.name for p in tmp_path.iterdir()] == ["dept.pem"]
    # What `sign` adds makes it a statement the schema accepts, signed by the authority.
    authority = KeyPair.generate()
    full = {**statement, "id": "6f1d2c1e-7a43-4c1b-9d3e-2b1f0a9c8d7e", "issued_at": statement["valid_from"],
            "ledger": "credit-ledger.example/log"}
    assert parse_envelope(make_envelope(full, authority.key_id, authority.sign)).statement.type == "key.added"


def test_keys_new_writes_the_statement_to_a_file(tmp_path: Path) -> None:
    proc = cli(tmp_path, "keys", "new", "--out", "dept.pem", "--department", DEPT, "--statement-out", "key.json",
               "--valid-from", "2026-03-01T00:00:00Z")
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)
    assert made["statement_file"] == "key.json" and "statement" not in made
    statement = json.loads((tmp_path / "key.json").read_text(encoding="utf-8"))
    assert statement == {"type": "key.added", "issuer": AUTHORITY_CODE, "department": DEPT,
                         "key_id": made["key_id"], "public_key": made["public_key"],
                         "valid_from": "2026-03-01T00:00:00Z"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dept.pem", "key.json"]


@pytest.mark.parametrize(("args", "says"), [
    (["--department", "91370200ma3c00001n"], "upper case"),
    (["--department", "not-a-code"], "18 characters"),
    (["--department", DEPT, "--valid-from", "2026-03-01"], "--valid-from"),
    (["--department", DEPT, "--valid-from", "2026-02-30T00:00:00Z"], "--valid-from"),
    (["--statement-out", "key.json"], "need --department"),
    (["--valid-from", "2026-03-01T00:00:00Z"], "need --department"),
    (["--department", DEPT, "--statement-out", "missing/key.json"], "no directory"),
    (["--department", DEPT, "--statement-out", "dept.pem"], "same file"),
])
def test_a_refused_keys_new_is_one_line_and_creates_nothing(tmp_path: Path, args: list[str], says: str) -> None:
    proc = cli(tmp_path, "keys", "new", "--out", "dept.pem", *args)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("credit-ledger: ") and proc.stderr.count("\n") == 1 and says in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_code_whose_check_character_fails_is_admitted_with_a_warning(tmp_path: Path) -> None:
    # (the authority may have registered it with check_override)
    proc = cli(tmp_path, "keys", "new", "--out", "dept.pem", "--department", "91370200MA3C00001X")
    assert proc.returncode == 0 and json.loads(proc.stdout)["statement"]["department"] == "91370200MA3C00001X"
    assert proc.stderr.startswith("warning: the check character of 91370200MA3C00001X fails (expected N)")


def test_keys_new_never_overwrites_a_key_or_writes_its_statement(tmp_path: Path) -> None:
    (tmp_path / "dept.pem").write_text("old")
    proc = cli(tmp_path, "keys", "new", "--out", "dept.pem", "--department", DEPT, "--statement-out", "key.json")
    assert proc.returncode == 1 and "refusing to overwrite" in proc.stderr and proc.stderr.count("\n") == 1
    assert (tmp_path / "dept.pem").read_text() == "old" and not (tmp_path / "key.json").exists()
