"""The README's "A department's first statement", run as written: its ``sh`` blocks, taken from the README
at test time, each run by bash (``-eu``) in a working directory of its own against a real
``credit-ledger serve`` started as the Quick start does (on a free port). What the README says the
commands print (the receipts in its comments, the authority code ``init`` printed) is checked against
what they print."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PG_URL
from tests.support import wait_until_serving

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]
HEADING = "## A department's first statement"
BIN = Path(sys.executable).parent
CLI = shutil.which("credit-ledger") or str(BIN / "credit-ledger")


def section(heading: str = HEADING) -> str:
    """The README's section under ``heading``, up to the next section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.M | re.S)


def expected_submits(block: str) -> list[dict[str, Any] | None]:
    """For each ``credit-ledger submit`` line of a block, the receipt fields its comment shows (``None``:
    "the same answer" as the submit before)."""
    out: list[dict[str, Any] | None] = []
    for line in block.splitlines():
        if not line.startswith("credit-ledger submit"):
            continue
        comment = line.partition("#")[2].strip()
        if comment.startswith("the same answer"):
            out.append(None)
        else:
            out.append({k: json.loads(v) for k, v in re.findall(r'"(\w+)": ("[^"]*"|\d+)', comment)})
    return out


@dataclass
class Server:
    url: str
    data_dir: Path
    log: str  # its stderr once it serves


@pytest.fixture
def started(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    """``credit-ledger serve`` in a fresh directory of its own (the Quick start's command, on a free port),
    and the environment of a clean shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    server_env = dict(env)
    if request.param == "postgres":
        server_env["CREDIT_LEDGER_DATABASE_URL"] = PG_URL
        server_env["CREDIT_LEDGER_DATABASE_SCHEMA"] = request.getfixturevalue("pg_schema")
    where = tmp_path / "demo"
    where.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path, out_path = tmp_path / "server.log", tmp_path / "server.out"
    with open(log_path, "w+") as log, open(out_path, "w") as out:
        proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"], cwd=where,
                                env=server_env, stdout=out, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_serving(proc, url, log)
            yield Server(url, where / "ledger-data", log_path.read_text()), env
        finally:
            proc.terminate()
            proc.wait(20)
    assert "authority" not in out_path.read_text()  # what init printed went to stderr


def run_walkthrough(server: Server, env: dict[str, str], cwd: Path) -> None:
    text = section()
    blocks = sh_blocks(text)
    assert len(blocks) == 3, "the walkthrough's three blocks"
    # What serve printed on stderr when it ran init: the authority code the README names.
    code = re.search(r"authority code \(issuer of authority statements\): (\S+)", server.log)
    assert code is not None, server.log
    assert f"`{code[1]}`" in text and "running init first" in server.log
    assert "authority key id: ed25519:" in server.log

    receipts: list[dict[str, Any]] = []
    for block in blocks:
        proc = subprocess.run(["bash", "-eu", "-c", block], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, f"block failed:\n{block}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
        printed = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        if "keys new" in block:
            made = printed[0]
            assert made["private_key_file"] == "dept.pem" and made["statement_file"] == "key.json"
            assert (cwd / "dept.pem").stat().st_mode & 0o777 == 0o600
            statement = json.loads((cwd / "key.json").read_text(encoding="utf-8"))
            assert statement["key_id"] == made["key_id"] and statement["public_key"] == made["public_key"]
            assert statement["issuer"] == code[1]
        got = [p for p in printed if "statement_id" in p]
        wanted = expected_submits(block)
        assert len(got) == len(wanted), proc.stdout
        for receipt, fields in zip(got, wanted):
            if fields is None:  # posted again: the same receipt
                assert receipt == receipts[-1]
            else:
                assert {k: receipt[k] for k in fields} == fields
            receipts.append(receipt)
    assert [r["type"] for r in receipts] == ["department.registered", "key.added", "record.submitted",
                                             "record.submitted"]
    # The second submit stored nothing: the ledger holds the founding statements and these three.
    assert httpx.get(server.url + "/healthz").json()["statements"] == receipts[-1]["leaf_index"] + 1 == 6


@pytest.mark.parametrize("started", ["sqlite"], indirect=True)
def test_the_walkthrough_runs_as_written_in_the_servers_directory(started: tuple[Server, dict[str, str]]) -> None:
    server, env = started
    run_walkthrough(server, dict(env, CREDIT_LEDGER_URL=server.url), server.data_dir.parent)


@pytest.mark.parametrize("started", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_the_walkthrough_runs_as_written_in_a_fresh_directory(started: tuple[Server, dict[str, str]],
                                                              tmp_path: Path) -> None:
    server, env = started
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    run_walkthrough(server, dict(env, CREDIT_LEDGER_URL=server.url, CREDIT_LEDGER_DATA_DIR=str(server.data_dir)),
                    fresh)
    assert sorted(p.name for p in fresh.iterdir()) == sorted(
        ["dept.pem", "key.json", "key.env.json", "register.json", "register.env.json", "record.json",
         "record.env.json"])


def test_the_sections_blocks_are_found() -> None:
    blocks = sh_blocks(section())
    assert blocks and all("<" not in b.replace("<<'JSON'", "") for b in blocks), "no placeholders"
    assert not any("&&" in b for b in blocks), "no && chain that applies half of it"
    assert [w for b in blocks for w in expected_submits(b)][-1] is None, "the final submit is sent twice"
