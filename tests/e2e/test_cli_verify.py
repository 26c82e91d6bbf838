"""``credit-ledger verify fetch`` from a real server, then ``verify receipt`` offline with the server stopped:
a submitted record, an accepted and a refused query pass; every tampering fails in one line."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.log.note import sign_note
from tests.conftest import PG_URL
from tests.e2e import test_cli_query, test_server
from tests.support import make_resident_id, wait_until_serving

pytestmark = pytest.mark.server
cli = test_server.cli
ORIGIN = "credit-ledger.example/log"


class Served:
    """A `credit-ledger serve` process in ``cwd`` that a test may stop."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.url = f"http://127.0.0.1:{test_server._free_port()}"
        self.log = open(cwd / "server.log", "w+")
        self.proc = subprocess.Popen([test_server.CLI, "serve", "--port", self.url.rsplit(":", 1)[1], "--log-level",
                                      "warning"], cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until_serving(self.proc, self.url, self.log)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        self.log.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    if request.param == "postgres":
        env["CREDIT_LEDGER_DATABASE_URL"] = PG_URL
        env["CREDIT_LEDGER_DATABASE_SCHEMA"] = request.getfixturevalue("pg_schema")
    server = Served(tmp_path, env)
    try:
        yield server
    finally:
        server.stop()


def failed(server: Served, **files: str) -> str:
    """``verify receipt`` of the record with some files replaced: exit 1 and its one line."""
    given = {"receipt": "receipt.json", "envelope": "record.env.json", "checkpoint": "rec/checkpoint.txt",
             "proof": "rec/proof.json", **files}
    proc = cli("verify", "receipt", *[w for k, v in given.items() for w in (f"--{k}", v)],
               "--log-verifier-key", "verifier.txt", env=server.env, cwd=server.cwd, check=False)
    assert proc.returncode == 1 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("credit-ledger: receipt NOT verified: ")
    return str(proc.stderr)


def write(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value, encoding="utf-8")
    return path.name


def test_a_receipt_fetched_once_is_verified_offline_and_every_tampering_fails(served):
    url, env, cwd = served.url, served.env, served.cwd
    code, _ = test_cli_query.register(url, cwd, "bureau", purposes=["administrative_licensing"],
                                      items=["food_drug.serious"])
    smaller = httpx.post(url + "/v1/log/checkpoint").text  # the log before the record: 5 entries
    assert smaller.split("\n")[1] == "5"
    verifier = httpx.get(url + "/v1/log/verifier-key").text.strip()  # pinned out of band
    (cwd / "verifier.txt").write_text(verifier + "\n")

    # A record signed and submitted with the CLI; its receipt is what submit prints.
    subject = make_resident_id()
    write(cwd / "record.json", {
        "type": "record.submitted", "subject": subject, "subject_name": "李四", "item": "food_drug.serious",
        "summary": "Sold food past its use-by date", "decision_date": "2026-02-27",
        "document_number": "青市监罚〔2026〕16号", "legal_basis": "Food Safety Law art. 124"})
    cli("sign", "record.json", "--key", "bureau.pem", "--issuer", code, "-o", "record.env.json", env=env, cwd=cwd)
    (cwd / "receipt.json").write_text(cli("submit", "record.env.json", "--url", url, env=env, cwd=cwd).stdout)
    assert json.loads((cwd / "receipt.json").read_text())["leaf_index"] == 5

    # An accepted and a refused query, each with its envelope and answer (or problem) saved.
    query = ["query", "--key", "bureau.pem", "--issuer", code, "--operator", "clerk-7", "--scope", "archive",
             "--legal-basis", "Administrative Licensing Law art. 31", "--subject", subject, "--url", url]
    cli(*query, "--purpose", "administrative_licensing", "--save-envelope", "q.env.json", "--output", "q.json",
        env=env, cwd=cwd)
    assert cli(*query, "--purpose", "public_benefits", "--save-envelope", "no.env.json", "--output", "no.json",
               env=env, cwd=cwd, check=False).returncode == 1

    for receipt, out in (("receipt.json", "rec"), ("q.json", "q"), ("no.json", "no")):
        saved = cli("verify", "fetch", "--receipt", receipt, "--url", url, "--out", out, env=env, cwd=cwd).stdout
        assert saved.startswith(f"saved {out}/checkpoint.txt (log size ")
    size = int((cwd / "rec/checkpoint.txt").read_text().split("\n")[1])
    assert size >= 6 and json.loads((cwd / "rec/proof.json").read_text())["tree_size"] == size
    other_leaf = httpx.get(url + "/v1/log/proof/inclusion", params={"leaf_index": 4, "tree_size": size}).json()
    served.stop()

    # Offline: the server is gone.
    assert "cannot reach" in cli("verify", "fetch", "--receipt", "receipt.json", "--url", url, "--out", "x",
                                 env=env, cwd=cwd, check=False).stderr
    for receipt, envelope, out, leaf in (("receipt.json", "record.env.json", "rec", 5), ("q.json", "q.env.json", "q", 6),
                                         ("no.json", "no.env.json", "no", 7)):
        ok = cli("verify", "receipt", "--receipt", receipt, "--envelope", envelope, "--checkpoint",
                 f"{out}/checkpoint.txt", "--proof", f"{out}/proof.json", "--log-verifier-key", verifier,
                 env=env, cwd=cwd)
        log_size = int((cwd / out / "checkpoint.txt").read_text().split("\n")[1])
        assert ok.stdout == f"leaf {leaf} is in the log of size {log_size} whose checkpoint is signed by {ORIGIN}\n"
    ok = cli("verify", "receipt", "--receipt", "receipt.json", "--envelope", "record.env.json", "--checkpoint",
             "rec/checkpoint.txt", "--proof", "rec/proof.json", "--log-verifier-key", "verifier.txt", env=env, cwd=cwd)
    assert ok.stdout.startswith("leaf 5 is in the log")

    # A changed byte of the statement.
    envelope = (cwd / "record.env.json").read_bytes()
    assert envelope.count(b"Sold food") == 1
    (cwd / "changed.env.json").write_bytes(envelope.replace(b"Sold food", b"Sole food"))
    assert "leaf 5 of the log is not the entry of this envelope and receipt" in failed(served, envelope="changed.env.json")

    # A wrong recorded_at (one microsecond later).
    receipt = json.loads((cwd / "receipt.json").read_text())
    stamp = receipt["recorded_at"]
    later = stamp[:-2] + str((int(stamp[-2]) + 1) % 10) + "Z"
    line = failed(served, receipt=write(cwd / "late.json", {**receipt, "recorded_at": later}))
    assert "their leaf hash differs" in line

    # A proof for another leaf, as served and relabelled as the receipt's.
    assert "the proof is for leaf 4, the receipt for leaf 5" in failed(served, proof=write(cwd / "p4.json", other_leaf))
    relabelled = {k: v for k, v in other_leaf.items() if k != "leaf_hash"} | {"leaf_index": 5}
    assert "does not lead to the checkpoint's root" in failed(served, proof=write(cwd / "p5.json", relabelled))

    # The same checkpoint body signed by another key under the log's name.
    note = (cwd / "rec/checkpoint.txt").read_text()
    forged = sign_note(note[: note.rfind("\n\n") + 1], ORIGIN, Ed25519PrivateKey.generate())
    assert f"the checkpoint is not signed by the log key {ORIGIN}+" in failed(
        served, checkpoint=write(cwd / "forged.txt", forged))

    # A genuine checkpoint of the log before the record.
    assert "leaf 5 is not in the checkpoint's log of size 5" in failed(
        served, checkpoint=write(cwd / "smaller.txt", smaller))

    # A query's receipt whose outcome is changed from refused to accepted.
    problem = json.loads((cwd / "no.json").read_text())
    problem["receipt"]["outcome"] = {"status": "accepted"}
    assert "their leaf hash differs" in failed(served, receipt=write(cwd / "no-ok.json", problem),
                                               envelope="no.env.json", checkpoint="no/checkpoint.txt",
                                               proof="no/proof.json")
