"""Load generation for the benchmark: ``wrk`` (a separate process) sending distinct requests."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# The wrk script: each thread takes the lines of BENCH_ITEMS in turn (``items``), ``REQUEST`` builds a request from
# ``items[i]``, ``FAILED`` says which answers count as errors; ``done`` prints one RESULT line.
LUA = r"""
local items = {}
for line in io.lines(os.getenv("BENCH_ITEMS")) do items[#items + 1] = line end
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
  local i = ((n * nthreads + id - 1) % #items) + 1
  n = n + 1
  return REQUEST
end
function response(status, headers, body)
  if FAILED then errors = errors + 1 end
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


def run_wrk(url: str, items: list[bytes], request: str, failed: str, seconds: float, connections: int = 32,
            threads: int = 2) -> dict[str, float]:
    """Send requests built by the Lua expression ``request`` from ``items[i]`` (one item a line, taken in turn) to
    ``url`` for ``seconds``; answers meeting the Lua condition ``failed`` are errors. req/s, p50, p99 (ms), errors."""
    if not wrk_available():
        raise RuntimeError("the benchmark needs wrk (Debian package 'wrk'): apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        (tmp / "load.lua").write_text(LUA.replace("REQUEST", request).replace("FAILED", failed))
        (tmp / "items.txt").write_bytes(b"\n".join(b.replace(b"\n", b" ") for b in items) + b"\n")
        proc = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--timeout", "10s",
             "-s", str(tmp / "load.lua"), url, "--", str(threads)],
            env=dict(os.environ, BENCH_ITEMS=str(tmp / "items.txt")), capture_output=True, text=True,
            timeout=seconds + 60)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
        if proc.returncode != 0 or not line:
            raise RuntimeError(f"wrk failed: {proc.stderr or proc.stdout}")
        requests, duration_us, p50, p99, errors = line[-1].split()[1:]
        return {"requests": int(requests), "rps": int(requests) / (int(duration_us) / 1e6), "p50_ms": float(p50),
                "p99_ms": float(p99), "errors": int(errors)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def post_load(url: str, bodies: list[bytes], seconds: float, connections: int = 32, threads: int = 2) -> dict[str, float]:
    """POST the bodies in turn (each once while they last) for ``seconds``; req/s, p50, p99, errors."""
    result = run_wrk(url, bodies, 'wrk.format("POST", wrk.path, {["Content-Type"] = "application/json"}, items[i])',
                     "status >= 300", seconds, connections, threads)
    return {**result, "bodies": len(bodies)}
