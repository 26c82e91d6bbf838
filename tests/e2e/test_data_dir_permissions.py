"""The data directory and the files holding personal data are the owner's alone, through the real CLI.

The data directory was made 0755 and ``ledger.sqlite3``, its ``-wal`` and ``-shm`` and export bundles
0644: any local user could read the ledger and the access log with ``sqlite3 -readonly``. Every command
here runs under a permissive umask (0022), as a user's shell would have it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.settings import Settings
from tests.reliability.harness import CLI, free_port, server_env
from tests.support import World, wait_until_serving

pytestmark = pytest.mark.server


def _permissive() -> None:
    os.umask(0o022)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120, preexec_fn=_permissive)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every path under ``root`` (and ``root``): mode, size, modification time and content digest."""
    out = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        out[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    """``credit-ledger serve`` on a data directory that does not exist yet (so it runs init first)."""
    settings = Settings(data_dir=tmp_path / "data")
    port = free_port()
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "warning"], env=server_env(settings),
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_permissive)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url, log)
        yield settings, url
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def test_a_fresh_data_dir_is_0700_and_the_sqlite_files_0600_after_writes(serving):
    settings, url = serving
    assert httpx.post(url + "/v1/log/checkpoint").status_code in (200, 201)  # the views and the log write
    assert httpx.get(url + "/v1/public/lists/black").status_code == 200
    data = settings.data_dir
    assert mode(data) == 0o700 and mode(settings.keys_dir) == 0o700
    files = [data / "ledger.sqlite3", data / "ledger.sqlite3-wal", data / "ledger.sqlite3-shm"]
    assert all(f.exists() for f in files), sorted(p.name for p in data.iterdir())
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert all(mode(p) & 0o077 == 0 for p in data.rglob("*") if p.is_file() and p.suffix != ".pub")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_start_is_refused_on_a_data_dir_others_can_read_and_nothing_changes(request, tmp_path, backend):
    if backend == "postgres":
        from tests.conftest import PG_URL

        settings = Settings(data_dir=tmp_path / "data", database_url=PG_URL,
                            database_schema=request.getfixturevalue("pg_schema"))
    else:
        settings = Settings(data_dir=tmp_path / "data")
    World(settings).close()
    os.chmod(settings.data_dir, 0o755)
    before = snapshot(settings.data_dir)
    env = server_env(settings)
    commands = [["serve", "--port", str(free_port())], ["init"]]
    if backend == "sqlite":  # these open the SQLite file in the data directory
        commands += [["project", "--once"], ["export", "--out", str(tmp_path / "bundle.jsonl")],
                     ["rebuild", "archive"]]
    for args in commands:
        proc = run(args, env)
        assert proc.returncode == 1, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("credit-ledger: data directory "), proc.stderr
        assert str(settings.data_dir) in proc.stderr and f"run: chmod 700 {settings.data_dir}" in proc.stderr
        assert "0o755" in proc.stderr
        assert snapshot(settings.data_dir) == before, f"{args[0]} changed the data directory"
    assert not (tmp_path / "bundle.jsonl").exists()


def test_serve_on_an_empty_data_dir_others_can_read_creates_nothing(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    proc = run(["serve", "--port", str(free_port())], dict(server_env(Settings(data_dir=data))))
    assert proc.returncode == 1 and "chmod 700" in proc.stderr and proc.stderr.count("\n") == 1
    assert "running init first" not in proc.stderr
    assert list(data.iterdir()) == [] and mode(data) == 0o755


@pytest.mark.parametrize("name", ["bundle.jsonl", "bundle.jsonl.gz"])
def test_export_bundle_is_0600_and_the_command_warns_it_holds_personal_data(tmp_path, name):
    settings = Settings(data_dir=tmp_path / "data")
    world = World(settings)
    dept = world.department()
    world.append_ok(world.submission(dept, subject_name="李四"))
    world.close()
    bundle = tmp_path / name
    bundle.write_bytes(b"an older file anyone could read")
    os.chmod(bundle, 0o644)
    proc = run(["export", "--out", str(bundle)], server_env(settings))
    assert proc.returncode == 0, proc.stderr
    assert mode(bundle) == 0o600
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "personal data" in warnings[0] and str(bundle) in warnings[0]
    fresh = tmp_path / ("fresh-" + name)
    proc = run(["export", "--out", str(fresh)], server_env(settings))
    assert proc.returncode == 0 and mode(fresh) == 0o600
