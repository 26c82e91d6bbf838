"""The batch paths: signatures checked ahead in worker processes, and views brought up to a position once
for many concurrent readers. Each must decide exactly what the plain path decides."""

from __future__ import annotations

import copy
import threading
from datetime import timedelta
from typing import Any

import pytest

from api.runtime import open_views
from ledger.application import Ledger
from ledger.format.statements import format_datetime, parse_envelope
from projections.answers import Fresh
from tests.support import World, now


def _outcome(o: object) -> tuple[str, str]:
    if isinstance(o, Exception):
        return type(o).__name__, str(o)
    return "receipt", o.type  # type: ignore[attr-defined]


def _tampered(env: dict) -> dict:
    bad = copy.deepcopy(env)
    bad["statement"]["summary"] = "changed after signing"
    return bad


def test_checks_ahead_decide_as_the_writer_does(world: World) -> None:
    """A mixed batch (good, tampered, unknown key, a key revoked earlier in the same batch, a replay)
    gets the same outcomes, with the same messages, with and without the verification processes."""
    ledger: Ledger = world.ledger
    a, b, c = world.department(), world.department(), world.department()
    replayed = world.submission(a)
    world.append_ok(replayed)

    def batch() -> list[dict]:
        envs: list[dict] = []
        for k in range(12):
            envs.append(world.submission(a))
            if k % 4 == 0:
                envs.append(_tampered(world.submission(a)))
            if k % 5 == 0:
                stranger = world.submission(a)
                stranger["key_id"] = "ed25519:" + "0" * 32
                envs.append(stranger)
            envs.append(world.submission(c))
        # b's key is revoked as of a moment ago by a statement in this batch; b's statements after it fail.
        envs.insert(3, world.submission(b))
        envs.insert(5, world.signed(world.authority_dept, "key.revoked", key_id=b.key.key_id,
                                    effective_at=format_datetime(now() - timedelta(seconds=30)), reason="lost"))
        envs.append(world.submission(b))
        envs.append(replayed)
        return envs

    ledger.verify_processes = 0
    before = ledger.count()
    plain_batch = batch()
    plain = [_outcome(o) for o in ledger.append([parse_envelope(e) for e in plain_batch])]
    plain_added = ledger.count() - before

    # Undo b's revocation for the second run: a fresh department in b's place.
    b = world.department()
    ledger.verify_processes = 2
    ledger.start_verifiers()
    assert ledger._pool is not None
    before = ledger.count()
    ahead_batch = batch()
    ahead = [_outcome(o) for o in ledger.append([parse_envelope(e) for e in ahead_batch])]
    assert ledger.count() - before == plain_added

    def shape(outcomes: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(kind, msg.split(" ")[0] if kind == "receipt" else _generic(msg)) for kind, msg in outcomes]

    assert shape(ahead) == shape(plain)
    kinds = {k for k, _ in ahead}
    assert {"receipt", "AuthenticationError", "ForbiddenError"} <= kinds, kinds
    assert sum(1 for k, _ in ahead if k == "receipt") == plain_added + 1  # the replay answers a receipt too


def _generic(message: str) -> str:
    """A refusal's message with key ids, codes and times taken out (they differ between the two runs)."""
    import re

    message = re.sub(r"ed25519:[0-9a-f]{32}", "KEY", message)
    message = re.sub(r"\b[0-9A-Z]{18}\b", "CODE", message)
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|\+00:00)", "TIME", message)


def test_a_dead_verification_process_means_inline_checks(world: World) -> None:
    ledger = world.ledger
    dept = world.department()
    ledger.verify_processes = 2
    ledger.start_verifiers()
    assert ledger._pool is not None
    for proc in list(ledger._pool._processes.values()):  # type: ignore[union-attr]
        proc.kill()
        proc.join()
    good = [world.submission(dept) for _ in range(10)]
    bad = _tampered(world.submission(dept))
    before = ledger.count()
    outcomes = ledger.append([parse_envelope(e) for e in [*good, bad]])
    assert [_outcome(o)[0] for o in outcomes] == ["receipt"] * 10 + ["AuthenticationError"]
    assert ledger.count() == before + 10
    # Later batches are still decided (inline once the processes are gone).
    outcomes = ledger.append([parse_envelope(world.submission(dept)) for _ in range(9)])
    assert all(_outcome(o)[0] == "receipt" for o in outcomes)


def _counted_fresh(world: World, view: Any) -> tuple[Fresh, list[int]]:
    """A ``Fresh`` over ``view``, and the list its catch-ups are counted in."""
    calls: list[int] = []
    real = view.catch_up_all

    def counting() -> int:
        calls.append(1)
        return real()

    view.catch_up_all = counting
    return Fresh(view, lambda: world.ledger.recorder.max_notification_id() or 0), calls


@pytest.mark.parametrize("readers", [16])
def test_concurrent_readers_share_catch_ups_and_each_sees_its_own_position(world: World, readers: int) -> None:
    views = open_views(world.settings, world.ledger)
    try:
        dept = world.department()
        fresh, calls = _counted_fresh(world, views.archive)
        receipts = world.append_ok(*[world.submission(dept) for _ in range(readers)])
        seen: dict[int, bool] = {}
        barrier = threading.Barrier(readers)

        def read(i: int) -> None:
            barrier.wait()
            fresh.up_to(receipts[i].position)
            rid = str(receipts[i].statement_id)
            seen[i] = bool(views.store.query("SELECT 1 FROM archive_records WHERE record_id = %s", (rid,)))

        threads = [threading.Thread(target=read, args=(i,)) for i in range(readers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == {i: True for i in range(readers)}
        assert 1 <= len(calls) < readers  # shared, not one catch-up per reader
        # A later append is not covered: the next reader catches up again and sees it.
        (late,) = world.append_ok(world.submission(dept))
        before = len(calls)
        fresh.up_to(late.position)
        assert len(calls) == before + 1
        assert views.store.query("SELECT 1 FROM archive_records WHERE record_id = %s", (str(late.statement_id),))
        fresh.up_to(late.position)  # covered now: no further catch-up
        assert len(calls) == before + 1
    finally:
        views.close()


def test_a_view_with_nothing_new_of_its_topics_is_read_without_catching_up(world: World) -> None:
    """Queries are events the archive never reads: after them, a reader finds the archive already holds
    everything up to its position (no transaction, the position not written), until a record comes."""
    from tests.support import make_resident_id

    views = open_views(world.settings, world.ledger)
    try:
        dept = world.department(purposes=["administrative_licensing"])
        world.append_ok(*[world.submission(dept) for _ in range(5)])
        views.archive.catch_up_all()
        position = views.archive.position()
        fresh, calls = _counted_fresh(world, views.archive)
        queries = world.append_ok(*[world.signed(dept, "query.requested", operator=f"staff-{k}", subject=make_resident_id(),
                                                 purpose="administrative_licensing", legal_basis="x", scope="archive")
                                    for k in range(3)])
        assert views.archive.holds(queries[-1].position) and not views.access_log.holds(queries[-1].position)
        fresh.up_to(queries[-1].position)
        assert calls == [] and views.archive.position() == position < queries[-1].position
        (record,) = world.append_ok(world.submission(dept))
        assert not views.archive.holds(record.position)
        fresh.up_to(record.position)
        assert calls == [1] and views.archive.position() == record.position
        assert views.store.query("SELECT 1 FROM archive_records WHERE record_id = %s", (str(record.statement_id),))
    finally:
        views.close()


def test_verification_processes_end_with_a_killed_ledger(tmp_path) -> None:
    """Killed outright (SIGKILL), the process that started the verification processes takes them, and
    the forkserver they came from, with it."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    code = (
        "import sys, time\n"
        "from ledger.application import Ledger\n"
        "def main():\n"
        f"    ledger = Ledger({{'PERSISTENCE_MODULE': 'eventsourcing.sqlite', 'SQLITE_DBNAME': {str(tmp_path / 'x.db')!r},"
        " 'APPLICATION_RECORDER_TOPIC': 'ledger.adapters.recorders:SQLiteLedgerRecorder'}, verify_processes=2)\n"
        "    ledger.start_verifiers()\n"
        "    print(' '.join(str(p) for p in ledger._pool._processes), flush=True)\n"
        "    time.sleep(600)\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    (tmp_path / "hold.py").write_text(code)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "hold.py")], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    workers = [int(p) for p in proc.stdout.readline().split()]  # type: ignore[union-attr]
    assert len(workers) == 2 and all(Path(f"/proc/{p}").exists() for p in workers)
    forkservers = {int(Path(f"/proc/{p}/stat").read_text().split(")")[1].split()[1]) for p in workers}  # ppid
    assert proc.pid not in forkservers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    def alive(pid: int) -> bool:  # a zombie (state Z) waits to be reaped: it has ended
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
        except OSError:
            return False

    while any(alive(p) for p in [*workers, *forkservers]):
        assert time.monotonic() < deadline, "verification processes outlived the ledger's process"
        time.sleep(0.1)


def test_views_record_how_far_they_looked_not_only_what_they_applied(world: World) -> None:
    """A view that filters by topic records the ledger's head once it has seen every event up to it, so
    the next catch-up does not scan again past the events that do not concern it; nothing is skipped."""
    from tests.support import make_resident_id

    views = open_views(world.settings, world.ledger)
    try:
        dept = world.department(purposes=["administrative_licensing"])
        world.append_ok(*[world.submission(dept) for _ in range(30)])
        for view in (views.archive, views.access_log):
            view.catch_up_all()
        head = world.ledger.recorder.max_notification_id()
        assert views.access_log.position() == head  # no query yet, but every event up to the head was looked at
        assert views.archive.position() == head
        assert views.access_log.catch_up() == 0 and views.archive.catch_up() == 0
        subject = make_resident_id()
        (q,) = world.append_ok(world.signed(dept, "query.requested", operator="staff-1", subject=subject,
                                            purpose="administrative_licensing", legal_basis="x", scope="archive"))
        (r,) = world.append_ok(world.submission(dept, subject=subject))
        assert views.access_log.catch_up() == 1 and views.archive.catch_up() == 1
        assert views.access_log.position() == views.archive.position() == r.position
        assert [row["position"] for row in views.access_log.find({"subject": subject})] == [q.position]
        assert views.archive.documents(subject)[0]["record_id"] == str(r.statement_id)
    finally:
        views.close()


def test_under_load_the_writer_lingers_so_that_batches_grow_and_a_lone_statement_waits_for_nothing(
        world: World) -> None:
    """Others already waiting behind the first job: the writer waits ``linger`` for more to join the batch.
    Alone: it writes at once (with a linger of a minute, a lone statement is still answered)."""
    from ledger.adapters.committer import GroupCommitter

    dept = world.department()
    sizes: list[int] = []
    release = threading.Event()
    real = world.ledger.append

    def append(envelopes):  # type: ignore[no-untyped-def]
        sizes.append(len(envelopes))
        if len(sizes) == 1:
            release.wait(10)  # the first batch holds the writer while the next ones queue up
        return real(envelopes)

    world.ledger.append = append  # type: ignore[method-assign]
    committer = GroupCommitter(world.ledger, linger=0.5)
    committer.start()
    try:
        first = committer.submit([parse_envelope(world.submission(dept))])
        while not sizes:
            threading.Event().wait(0.01)
        queued = [committer.submit([parse_envelope(world.submission(dept))]) for _ in range(3)]
        release.set()
        threading.Event().wait(0.1)  # the writer is lingering now: this one still joins the batch
        late = committer.submit([parse_envelope(world.submission(dept))])
        outcomes = [f.result(10)[0] for f in [first, *queued, late]]
        assert all(_outcome(o)[0] == "receipt" for o in outcomes)
        assert sizes == [1, 4]
        committer.linger = 60.0
        alone = committer.submit([parse_envelope(world.submission(dept))])
        assert _outcome(alone.result(10)[0])[0] == "receipt" and sizes == [1, 4, 1]
    finally:
        release.set()
        committer.stop()
