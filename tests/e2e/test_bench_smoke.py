"""The benchmark runs from a checkout as ``python3 -m bench``; the installed tool has no ``bench``."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI = shutil.which("credit-ledger") or str(Path(sys.executable).parent / "credit-ledger")


def test_the_quick_proof_figures_run_and_are_written(tmp_path):
    out = tmp_path / "q.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--no-postgres", "--only", "proof",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(out.read_text())
    names = [f["name"] for f in figures]
    assert names == [f"6 SQLite {kind} proof {q} at 100000 leaves"
                     for kind in ("inclusion", "consistency") for q in ("p50", "p99")]
    assert all(f["value"] > 0 and f["baseline"] > 0 and f["unit"] == "ms" for f in figures)
    assert "6 SQLite inclusion proof p99 at 100000 leaves" in proc.stdout  # the table
    # Progress on stderr: which figure runs, and how long it took.
    assert "bench: [1/1] figure 6 proofs on SQLite, 100,000 leaves: started" in proc.stderr
    assert re.search(r"bench: \[1/1\] figure 6 proofs on SQLite, 100,000 leaves: done in [0-9.]+ s", proc.stderr)


def quick_proofs(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    out = tmp_path / "q.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--no-postgres", "--only", "proof",
                           "--json", str(out), *extra], cwd=ROOT, capture_output=True, text=True, timeout=600)
    return proc, json.loads(out.read_text()) if out.exists() else []


def test_check_exits_1_when_a_target_is_missed(tmp_path):
    # A target a billion times harder (p99 under 5 picoseconds) cannot be met.
    proc, figures = quick_proofs(tmp_path, "--check", "--target-scale", "1e9")
    assert proc.returncode == 1, proc.stderr[-2000:]
    missed = [f["name"] for f in figures if f["met"] is False]
    assert missed == [f"6 SQLite {kind} proof p99 at 100000 leaves" for kind in ("inclusion", "consistency")]
    for name in missed:
        assert f"bench: target not met (targets scaled by 1e+09): {name}: " in proc.stderr
    assert "2 target(s) not met" in proc.stderr and proc.stdout.count(" NO\n") == 2


def test_check_exits_0_when_every_target_is_met(tmp_path):
    # A target a billion times easier (p99 under 5,000 km of milliseconds) is always met.
    proc, figures = quick_proofs(tmp_path, "--check", "--target-scale", "1e-9")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [f["met"] for f in figures] == [None, True, None, True]
    assert "not met" not in proc.stderr


def test_without_check_a_missed_target_is_said_but_exits_0(tmp_path):
    proc, figures = quick_proofs(tmp_path, "--target-scale", "1e9")
    assert proc.returncode == 0 and "2 target(s) not met" in proc.stderr
    assert [f["met"] for f in figures] == [None, False, None, False]


def test_a_target_scale_that_is_not_a_positive_number_is_a_usage_error(tmp_path):
    for bad in ("0", "-1", "x", "nan"):
        proc, figures = quick_proofs(tmp_path, "--check", "--target-scale", bad)
        assert proc.returncode == 2 and "--target-scale" in proc.stderr and figures == []


def test_progress_says_while_a_figure_runs():
    from bench.report import Progress

    out = io.StringIO()
    progress = Progress(2, out, every=0.01)
    with progress.stage("figure 9 something"):
        deadline = time.monotonic() + 30
        while "running for" not in out.getvalue():
            assert time.monotonic() < deadline, out.getvalue()
            time.sleep(0.01)
    lines = out.getvalue().splitlines()
    assert lines[0] == "bench: [1/2] figure 9 something: started"
    assert lines[1].startswith("bench: [1/2] figure 9 something: running for ")
    assert re.fullmatch(r"bench: \[1/2\] figure 9 something: done in [0-9.]+ s \([0-9.]+ s in all\)", lines[-1])


def test_the_installed_tool_has_no_bench_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    proc = subprocess.run([CLI, "bench", "--quick"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "python3 -m bench" in proc.stderr
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []
