"""The benchmark runs from a checkout as ``python3 -m bench``; the installed tool has no ``bench``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_the_installed_tool_has_no_bench_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    proc = subprocess.run([CLI, "bench", "--quick"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "python3 -m bench" in proc.stderr
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []
