"""The console holds a signing key: only the browser that opened its printed address may drive it. Against real
``serve`` and ``console`` processes: requests without the token's cookie, with another Host or Origin, started by
another site, or POSTs without the CSRF token or the console's Origin are refused, and nothing is stored; it
listens on 127.0.0.1 only; its code reaches the ledger through the API alone."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_console_ledger import ConsoleProcess, Site, build, console, serving

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("console-security")
    with serving(build(root, days=2), root) as served:
        yield served


@pytest.fixture(scope="module")
def window(site: Site) -> Iterator[ConsoleProcess]:
    with console(site, "window", "service_window") as proc:
        yield proc


def opened(proc: ConsoleProcess) -> httpx.Client:
    """A client that opened the printed address (it holds the cookie), and the cookie's attributes checked."""
    client = httpx.Client(base_url=proc.origin, timeout=30)
    first = client.get(proc.start_url)
    assert first.status_code == 303 and first.headers["location"] == "/"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "token" not in first.headers["location"]
    return client


def csrf_of(client: httpx.Client) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/window").text)
    assert match
    return match.group(1)


def resident_form(site: Site, csrf: str | None) -> dict[str, str]:
    form = {"subject": site.subjects[0], "method": "id_card_reader", "reference": "card read 1"}
    return form if csrf is None else {**form, "csrf": csrf}


def test_only_the_browser_that_opened_the_printed_address_is_served(site: Site, window: ConsoleProcess) -> None:
    before = site.count()
    bare = httpx.Client(base_url=window.origin, timeout=30)
    for path in ("/", "/window", "/privacy/log", "/static/console.css"):
        r = bare.get(path)
        assert r.status_code == 403 and "printed" in r.text
    wrong = bare.get("/?token=not-the-token", follow_redirects=False)
    assert wrong.status_code == 403 and "set-cookie" not in wrong.headers
    port = window.origin.rsplit(":", 1)[1]
    forged = httpx.Client(base_url=window.origin, cookies={f"credit_ledger_console_{port}": "a-guessed-token"})
    assert forged.get("/window").status_code == 403
    assert site.count() == before
    client = opened(window)
    page = client.get("/window")
    assert page.status_code == 200
    for header, value in (("content-security-policy", "default-src 'none'; script-src 'self'"),
                          ("x-frame-options", "DENY"), ("cache-control", "no-store"),
                          ("referrer-policy", "same-origin")):
        assert page.headers[header].startswith(value)


def test_another_host_origin_or_site_is_refused_and_nothing_is_stored(site: Site, window: ConsoleProcess) -> None:
    client = opened(window)
    csrf = csrf_of(client)
    port = window.origin.rsplit(":", 1)[1]
    before = site.count()
    refusals = [
        client.get("/privacy/log", headers={"Host": f"attacker.example:{port}"}),  # DNS rebinding
        client.get("/privacy/log", headers={"Origin": "http://attacker.example"}),
        client.get("/privacy/log", headers={"Sec-Fetch-Site": "cross-site"}),
        client.get("/privacy/log", headers={"Sec-Fetch-Site": "same-site"}),  # another port of this host
        client.post("/window/resident", data=resident_form(site, csrf), headers={"Origin": "http://attacker.example"}),
        client.post("/window/resident", data=resident_form(site, csrf)),  # neither Origin nor Referer
        client.post("/window/resident", data=resident_form(site, None), headers={"Origin": window.origin}),
        client.post("/window/resident", data=resident_form(site, "0" * 64), headers={"Origin": window.origin}),
        client.post("/window/objection", data={**resident_form(site, None), "record_id": "x", "grounds": "g"},
                    headers={"Origin": window.origin}),
    ]
    assert [r.status_code for r in refusals] == [403] * len(refusals)
    assert site.count() == before  # no query was signed
    # The same form with the console's Origin and its CSRF token is served: two queries, recorded.
    ok = client.post("/window/resident", data=resident_form(site, csrf), headers={"Origin": window.origin})
    assert ok.status_code == 200 and site.count() == before + 2
    via_referer = client.post("/window/resident", data=resident_form(site, csrf),
                              headers={"Referer": window.origin + "/window"})
    assert via_referer.status_code == 200 and site.count() == before + 4


def test_the_console_listens_on_the_loopback_address_only(window: ConsoleProcess) -> None:
    host, port_text = window.origin.removeprefix("http://").rsplit(":", 1)
    port = int(port_text)
    expected = "%08X" % int.from_bytes(bytes(int(part) for part in host.split(".")), "little")
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":  # LISTEN
                listening.append(address)
    assert host.startswith("127.") and listening == [expected]  # its loopback address, nothing else, no IPv6


def test_the_console_code_opens_no_database_and_no_view() -> None:
    code = ("import sys, api.cli.console, api.console.app as a\n"
            "from api.console import auditor, lead, privacy, proofs, verify, window\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('projections', 'psycopg', 'sqlite3', "
            "'eventsourcing') or m.startswith(('ledger.adapters', 'ledger.application', 'api.runtime', 'api.app')))\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_an_audit_with_the_authority_key_pinned_names_the_first_failure(site: Site, tmp_path: Path) -> None:
    """Another authority key pinned: the console's audit fails at the ledger's first entry, and says so."""
    import base64
    import time

    from keys import KeyPair

    other = tmp_path / "other-authority.pub"
    other.write_text(base64.b64encode(KeyPair.generate().public_key).decode() + "\n")
    real = site.settings.keys_dir / "authority.pub"
    for pinned, status in ((other, "failed"), (real, "passed")):
        with console(site, "auditor", "auditor", "--authority-key", str(pinned)) as proc:
            client = opened(proc)
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/audit/verify").text)
            assert csrf
            started = client.post("/audit/verify", data={"csrf": csrf.group(1)}, headers={"Origin": proc.origin})
            assert started.status_code == 303
            progress = started.headers["location"] + "/progress"
            state = client.get(progress).json()
            deadline = time.monotonic() + 60
            while state["status"] == "running" and time.monotonic() < deadline:
                time.sleep(0.2)
                state = client.get(progress).json()
            assert state["status"] == status, state
            if status == "failed":
                assert state["failure"].startswith("leaf 0 (position 1)")
                assert "not signed by the given authority key" in state["failure"]
            else:
                assert state["failure"] is None and state["done"] == state["total"] > 0
                assert not any("authority key" in w for w in state["warnings"])
