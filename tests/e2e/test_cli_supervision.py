"""Child processes end with the process that started them, however it ends: the projection process of
``serve --workers``, a process watching a process that is not its parent (a forkserver's pool workers
watch the process that made the pool), and the ledger's kind of verification pool."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[2]
CLI = shutil.which("credit-ledger") or str(Path(sys.executable).parent / "credit-ledger")
BOUND = 15.0  # seconds a child may take to notice (it looks every half second)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ended(pid: int) -> bool:
    """Gone, or a zombie waiting for a reaper (in a container, PID 1 may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def _wait_ended(pids: list[int], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not all(_ended(pid) for pid in pids):
        assert time.monotonic() < deadline, f"{what} outlived the process it watches by {BOUND:g} s"
        time.sleep(0.1)


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, with their command lines."""
    out = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return {int(line.split()[0]): line.split(None, 1)[1] for line in out.splitlines() if line.strip()}


def _start_group(cmd: list[str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, start_new_session=True, text=True, **kwargs)  # type: ignore[call-overload]


def _end_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL everything left of the session ``proc`` leads (orphans keep its process group), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``credit-ledger serve --workers 2`` on SQLite, and its projection child once it is up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    port = _free_port()
    proc = _start_group([CLI, "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"], cwd=tmp_path,
                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        while not (projectors := [pid for pid, args in _children(proc.pid).items() if "'project'" in args]):
            assert time.monotonic() < deadline, "no projection process"
            time.sleep(0.2)
        assert len(projectors) == 1
        yield proc, projectors[0]
    finally:
        _end_group(proc)


def test_the_projection_process_ends_when_serve_is_killed(serving):
    proc, projector = serving
    assert not _ended(projector)
    os.kill(proc.pid, signal.SIGKILL)  # not reaped yet: the server stays a zombie while the child must go
    _wait_ended([projector], "the projection process")


def test_the_projection_process_is_started_again_while_serve_lives(serving):
    proc, projector = serving
    os.kill(projector, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not (again := [pid for pid, args in _children(proc.pid).items() if "'project'" in args and pid != projector]):
        assert time.monotonic() < deadline, "the projection process was not started again"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    _wait_ended(again, "the restarted projection process")


def _python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return _start_group([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, stdout=subprocess.PIPE, **kwargs)


def test_a_watcher_of_a_process_that_is_not_its_parent_ends_with_it():
    """As a forkserver's worker watches the process that made the pool: the watched process is killed and,
    not yet reaped by its parent (this test), is a zombie; the watcher ends all the same."""
    watched = _python("import time; time.sleep(120)")
    watcher = _python(f"""
        import time
        from ledger.adapters.workers import watch_parent
        watch_parent({watched.pid})
        print("watching", flush=True)
        time.sleep(120)
        """)
    try:
        assert watcher.stdout is not None and watcher.stdout.readline().strip() == "watching"
        time.sleep(0.7)
        assert watcher.poll() is None, "the watcher ended while the watched process lived"
        os.kill(watched.pid, signal.SIGKILL)
        watcher.wait(BOUND)
        assert watcher.returncode == 0
    finally:
        _end_group(watcher)
        _end_group(watched)


def test_forkserver_pool_workers_end_when_the_process_that_made_the_pool_is_killed():
    """The ledger's signature pool: forkserver workers with ``watch_parent`` as their initializer."""
    owner = _python("""
        import multiprocessing, os, time
        from concurrent.futures import ProcessPoolExecutor
        from ledger.adapters.workers import watch_parent
        if __name__ == "__main__":
            pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver"),
                                       initializer=watch_parent, initargs=(os.getpid(),))
            pids = {pool.submit(os.getpid).result() for _ in range(20)}
            print(" ".join(map(str, sorted(pids))), flush=True)
            time.sleep(120)
        """)
    try:
        assert owner.stdout is not None
        workers = [int(pid) for pid in owner.stdout.readline().split()]
        assert workers and not any(_ended(pid) for pid in workers)
        assert all(os.getpgid(pid) == owner.pid for pid in workers)  # so that the cleanup below reaches them
        os.kill(owner.pid, signal.SIGKILL)
        _wait_ended(workers, "a forkserver pool worker")
    finally:
        _end_group(owner)
