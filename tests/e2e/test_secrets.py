"""Private keys never appear in logs, responses or exports; key files readable by others stop start-up."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from api.settings import Settings
from keys import KeyPair
from tests.reliability.harness import CLI, free_port, server_env
from tests.support import World

pytestmark = pytest.mark.server


def secrets_of(keys_dir: Path) -> list[bytes]:
    """Every form of every private key in the data directory that could leak."""
    out = []
    for pem in keys_dir.glob("*.pem"):
        pair = KeyPair.load(pem)
        raw = pair.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption())
        body = b"".join(pem.read_bytes().splitlines()[1:-1])
        out += [raw, base64.b64encode(raw), raw.hex().encode(), body, b"PRIVATE KEY"]
    return out


def test_keys_never_leak_into_logs_responses_or_exports(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    world = World(settings)
    dept = world.department()
    world.append_ok(world.submission(dept))
    world.close()
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--log-level", "debug"], env=server_env(settings),
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    bodies: list[bytes] = []
    try:
        for _ in range(100):
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        for method, path, body in [
            ("GET", "/healthz", None), ("GET", "/openapi.json", None), ("GET", "/v1/log/verifier-key", None),
            ("POST", "/v1/log/checkpoint", None), ("GET", "/v1/public/lists/black", None),
            ("POST", "/v1/statements", b"{broken"), ("POST", "/v1/statements", b'{"statement": {}}'),
            ("POST", "/v1/queries", b"[]"), ("GET", "/v1/nowhere", None),
        ]:
            r = httpx.request(method, url + path, content=body, headers={"Content-Type": "application/json"})
            bodies.append(r.content + str(r.headers).encode())
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
    bundle = tmp_path / "bundle.jsonl"
    env = server_env(settings)
    subprocess.run([CLI, "export", "--out", str(bundle)], env=env, check=True, capture_output=True, timeout=120)
    init_out = subprocess.run([CLI, "init"], env=env, capture_output=True, timeout=120)
    places = {"server log": (tmp_path / "server.log").read_bytes(), "export": bundle.read_bytes(),
              "init output": init_out.stdout + init_out.stderr, "responses": b"\n".join(bodies)}
    for secret in secrets_of(settings.keys_dir):
        for where, content in places.items():
            assert secret not in content, f"a private key form appears in the {where}"
    assert len(places["server log"]) > 0 and len(places["export"]) > 0


def test_start_up_refuses_key_files_readable_by_others(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    World(settings).close()
    os.chmod(settings.keys_dir / "log.pem", 0o644)
    proc = subprocess.run([CLI, "serve", "--port", str(free_port())], env=server_env(settings),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "chmod 600" in proc.stderr and "log.pem" in proc.stderr and proc.stderr.count("\n") == 1
