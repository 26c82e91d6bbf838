"""Load generation for the benchmark: ``wrk`` (a separate process) posting distinct bodies."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

LUA = r"""
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local threads = {}
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  n = 0
  nthreads = tonumber(args[1])
  errors = 0
end
function request()
  local i = ((n * nthreads + id - 1) % #bodies) + 1
  n = n + 1
  return wrk.format("POST", wrk.path, {["Content-Type"] = "application/json"}, bodies[i])
end
function response(status, headers, body)
  if status >= 300 then errors = errors + 1 end
end
function done(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do e = e + t:get("errors") end
  io.write(string.format("RESULT %d %d %.3f %.3f %d\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e))
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def post_load(url: str, bodies: list[bytes], seconds: float, connections: int = 32, threads: int = 2) -> dict[str, float]:
    """POST the bodies in turn (each once while they last) for ``seconds``; req/s, p50, p99, errors."""
    if not wrk_available():
        raise RuntimeError("the benchmark needs wrk (Debian package 'wrk'): apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        (tmp / "post.lua").write_text(LUA)
        (tmp / "bodies.txt").write_bytes(b"\n".join(b.replace(b"\n", b" ") for b in bodies) + b"\n")
        env = dict(os.environ, BENCH_BODIES=str(tmp / "bodies.txt"))
        proc = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--timeout", "10s",
             "-s", str(tmp / "post.lua"), url, "--", str(threads)],
            env=env, capture_output=True, text=True, timeout=seconds + 60)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
        if proc.returncode != 0 or not line:
            raise RuntimeError(f"wrk failed: {proc.stderr or proc.stdout}")
        requests, duration_us, p50, p99, errors = line[-1].split()[1:]
        return {"requests": int(requests), "rps": int(requests) / (int(duration_us) / 1e6), "p50_ms": float(p50),
                "p99_ms": float(p99), "errors": int(errors), "bodies": len(bodies)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
