"""Test harness: a founded ledger with helpers to make departments, statements and envelopes."""

from __future__ import annotations

import os
import random
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from api.runtime import AUTHORITY_KEY, init, open_ledger
from api.settings import Settings
from keys import KeyPair
from ledger.application import Ledger
from ledger.domain.genesis import AUTHORITY_CODE
from ledger.format.identifiers import USCC_ALPHABET, resident_check_digit, uscc_check_char
from ledger.format.statements import format_datetime, make_envelope, parse_envelope

ALL_FOOD_ITEMS = ["food_drug.serious", "food_drug.general", "food_drug.minor", "food_drug.simplified_penalty",
                  "food_drug.licence", "food_drug.commendation"]


def make_uscc(rng: random.Random | None = None) -> str:
    """A random valid unified social credit code of an organisation in Qingdao."""
    rng = rng or random.Random()
    first17 = "11370200" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return first17 + uscc_check_char(first17)


def make_resident_id(born: date | None = None, rng: random.Random | None = None) -> str:
    """A valid 18-character resident ID with the given birth date, or a random one from 1950 to 2004.

    The birth date is drawn too, not fixed: with only the 3-digit sequence random, two subjects of one test
    collide once in a few dozen tests (1,000 values), and a test asserting on "the other" subject then fails."""
    rng = rng or random.Random()
    born = born or date(1950, 1, 1) + timedelta(days=rng.randrange(20_000))
    first17 = "370202" + born.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return first17 + resident_check_digit(first17)


def now() -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=1)


@dataclass
class Department:
    code: str
    key: KeyPair
    name: str = "Test department"


class World:
    """A founded ledger on the given settings, with an authority and helpers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        init(settings)
        self.authority = KeyPair.load(settings.keys_dir / AUTHORITY_KEY)
        self.authority_dept = Department(AUTHORITY_CODE, self.authority, "authority")
        self.ledger: Ledger = open_ledger(settings)

    def close(self) -> None:
        self.ledger.close()

    # Statements and envelopes.

    def statement(self, kind: str, issuer: str, *, issued_at: datetime | None = None, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "id": str(uuid.uuid4()), "issuer": issuer,
                "issued_at": format_datetime(issued_at or now()), "ledger": self.settings.log_origin, **fields}

    def envelope(self, statement: dict[str, Any], key: KeyPair) -> dict[str, Any]:
        return make_envelope(statement, key.key_id, key.sign)

    def signed(self, dept: Department, kind: str, **fields: Any) -> dict[str, Any]:
        return self.envelope(self.statement(kind, dept.code, **fields), dept.key)

    def append(self, *envelopes: dict[str, Any]) -> list[Any]:
        return self.ledger.append([parse_envelope(e) for e in envelopes])

    def append_ok(self, *envelopes: dict[str, Any]) -> list[Any]:
        outcomes = self.append(*envelopes)
        for o in outcomes:
            if isinstance(o, Exception):
                raise AssertionError(f"refused: {o!r}")
        return outcomes

    # Departments.

    def department(
        self, items: list[str] | None = None, purposes: list[str] | None = None, roles: list[str] | None = None,
        *, valid_from: datetime | None = None,
    ) -> Department:
        dept = Department(make_uscc(), KeyPair.generate())
        self.append_ok(
            self.signed(self.authority_dept, "department.registered", department=dept.code, name="Dept " + dept.code[-4:],
                        items=ALL_FOOD_ITEMS if items is None else items,
                        purposes=purposes or ["administrative_licensing"], roles=roles or []),
            self.signed(self.authority_dept, "key.added", department=dept.code, key_id=dept.key.key_id,
                        public_key=dept.key.public_key_b64,
                        valid_from=format_datetime(valid_from or (now() - timedelta(days=3650)))),
        )
        return dept

    def submission(self, dept: Department, item: str = "food_drug.serious", **overrides: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "subject": make_resident_id(), "subject_name": "张三", "item": item,
            "summary": "Sold food past its use-by date", "decision_date": (now().date() - timedelta(days=30)).isoformat(),
            "document_number": "QSJ-" + uuid.uuid4().hex[:8], "legal_basis": "Food Safety Law art. 124",
        }
        fields.update(overrides)
        return self.signed(dept, "record.submitted", **{k: v for k, v in fields.items() if v is not None})


def random_history(world: World, count: int, seed: int = 1) -> int:
    """Append about ``count`` statements of every lifecycle type, chosen at random; return how many were accepted."""
    rng = random.Random(seed)
    depts = [world.department() for _ in range(3)]
    window = world.department(items=[], roles=["service_window"])
    subjects = [make_resident_id(date(1950 + rng.randrange(50), 1 + rng.randrange(12), 1 + rng.randrange(28)), rng)
                for _ in range(max(count // 20, 10))]
    records: list[dict[str, Any]] = []  # {id, dept, version, item, subject, disclosed, objections}
    accepted = 0
    batch: list[tuple[dict[str, Any], dict[str, Any] | None, str]] = []

    def flush() -> None:
        nonlocal accepted
        outcomes = world.append(*[env for env, _, _ in batch])
        for (env, rec, kind), outcome in zip(batch, outcomes):
            if isinstance(outcome, Exception):
                continue
            accepted += 1
            st = env["statement"]
            if kind == "submit":
                records.append({"id": st["id"], "dept": rec, "version": 1, "item": st["item"],
                                "subject": st["subject"], "disclosed": False, "objections": []})
                continue
            assert rec is not None
            rec["version"] += 1
            if kind == "disclose":
                rec["disclosed"] = True
            elif kind == "withdraw":
                rec["disclosed"] = False
            elif kind == "object":
                rec["objections"].append(st["id"])
            elif kind == "resolve":
                rec["objections"].remove(st["objection_id"])
        batch.clear()

    items = ["food_drug.serious", "food_drug.general", "food_drug.minor", "food_drug.commendation", "food_drug.licence"]
    for n in range(count):
        roll = rng.random()
        if roll < 0.4 or len(records) < 20:
            dept = rng.choice(depts)
            item = rng.choice(items)
            decided = now().date() - timedelta(days=rng.randrange(5, 1500))
            extra: dict[str, Any] = {}
            if rng.random() < 0.2:
                extra["behaviour_end"] = (decided - timedelta(days=rng.randrange(0, 2500))).isoformat()
            batch.append((world.submission(dept, item=item, subject=rng.choice(subjects),
                                           decision_date=decided.isoformat(), **extra), dept, "submit"))
        else:
            rec = rng.choice(records)
            dept = rec["dept"]
            rid = rec["id"]
            r = rng.random()
            if r < 0.25:
                env = world.signed(dept, "record.corrected", record_id=rid, record_version=rec["version"],
                                   changes={"summary": f"corrected {n}"}, reason="review")
                kind = "correct"
            elif r < 0.45:
                listing = "red" if rec["item"].endswith("commendation") else "black"
                env = world.signed(dept, "record.disclosed", record_id=rid, list=listing,
                                   notice_served_at=now().date().isoformat())
                kind = "disclose"
            elif r < 0.5:
                env = world.signed(dept, "record.disclosure_withdrawn", record_id=rid, reason="review")
                kind = "withdraw"
            elif r < 0.62:
                env = world.signed(dept, "record.repaired", record_id=rid, method=rng.choice(["fulfilment", "donation"]),
                                   proof_reference="p", commitment_reference="c")
                kind = "repair"
            elif r < 0.68:
                env = world.signed(dept, "record.revoked", record_id=rid, reason="annulled", annulling_document="d")
                kind = "revoke"
            elif r < 0.82:
                env = world.signed(window, "objection.filed", record_id=rid, subject=rec["subject"], grounds="g",
                                   needs_verification=rng.random() < 0.5)
                kind = "object"
            elif r < 0.92 and rec["objections"]:
                env = world.signed(dept, "objection.resolved", record_id=rid, objection_id=rec["objections"][0],
                                   outcome=rng.choice(["upheld", "upheld", "corrected", "revoked"]), reason="checked")
                kind = "resolve"
            else:
                env = world.signed(window, "statement.added", record_id=rid, subject=rec["subject"], text="my side")
                kind = "note"
            batch.append((env, rec, kind))
            # statements on one record within one batch would race on versions: flush often
            if kind in ("correct", "resolve"):
                flush()
        if len(batch) >= 200:
            flush()
    flush()
    return accepted


def wait_until_serving(proc: Any, url: str, log: Any, seconds: float = 60) -> None:
    """Return once the server process at ``url`` answers ``/healthz``; fail with its log if it exits first."""
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise AssertionError("server did not start: " + log.read())
        time.sleep(0.2)


@contextmanager
def serve_process(cwd: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """A real ``credit-ledger serve`` in ``cwd`` on a free port (the environment without ``CREDIT_LEDGER_*``
    settings, plus ``env``); yields its URL once it answers, stops it afterwards."""
    import socket
    import subprocess

    cli = shutil.which("credit-ledger") or str(Path(sys.executable).parent / "credit-ledger")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")} | (env or {})
    with open(cwd / "server.log", "w+") as log:
        proc = subprocess.Popen([cli, "serve", "--port", str(port), "--log-level", "warning"], cwd=cwd, env=environ,
                                stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(proc, url, log)
            yield url
        finally:
            proc.terminate()
            proc.wait(30)
