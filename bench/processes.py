"""Child processes of the benchmark: servers on a free port, and ``credit-ledger`` commands whose time
and peak memory are measured (with the peaks of the processes they start)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from api.settings import Settings
from bench.ledgers import server_env

# The checkout holding the ``bench`` package: servers importing it (uvicorn --app-dir) run from here.
CHECKOUT = Path(__file__).resolve().parents[1]


def child(settings: Settings, argv: list[str], helpers: bool = False) -> tuple[float, float, float]:
    """Run ``credit-ledger ARGV`` in a child process; return (seconds, its peak RSS MB, and with ``helpers``
    the largest peak RSS MB among the processes it starts, sampled every 50 ms from their VmHWM)."""
    env = server_env(settings)
    code = ("import sys, time; from api.cli import main; from api.cli.audit import peak_rss_mb; "
            f"t = time.perf_counter(); rc = main({argv!r}); "
            "print('BENCH', time.perf_counter() - t, peak_rss_mb()); "
            "sys.exit(rc)")
    helper_peaks: dict[int, float] = {}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + 7200
        while proc.poll() is None:
            if helpers:
                record_descendant_peaks(proc.pid, helper_peaks)
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"credit-ledger {' '.join(argv)} failed in the benchmark: " + stderr.strip()[-500:])
    line = [ln for ln in stdout.splitlines() if ln.startswith("BENCH")][-1].split()
    return float(line[1]), float(line[2]), max(helper_peaks.values(), default=0.0)


def record_descendant_peaks(root: int, peaks: dict[int, float]) -> None:
    """Record in ``peaks`` the VmHWM (peak resident memory so far, MB) of every process below ``root``."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent_of[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    below: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parent_of.items() if parent in frontier} - below
        below |= frontier
    for pid in below:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = max(peaks.get(pid, 0.0), int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            continue


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """Start a server; return once it listens on ``port`` (and its worker processes had time to start)."""
    # The server's log goes to a file, as in production (a pipe nobody reads would fill and drop lines).
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"{cmd[0]} exited: {log.read().decode(errors='replace')[-800:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                # Listening; with several worker processes, give every one of them time to start too.
                time.sleep(3.0 if "--workers" in cmd and cmd[cmd.index("--workers") + 1] != "1" else 0.5)
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd[0]} did not listen on {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def installed(name: str) -> str:
    """The path of console script ``name`` next to this interpreter."""
    return str(Path(sys.executable).parent / name)
