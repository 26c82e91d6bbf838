"""A real ``credit-ledger serve`` process, driven over HTTP and by the CLI as a new user would."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL
from tests.support import make_resident_id, make_uscc, wait_until_serving

pytestmark = pytest.mark.server
CLI = shutil.which("credit-ledger") or str(Path(sys.executable).parent / "credit-ledger")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str, env: dict[str, str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"credit-ledger {' '.join(args)} failed: {proc.stderr}")
    return proc


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    if request.param == "postgres":
        env["CREDIT_LEDGER_DATABASE_URL"] = PG_URL
        env["CREDIT_LEDGER_DATABASE_SCHEMA"] = request.getfixturevalue("pg_schema")
    port = _free_port()
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(proc, url, log)
    try:
        yield url, env, tmp_path
    finally:
        proc.terminate()
        proc.wait(20)
        log.seek(0)
        output = log.read()
        log.close()
        assert "running init first" in output


def test_quick_start_flow_from_the_readme(server):
    url, env, cwd = server
    assert httpx.get(url + "/docs").status_code == 200
    authority_key = "ledger-data/keys/authority.pem"
    assert (cwd / authority_key).stat().st_mode & 0o077 == 0

    # 1. A department makes a key pair.
    made = json.loads(cli("keys", "new", "--out", "dept.pem", env=env, cwd=cwd).stdout)
    assert (cwd / "dept.pem").stat().st_mode & 0o777 == 0o600
    code = make_uscc()

    # 2. The authority registers the department and its key.
    (cwd / "register.json").write_text(json.dumps({
        "type": "department.registered", "issuer": "11370200MB0000001F", "department": code,
        "name": "Qingdao Market Supervision Bureau", "items": ["food_drug.serious", "food_drug.general"],
        "purposes": ["administrative_licensing"],
    }))
    (cwd / "key.json").write_text(json.dumps({
        "type": "key.added", "issuer": "11370200MB0000001F", "department": code, "key_id": made["key_id"],
        "public_key": made["public_key"], "valid_from": "2026-01-01T00:00:00Z",
    }))
    for name in ("register", "key"):
        cli("sign", f"{name}.json", "--key", authority_key, "-o", f"{name}.env.json", env=env, cwd=cwd)
        cli("submit", f"{name}.env.json", "--url", url, env=env, cwd=cwd)

    # 3. The department signs and submits a record, then submits it again.
    (cwd / "record.json").write_text(json.dumps({
        "type": "record.submitted", "id": str(uuid.uuid4()), "subject": make_resident_id(), "subject_name": "李四",
        "item": "food_drug.serious", "summary": "Sold food past its use-by date",
        "decision_date": "2026-02-27", "document_number": "青市监罚〔2026〕15号", "legal_basis": "Food Safety Law art. 124",
    }, ensure_ascii=False), encoding="utf-8")
    cli("sign", "record.json", "--key", "dept.pem", "--issuer", code, "-o", "record.env.json", env=env, cwd=cwd)
    first = json.loads(cli("submit", "record.env.json", "--url", url, env=env, cwd=cwd).stdout)
    again = json.loads(cli("submit", "record.env.json", "--url", url, env=env, cwd=cwd).stdout)
    assert first == again and first["leaf_index"] == 5 and first["type"] == "record.submitted"
    assert httpx.get(url + "/healthz").json()["statements"] == 6

    # A tampered envelope: one line on stderr, exit status 1, nothing stored.
    envelope = json.loads((cwd / "record.env.json").read_text(encoding="utf-8"))
    envelope["statement"]["summary"] = "tampered"
    (cwd / "bad.env.json").write_text(json.dumps(envelope))
    bad = cli("submit", "bad.env.json", "--url", url, env=env, cwd=cwd, check=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "409" in bad.stderr
    assert httpx.get(url + "/healthz").json()["statements"] == 6


def test_cli_one_line_errors(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    (tmp_path / "s.json").write_text('{"type": "record.submitted", "type": "x"}')
    cli("keys", "new", "--out", "k.pem", env=env, cwd=tmp_path)
    p = cli("sign", "s.json", "--key", "k.pem", env=env, cwd=tmp_path, check=False)
    assert p.returncode == 1 and p.stderr.strip().count("\n") == 0 and "duplicate" in p.stderr
    os.chmod(tmp_path / "k.pem", 0o644)
    (tmp_path / "s.json").write_text("{}")
    p = cli("sign", "s.json", "--key", "k.pem", env=env, cwd=tmp_path, check=False)
    assert p.returncode == 1 and "chmod 600" in p.stderr and p.stderr.strip().count("\n") == 0
    p = cli("submit", "s.json", "--url", "http://127.0.0.1:9", env=env, cwd=tmp_path, check=False)
    assert p.returncode == 1 and "cannot reach" in p.stderr
    p = cli("keys", "new", "--out", "k.pem", env=env, cwd=tmp_path, check=False)
    assert p.returncode == 1 and "refusing to overwrite" in p.stderr


def test_access_report_cli_against_a_real_server(server):
    from keys import KeyPair
    from ledger.domain.genesis import AUTHORITY_CODE, authority_statement
    from ledger.format.statements import format_datetime, make_envelope
    from tests.support import now

    url, env, cwd = server
    authority = KeyPair.load(cwd / "ledger-data/keys/authority.pem")
    officer = KeyPair.generate()
    officer.save(cwd / "officer.pem")
    code = make_uscc()
    for statement in (
        authority_statement("department.registered", {"department": code, "name": "Privacy office", "items": [],
                                                      "purposes": ["privacy_review"], "roles": ["privacy_officer"]},
                            now(), AUTHORITY_CODE),
        authority_statement("key.added", {"department": code, "key_id": officer.key_id,
                                          "public_key": officer.public_key_b64, "valid_from": format_datetime(now())},
                            now(), AUTHORITY_CODE),
    ):
        assert httpx.post(url + "/v1/statements", json=make_envelope(statement, authority.key_id, authority.sign)).status_code == 201
    before = httpx.get(url + "/healthz").json()["statements"]
    out = cli("access-report", "--key", "officer.pem", "--issuer", code, "--operator", "po-1", "--url", url,
              env=env, cwd=cwd)
    assert "review of" in out.stdout and f"leaf {before}" in out.stdout
    assert httpx.get(url + "/healthz").json()["statements"] == before + 1
    refused = cli("access-report", "--key", "officer.pem", "--issuer", make_uscc(), "--operator", "po-1",
                  "--url", url, env=env, cwd=cwd, check=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1


@pytest.mark.postgres
def test_serve_with_workers_projects_once_and_leaves_no_process_behind(tmp_path, pg_schema):
    """`serve --workers 2`: appends through both processes, one projection child keeps the log and views
    (checkpoints appear for the new entries), and stopping or killing the server ends that child too."""
    import signal

    from keys import KeyPair
    from ledger.domain.genesis import AUTHORITY_CODE, authority_statement
    from ledger.format.statements import format_datetime, make_envelope
    from tests.support import now

    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    env["CREDIT_LEDGER_DATABASE_URL"] = PG_URL
    env["CREDIT_LEDGER_DATABASE_SCHEMA"] = pg_schema

    def children_of(pid: int, marker: str = "'project'") -> list[int]:
        out = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        return [int(line.split()[0]) for line in out.splitlines() if marker in line]

    def start() -> tuple[subprocess.Popen, str]:  # type: ignore[type-arg]
        port = _free_port()
        proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)

    proc, url = start()
    try:
        deadline = time.monotonic() + 30
        while not (projectors := children_of(proc.pid)):
            assert time.monotonic() < deadline, "no projection process"
            time.sleep(0.2)
        assert len(projectors) == 1
        authority = KeyPair.load(tmp_path / "ledger-data/keys/authority.pem")
        dept = KeyPair.generate()
        code = make_uscc()
        setup = [
            authority_statement("department.registered", {"department": code, "name": "Bureau",
                                 "items": ["food_drug.general"], "purposes": ["administrative_licensing"]},
                                now(), AUTHORITY_CODE),
            authority_statement("key.added", {"department": code, "key_id": dept.key_id,
                                 "public_key": dept.public_key_b64, "valid_from": format_datetime(now())},
                                now(), AUTHORITY_CODE),
        ]
        with httpx.Client(timeout=30) as client:
            for st in setup:
                assert client.post(url + "/v1/statements", json=make_envelope(st, authority.key_id, authority.sign)).status_code == 201
            for k in range(40):
                st = {"type": "record.submitted", "id": str(uuid.uuid4()), "issuer": code, "issued_at": format_datetime(now()),
                      "ledger": "credit-ledger.example/log", "subject": make_resident_id(), "subject_name": "张三", "item": "food_drug.general",
                      "summary": f"record {k}", "decision_date": "2026-01-10", "document_number": f"D-{k}",
                      "legal_basis": "Food Safety Law"}
                assert client.post(url + "/v1/statements", json=make_envelope(st, dept.key_id, dept.sign)).status_code == 201
            total = client.get(url + "/healthz").json()["statements"]
            deadline = time.monotonic() + 30
            while True:  # the checkpoint (made by the projection process) reaches every entry
                r = client.get(url + "/v1/log/checkpoint")
                if r.status_code == 200 and int(r.text.split("\n")[1]) == total:
                    break
                assert time.monotonic() < deadline, f"checkpoint stuck: {r.status_code} {r.text[:80]}"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)
    time.sleep(0.5)
    assert all(not Path(f"/proc/{pid}").exists() for pid in projectors)

    # Killed outright, the server takes its projection process with it.
    proc, url = start()
    deadline = time.monotonic() + 30
    while not (projectors := children_of(proc.pid)):
        assert time.monotonic() < deadline, "no projection process"
        time.sleep(0.2)
    server_workers = children_of(proc.pid, "spawn_main")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in projectors):
        assert time.monotonic() < deadline, "the projection process outlived the server"
        time.sleep(0.2)
    for pid in server_workers:  # uvicorn's own worker processes outlive a killed parent: end them here
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except OSError:
        return "Z"
