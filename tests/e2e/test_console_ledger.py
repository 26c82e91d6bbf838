"""A ledger of a few thousand statements and queries over six weeks for the console's tests, a real ``serve``
on it and real ``console`` processes; and the console's start refusals (one line, nothing served).

The history is appended in-process before ``serve`` starts, each batch with the ledger's clock set to when its
statements were signed, so records, objections and queries are spread over weeks and hours as in use.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import Settings
from keys import KeyPair
from ledger.format.statements import format_datetime
from tests.support import Department, World, make_resident_id, make_uscc, wait_until_serving

pytestmark = pytest.mark.server
CLI = shutil.which("credit-ledger") or str(Path(sys.executable).parent / "credit-ledger")
BEIJING = timezone(timedelta(hours=8))
ID_CHECK = {"method": "id_card_reader", "reference": "hall window 3, card read 20418"}
# name, item prefixes, purposes, roles, reporting lag in working days (low, high)
DEPARTMENTS: dict[str, tuple[str, list[str], list[str], list[str], tuple[int, int]]] = {
    "market": ("青岛市市场监督管理局 Market Supervision", ["food_drug", "product_quality"],
               ["administrative_licensing", "administrative_penalty"], [], (0, 6)),
    "tax": ("青岛市税务局 Taxation", ["tax"], ["administrative_licensing", "public_funding"], [], (2, 9)),
    "housing": ("青岛市住房和城乡建设局 Housing and Construction", ["construction"],
                ["administrative_licensing", "procurement_and_bidding", "other_management"], [], (3, 18)),
    "environment": ("青岛市生态环境局 Ecology and Environment", ["environment"], ["administrative_penalty"], [], (1, 11)),
    "hr": ("青岛市人力资源和社会保障局 Human Resources", ["labour_social_security"],
           ["civil_service_hiring", "public_benefits"], [], (0, 8)),
    "window": ("青岛市政务服务大厅 Service Hall", [], ["subject_self_query"], ["service_window"], (0, 0)),
    "officer": ("青岛市大数据发展管理局 Data Protection Office", [], ["privacy_review"], ["privacy_officer"], (0, 0)),
    "auditor": ("青岛市审计局 Audit Bureau", [], ["audit"], ["auditor"], (0, 0)),
    "lead": ("青岛市发展和改革委员会 Development and Reform Commission", [], ["supervision"], ["authority"], (0, 0)),
}
REPORTING = ("market", "tax", "housing", "environment", "hr")
ABBREVIATIONS = {"market": "市监罚", "tax": "税罚", "housing": "建罚", "environment": "环罚", "hr": "人社罚"}
SUMMARIES = {"general": "Fined for breaching the licence's conditions", "minor": "Warned for a late filing",
             "serious": "Fined and licence suspended for repeated serious breaches",
             "licence": "Licence granted", "commendation": "Commended for exemplary conduct"}
SURNAMES, GIVEN = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗", ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    """The built ledger: its settings, its departments (with key files) and what the tests look for."""

    settings: Settings
    depts: dict[str, Department] = field(default_factory=dict)
    key_files: dict[str, Path] = field(default_factory=dict)
    subjects: list[str] = field(default_factory=list)
    resident: str = ""  # a subject with shared records, for the service window
    url: str = ""

    def count(self) -> int:
        return int(httpx.get(self.url + "/healthz", timeout=10).json()["statements"])


def back(day: date, working_days: int) -> date:
    while working_days > 0:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            working_days -= 1
    return day


class History:
    """Builds the statements of each day in the order they were signed, and appends them as they were."""

    def __init__(self, world: World, site: Site, rng: random.Random, names: dict[str, str]) -> None:
        self.world, self.site, self.rng, self.names = world, site, rng, names
        self.records: list[dict[str, Any]] = []  # id, dept, subject, version, objections (open ids), revoked
        self.by_dept: dict[str, list[str]] = {k: [] for k in REPORTING}
        self.pending: list[tuple[datetime, dict[str, Any], dict[str, Any] | None]] = []

    def at(self, day: date, hour: float) -> datetime:
        moment = datetime.combine(day, datetime.min.time(), BEIJING) + timedelta(hours=hour)
        return min(moment, datetime.now(timezone.utc) - timedelta(minutes=10)).astimezone(timezone.utc)

    def add(self, when: datetime, dept: str, kind: str, record: dict[str, Any] | None = None, **fields: Any) -> None:
        env = self.world.signed(self.site.depts[dept], kind, issued_at=when, **fields)
        self.pending.append((when, env, record))

    def query(self, when: datetime, dept: str, purpose: str, subject: str, **extra: Any) -> None:
        self.add(when, dept, "query.requested", operator=extra.pop("operator", f"{dept}-{self.rng.randrange(1, 9)}"),
                 purpose=purpose, legal_basis="Administrative Licensing Law art. 31", scope="archive",
                 subject=subject, **extra)

    def day(self, day: date) -> None:
        rng, weekday = self.rng, day.weekday() < 5
        # Work comes in sessions (a few minutes each): one append per session keeps building fast.
        slots = [rng.uniform(8.5, 17.8) for _ in range(14)]
        evening = [rng.uniform(19, 23) for _ in range(2)]
        office = lambda: rng.choice(slots) + rng.uniform(0, 0.04)  # noqa: E731
        for _ in range(rng.randint(18, 26) if weekday else rng.randint(0, 2)):
            dept = rng.choice(REPORTING)
            _, prefixes, _, _, (lo, hi) = DEPARTMENTS[dept]
            kind = rng.choice(["general", "general", "minor", "serious", "licence", "commendation"])
            item = f"{rng.choice(prefixes)}.{kind}"
            subject = rng.choice(self.site.subjects)
            decided = back(day, rng.randint(lo, hi))
            self.add(self.at(day, office()), dept, "record.submitted", None, subject=subject,
                     subject_name=self.names[subject], item=item, summary=SUMMARIES[kind],
                     decision_date=decided.isoformat(),
                     document_number=f"青{ABBREVIATIONS[dept]}〔{day.year}〕{rng.randrange(9999)}号",
                     legal_basis="Administrative Penalty Law art. 28")
        older = [r for r in self.records if not r["revoked"]]
        for rec in rng.sample(older, min(len(older), rng.randint(4, 9) if weekday else 0)):
            roll, when = rng.random(), self.at(day, office())
            listing = {"serious": "black", "commendation": "red"}.get(rec["item"].rsplit(".", 1)[1])
            if listing and not rec["disclosed"] and roll < 0.5:
                notice = {"notice_served_at": (day - timedelta(days=1)).isoformat(), "period_months": 24}
                self.add(when, rec["dept"], "record.disclosed", rec, record_id=rec["id"], list=listing,
                         **(notice if listing == "black" else {}))
            elif rec["objections"] and roll < 0.5:
                self.add(when, rec["dept"], "objection.resolved", rec, record_id=rec["id"],
                         objection_id=rec["objections"].pop(0), reason="checked against the file",
                         outcome=rng.choice(["upheld", "upheld", "corrected", "revoked"]))
            elif roll < 0.6:
                self.query(when - timedelta(minutes=2), "window", "subject_self_query", rec["subject"],
                           identity_check=ID_CHECK, operator="hall-3")
                self.add(when, "window", "objection.filed", rec, record_id=rec["id"], subject=rec["subject"],
                         grounds="The resident says the fine was paid on time.", needs_verification=rng.random() < 0.3)
            elif roll < 0.9:
                self.add(when, rec["dept"], "record.corrected", rec, record_id=rec["id"], record_version=rec["version"],
                         changes={"summary": "corrected after review"}, reason="clerical error")
            else:
                self.add(when, rec["dept"], "record.revoked", rec, record_id=rec["id"], reason="annulled on review",
                         annulling_document=f"撤〔{day.year}〕{rng.randrange(99)}号")
        for _ in range(rng.randint(50, 75) if weekday else rng.randint(1, 6)):
            dept = rng.choice(REPORTING)
            purposes = DEPARTMENTS[dept][2]
            own = self.by_dept[dept]
            subject = rng.choice(own) if own and rng.random() < 0.9 else rng.choice(self.site.subjects)
            hour = office() if rng.random() < 0.9 else rng.choice(evening) + rng.uniform(0, 0.04)
            extra: dict[str, Any] = {}
            purpose = rng.choice(purposes)
            roll = rng.random()
            if roll < 0.05:
                purpose = "public_benefits" if "public_benefits" not in purposes else "audit"  # refused: not registered
            elif purpose == "other_management" and roll < 0.5:
                extra["justification"] = "tip-off about a bidder"
            self.query(self.at(day, hour), dept, purpose, subject, **extra)

    def flush(self) -> None:
        """Append the pending statements in time order, each few minutes with the clock at their end."""
        self.pending.sort(key=lambda p: p[0])
        while self.pending:
            start = self.pending[0][0]
            chunk = [p for p in self.pending if p[0] - start < timedelta(minutes=3)][:300]
            del self.pending[:len(chunk)]
            clock = chunk[-1][0] + timedelta(seconds=1)
            self.world.ledger.clock = lambda clock=clock: clock
            outcomes = self.world.append(*[env for _, env, _ in chunk])
            for (_, env, rec), outcome in zip(chunk, outcomes):
                if isinstance(outcome, Exception):
                    raise AssertionError(f"history refused {env['statement']['type']}: {outcome!r}")
                self.applied(env["statement"], rec)
        self.world.ledger.clock = lambda: datetime.now(timezone.utc)

    def applied(self, st: dict[str, Any], rec: dict[str, Any] | None) -> None:
        kind = st["type"]
        if kind == "record.submitted":
            dept = next(k for k, d in self.site.depts.items() if d.code == st["issuer"])
            self.records.append({"id": st["id"], "dept": dept, "subject": st["subject"], "version": 1,
                                 "item": st["item"], "objections": [], "revoked": False, "disclosed": False})
            self.by_dept[dept].append(st["subject"])
        elif rec is not None:
            rec["version"] += 1
            rec["disclosed"] = rec["disclosed"] or kind == "record.disclosed"
            if kind == "objection.filed":
                rec["objections"].append(st["id"])
            rec["revoked"] = rec["revoked"] or kind == "record.revoked" or st.get("outcome") == "revoked"


def build(root: Path, days: int = 42, seed: int = 7) -> Site:
    """Found a ledger in ``root/data`` and append the history; return the site (not served yet)."""
    rng = random.Random(seed)
    site = Site(Settings(data_dir=root / "data", verify_processes=0))
    world = World(site.settings)
    try:
        auth = world.authority_dept
        for name, (title, prefixes, purposes, roles, _) in DEPARTMENTS.items():
            dept = Department(make_uscc(rng), KeyPair.generate(), title)
            items = [f"{p}.{s}" for p in prefixes for s in ("serious", "general", "minor", "licence", "commendation")]
            world.append_ok(
                world.signed(auth, "department.registered", department=dept.code, name=title, items=items,
                             purposes=purposes, roles=roles),
                world.signed(auth, "key.added", department=dept.code, key_id=dept.key.key_id,
                             public_key=dept.key.public_key_b64,
                             valid_from=format_datetime(datetime.now(timezone.utc) - timedelta(days=3650))))
            site.depts[name] = dept
            site.key_files[name] = root / f"{name}.pem"
            dept.key.save(site.key_files[name])
        site.subjects = [make_resident_id(rng=rng) for _ in range(220)]
        history = History(world, site, rng, {s: rng.choice(SURNAMES) + rng.choice(GIVEN) for s in site.subjects})
        today = datetime.now(BEIJING).date()
        for k in range(days, -1, -1):
            history.day(today - timedelta(days=k))
            history.flush()
        # Three departments read one person within a day; a burst of one operator's reads today.
        when = history.at(today - timedelta(days=2), 10)
        for i, dept in enumerate(("market", "tax", "hr")):
            history.query(when + timedelta(hours=i), dept, DEPARTMENTS[dept][2][0], site.subjects[0])
        for i in range(14):
            history.query(history.at(today, 9) + timedelta(minutes=3 * i), "market", "administrative_licensing",
                          rng.choice(site.subjects), operator="market-burst")
        history.flush()
        shared = [r for r in history.records if not r["revoked"]]
        site.resident = max({r["subject"] for r in shared}, key=lambda s: sum(r["subject"] == s for r in shared))
    finally:
        world.close()
    return site


@contextmanager
def serving(site: Site, tmp: Path) -> Iterator[Site]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    port = free_port()
    log = open(tmp / "serve.log", "w+")
    proc = subprocess.Popen([CLI, "serve", "--data", str(site.settings.data_dir), "--port", str(port),
                             "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)
    site.url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, site.url, log)
        yield site
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


@dataclass
class ConsoleProcess:
    origin: str
    start_url: str
    proc: subprocess.Popen[str]


@contextmanager
def console(site: Site, dept: str, role: str, *extra: str) -> Iterator[ConsoleProcess]:
    """A ``credit-ledger console`` process for ``dept`` showing ``role``'s pages; its start URL read from stdout."""
    port = free_port()
    proc = subprocess.Popen([CLI, "console", "--key", str(site.key_files[dept]), "--issuer", site.depts[dept].code,
                             "--operator", f"{dept}-officer-1", "--url", site.url, "--port", str(port), "--role", role,
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        start = ""
        for line in proc.stdout:
            if line.startswith("open "):
                start = line.split()[1]
                break
        assert start, "the console printed no address"
        origin = start.split("/?", 1)[0]
        assert origin.endswith(f":{port}") and not origin.startswith("http://127.0.0.1:")  # a host of its own
        for _ in range(100):
            try:
                httpx.get(origin + "/static/console.css", timeout=2)
                break
            except httpx.HTTPError:
                if proc.poll() is not None:
                    raise AssertionError("the console exited") from None
                import time
                time.sleep(0.1)
        yield ConsoleProcess(origin, start, proc)
    finally:
        proc.terminate()
        proc.wait(20)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, env=env)


def test_the_console_refuses_to_start_with_a_readable_key_or_without_a_ledger(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = tmp_path / "officer.pem"
    key.save(path)
    code = make_uscc()
    dead = f"http://127.0.0.1:{free_port()}"
    gone = run_cli("console", "--key", str(path), "--issuer", code, "--operator", "o", "--url", dead)
    assert gone.returncode == 1 and re.fullmatch(r"credit-ledger: the ledger at .* does not answer: .*\n", gone.stderr)
    assert "open http" not in gone.stdout
    path.chmod(0o644)
    readable = run_cli("console", "--key", str(path), "--issuer", code, "--operator", "o", "--url", dead)
    assert readable.returncode == 1 and "accessible by group or others" in readable.stderr
    assert readable.stderr.count("\n") == 1
