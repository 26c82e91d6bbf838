"""The service under hostile load and bad input, in a real ``credit-ledger serve`` process over HTTP.

Every refusal is checked for its RFC 9457 problem and for storing nothing (the statement count that
``/healthz`` reports does not move).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.body import structure_budget
from keys import KeyPair
from ledger.domain.catalogue import shipped_catalogue_document
from ledger.domain.genesis import AUTHORITY_CODE, DEFAULT_ORIGIN, authority_statement
from ledger.format.statements import format_datetime, make_envelope
from tests.support import make_resident_id, make_uscc, now, wait_until_serving

pytestmark = pytest.mark.server
CLI = shutil.which("credit-ledger") or str(Path(sys.executable).parent / "credit-ledger")
P = "urn:credit-ledger:problem:"
BATCH_LIMIT = 32 * 1024 * 1024  # the default CREDIT_LEDGER_MAX_BATCH_BODY_BYTES
BATCH_ITEMS = 5000  # the default CREDIT_LEDGER_MAX_BATCH_ITEMS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    env.update(extra)
    return env


@dataclass
class Server:
    proc: subprocess.Popen  # type: ignore[type-arg]
    url: str
    port: int
    cwd: Path

    def count(self) -> int:
        return int(httpx.get(self.url + "/healthz", timeout=30).json()["statements"])

    def peak_rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def start(cwd: Path, env: dict[str, str]) -> Server:
    port = _free_port()
    log = open(cwd / "server.log", "a+")
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"], cwd=cwd, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url, log)
    except AssertionError:
        proc.kill()
        raise
    return Server(proc, url, port, cwd)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start(tmp_path_factory.mktemp("hostile"), _env())
    yield srv
    srv.stop()


def _authority(srv: Server) -> KeyPair:
    return KeyPair.load(srv.cwd / "ledger-data/keys/authority.pem")


def register(srv: Server, items: list[str], purposes: list[str], roles: list[str] = ()) -> tuple[str, KeyPair]:
    """A department registered over HTTP by the authority, with a fresh key."""
    authority, key, code = _authority(srv), KeyPair.generate(), make_uscc()
    for st in (
        authority_statement("department.registered", {"department": code, "name": "Dept " + code[-4:], "items": items,
                                                      "purposes": purposes, "roles": list(roles)}, now(), AUTHORITY_CODE),
        authority_statement("key.added", {"department": code, "key_id": key.key_id, "public_key": key.public_key_b64,
                                          "valid_from": format_datetime(now())}, now(), AUTHORITY_CODE),
    ):
        r = httpx.post(srv.url + "/v1/statements", json=make_envelope(st, authority.key_id, authority.sign))
        assert r.status_code == 201, r.text
    return code, key


def record(code: str, key: KeyPair, **extra: Any) -> dict[str, Any]:
    st = {"type": "record.submitted", "id": str(uuid.uuid4()), "issuer": code, "issued_at": format_datetime(now()),
          "ledger": DEFAULT_ORIGIN, "subject": make_resident_id(), "subject_name": "张三",
          "item": "food_drug.general", "summary": "Sold food past its use-by date", "decision_date": "2026-01-10",
          "document_number": "D-" + uuid.uuid4().hex[:8], "legal_basis": "Food Safety Law art. 124", **extra}
    return make_envelope(st, key.key_id, key.sign)


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == P + slug and body["status"] == status and body["title"]
    return body


class RawPost:
    """A POST over a plain socket that sends its body in chunks and notices an answer that comes before the
    body is all sent (a client library would stop at the broken pipe and lose the answer)."""

    def __init__(self, srv: Server, path: str, size: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", srv.port))
        self.sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {size}\r\n\r\n".encode())
        self.sent = 0

    def answered(self) -> bool:
        return bool(select.select([self.sock], [], [], 0)[0])

    def send(self, body: bytes, chunk: int = 64 * 1024) -> None:
        """Send ``body`` until it is all sent or the server has answered (or stopped reading)."""
        try:
            while self.sent < len(body) and not self.answered():
                self.sent += self.sock.send(body[self.sent:self.sent + chunk])
        except OSError:
            pass

    def response(self) -> tuple[int, dict[str, str], bytes]:
        self.sock.settimeout(120)
        data = b""
        while b"\r\n\r\n" not in data:
            part = self.sock.recv(65536)
            assert part, f"connection closed without an answer: {data!r}"
            data += part
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(rest) < length:
            part = self.sock.recv(65536)
            assert part, "connection closed in the middle of the answer"
            rest += part
        self.sock.close()
        return int(lines[0].split()[1]), headers, rest[:length]


def _empty_objects_batch(size: int) -> bytes:
    head, tail = b'{"envelopes":[', b"{}]}"
    body = head + b"{}," * ((size - len(head) - len(tail)) // 3) + tail
    return body + b" " * (size - len(body))


def test_a_32_mib_batch_of_empty_objects_is_refused_while_it_streams_in(server):
    """The body that froze the service and took 990 MB: refused with 413 once its structure exceeds what
    5,000 envelopes need, before the rest of it is even read; the server's peak memory hardly moves."""
    before, peak_before = server.count(), server.peak_rss_kb()
    body = _empty_objects_batch(BATCH_LIMIT)
    post = RawPost(server, "/v1/statements/batch", len(body))
    post.send(body)
    status, headers, raw = post.response()
    assert post.sent < len(body)  # answered before the client had sent it all
    assert status == 413 and headers["content-type"] == "application/problem+json"
    problem = json.loads(raw)
    assert problem["type"] == P + "payload-too-large" and problem["status"] == 413
    assert f"more than {structure_budget(BATCH_ITEMS)} JSON brackets" in problem["detail"]
    assert f"at most {BATCH_ITEMS} envelopes" in problem["detail"]
    assert server.count() == before
    assert server.peak_rss_kb() - peak_before < 150 * 1024  # it was 990 MB


def test_healthz_answers_while_a_large_body_is_parsed(server):
    """A 32 MiB batch of empty objects just inside the structure budget, the slowest body to parse there is:
    /healthz is answered while that parse runs (the batch's answer has not come yet), then the batch is
    refused (it has more than 5,000 items) and nothing is stored."""
    before = server.count()
    body = b'{"envelopes":[' + b"{}," * ((structure_budget(BATCH_ITEMS) - 1000) // 3) + b"{}]}"
    body += b" " * (BATCH_LIMIT - len(body))
    post = RawPost(server, "/v1/statements/batch", len(body))
    post.send(body)
    assert post.sent == len(body)
    health = httpx.get(server.url + "/healthz", timeout=60)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert not post.answered()  # healthz came back first
    status, headers, raw = post.response()
    assert status == 400 and headers["content-type"] == "application/problem+json"
    assert json.loads(raw)["detail"] == f"a batch holds at most {BATCH_ITEMS} envelopes"
    assert server.count() == before


def test_a_full_legitimate_batch_passes_and_healthz_answers_while_it_streams(server):
    """5,000 real envelopes (3.6 MB) are well inside the structure budget: all appended. While the batch is
    in flight (its last bytes not yet sent), /healthz is answered."""
    code, key = register(server, ["food_drug.general"], ["administrative_licensing"])
    envelopes = [record(code, key, summary=f"Sold food past its use-by date, case {i}, shop {i % 7}")
                 for i in range(BATCH_ITEMS)]
    body = json.dumps({"envelopes": envelopes}, ensure_ascii=False, indent=1).encode()
    assert len(body) > 1 << 20  # parsed in a worker thread
    before = server.count()
    post = RawPost(server, "/v1/statements/batch", len(body))
    post.send(body[:-1000])
    assert post.sent == len(body) - 1000
    assert httpx.get(server.url + "/healthz", timeout=60).status_code == 200
    assert not post.answered()
    post.send(body)
    assert post.sent == len(body)
    status, _, raw = post.response()
    answer = json.loads(raw)
    assert status == 200 and answer["accepted"] == BATCH_ITEMS and answer["refused"] == 0
    assert server.count() == before + BATCH_ITEMS


def test_a_catalogue_sized_statement_passes_the_single_endpoint(server):
    """The largest statement there is, a whole catalogue (~50 KB), sent pretty-printed so that the body
    is long enough for its structure to be counted: accepted."""
    authority = _authority(server)
    document = shipped_catalogue_document()
    current = httpx.get(server.url + "/healthz").json()["catalogue_version"]
    document = {**document, "version": current + 1}
    st = authority_statement("catalogue.published", {"version": current + 1, "catalogue": document}, now())
    body = json.dumps(make_envelope(st, authority.key_id, authority.sign), ensure_ascii=False, indent=8).encode()
    assert structure_budget(1) < len(body) < 256 * 1024
    r = httpx.post(server.url + "/v1/statements", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text
    assert httpx.get(server.url + "/healthz").json()["catalogue_version"] == current + 1


def test_structure_beyond_one_envelope_is_refused_on_the_single_endpoint(server):
    before = server.count()
    body = b"[" + b"0," * (structure_budget(1) + 10) + b"0]"
    assert len(body) < 256 * 1024
    for path in ("/v1/statements", "/v1/queries"):
        r = httpx.post(server.url + path, content=body, headers={"content-type": "application/json"})
        assert "the limit for one envelope" in assert_problem(r, 413, "payload-too-large")["detail"]
    assert server.count() == before


def _with_integer(envelope: dict[str, Any], digits: int) -> bytes:
    raw = json.dumps(envelope, ensure_ascii=False).encode()
    return raw.replace(b'"issuer":', b'"amount": ' + b"7" * digits + b', "issuer":', 1)


@pytest.mark.parametrize("path", ["/v1/statements", "/v1/statements/batch", "/v1/queries"])
def test_an_integer_of_more_than_4300_digits_is_a_problem_not_an_error(server, path):
    """Python converts at most 4,300 digits to an int; such a body is a 400 problem on every endpoint (it
    was a 500 with a traceback), and a number of exactly 4,300 digits still gets the ordinary refusal."""
    code, key = register(server, ["food_drug.general"], ["administrative_licensing"])
    before = server.count()
    for digits, status, slug in ((5000, 400, "malformed"), (4301, 400, "malformed"), (4300, 422, "invalid-statement")):
        raw = _with_integer(record(code, key), digits)
        if path.endswith("/batch"):
            raw = b'{"envelopes": [' + raw + b"]}"
        r = httpx.post(server.url + path, content=raw, headers={"content-type": "application/json"})
        if path.endswith("/batch") and status == 422:
            assert r.status_code == 200 and r.json()["results"][0]["problem"]["type"] == P + slug
            continue
        problem = assert_problem(r, status, slug)
        if status == 400:
            assert problem["detail"] == "body has an integer of more than 4300 digits"
    assert server.count() == before


@pytest.mark.parametrize("filters", [
    {"from": "0001-01-01T00:00:00Z"},
    {"from": "1999-12-31T23:59:59Z", "to": "2026-01-01T00:00:00Z"},
    {"to": "9999-12-31T23:59:59Z"},
    {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
])
def test_a_review_report_with_times_out_of_range_is_refused_before_it_is_stored(server, filters):
    """``filters.from`` of year 1 made the review report fail after the query was logged; datetime filters
    outside 2000-01-01..9000-01-01, or from after to, are a 422 problem and nothing is stored."""
    code, key = register(server, [], ["privacy_review"], ["privacy_officer"])
    st = {"type": "query.requested", "id": str(uuid.uuid4()), "issuer": code, "issued_at": format_datetime(now()),
          "ledger": DEFAULT_ORIGIN, "operator": "po-1", "purpose": "privacy_review",
          "legal_basis": "Shandong Social Credit Regulation art. 22", "scope": "review_report", "filters": filters}
    before = server.count()
    r = httpx.post(server.url + "/v1/queries", json=make_envelope(st, key.key_id, key.sign), timeout=60)
    assert "filters" in assert_problem(r, 422, "invalid-statement")["detail"]
    assert server.count() == before


def _serve_once(cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """``serve`` expected to refuse: it must exit by itself, and never answer on its port meanwhile."""
    port = _free_port()
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            except httpx.TransportError:
                pass
            else:
                raise AssertionError("serve answered on its port")
            assert time.monotonic() < deadline, "serve neither refused nor served"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr = proc.communicate(timeout=30)[1]
    return proc.returncode, stderr


def test_serve_refuses_a_log_key_or_origin_other_than_the_checkpoints(tmp_path):
    """A replaced keys/log.pem, or another CREDIT_LEDGER_LOG_ORIGIN, would sign checkpoints auditors
    cannot verify: serve exits with one line instead; with the original key and origin it serves again."""
    env = _env()
    srv = start(tmp_path, env)
    try:
        assert httpx.post(srv.url + "/v1/log/checkpoint").status_code in (200, 201)
        checkpoint = httpx.get(srv.url + "/v1/log/checkpoint")
        assert checkpoint.status_code == 200
        verifier = httpx.get(srv.url + "/v1/log/verifier-key").text
    finally:
        srv.stop()
    log_pem = tmp_path / "ledger-data/keys/log.pem"
    original = log_pem.read_bytes()
    log_pem.unlink()
    KeyPair.generate().save(log_pem)
    assert log_pem.stat().st_mode & 0o777 == 0o600

    code, stderr = _serve_once(tmp_path, env)
    assert code != 0
    assert stderr.count("\n") == 1 and "keys/log.pem" in stderr, stderr
    assert "is not the log key that signed this ledger's checkpoints" in stderr

    log_pem.unlink()
    log_pem.write_bytes(original)
    log_pem.chmod(0o600)
    code, stderr = _serve_once(tmp_path, _env(CREDIT_LEDGER_LOG_ORIGIN="elsewhere.example/log"))
    assert code != 0
    assert stderr.count("\n") == 1 and "CREDIT_LEDGER_LOG_ORIGIN=credit-ledger.example/log" in stderr, stderr

    srv = start(tmp_path, env)  # the original key and origin: served as before
    try:
        assert httpx.get(srv.url + "/v1/log/verifier-key").text == verifier
        assert httpx.get(srv.url + "/v1/log/checkpoint").text == checkpoint.text
    finally:
        srv.stop()
