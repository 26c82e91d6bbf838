"""Layers: keys <- ledger <- projections <- api <- bench. Nothing imports upward; pure modules do no I/O."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RANK = {"keys": 0, "ledger": 1, "projections": 2, "api": 3, "bench": 4}
# The benchmark runs from a checkout; the installed distribution carries the rest.
SHIPPED = [top for top in RANK if top != "bench"] + ["migrations"]
CORE = ["ledger/format", "ledger/log", "ledger/domain"]
PURE = sorted([str(p.relative_to(ROOT)) for d in CORE for p in (ROOT / d).rglob("*.py")]
              + ["ledger/errors.py", "keys/points.py", "keys/registry.py", "keys/errors.py", "keys/signatures.py"])
# The library's aggregate base and topic helpers are pure; its recorders, applications and backends are not.
PURE_LIBRARY = {"eventsourcing.domain", "eventsourcing.utils"}
IO_MODULES = {"os", "io", "socket", "sqlite3", "psycopg", "subprocess", "pathlib", "urllib", "http", "requests",
              "httpx", "eventsourcing", "shutil", "tempfile", "threading", "multiprocessing", "concurrent", "asyncio"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_no_upward_imports():
    bad = []
    for top, rank in RANK.items():
        for path in (ROOT / top).rglob("*.py"):
            for line, name in _imports(path):
                head = name.split(".")[0]
                if head in RANK and RANK[head] > rank:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert bad == []


def test_import_linter_contract():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    proc = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 kept, 0 broken" in proc.stdout


def test_pure_modules_do_no_io():
    bad = []
    for rel in PURE:
        path = ROOT / rel
        for line, name in _imports(path):
            if name.split(".")[0] in IO_MODULES and name not in PURE_LIBRARY:
                bad.append(f"{rel}:{line} imports {name}")
        text = path.read_text(encoding="utf-8")
        if "open(" in text.replace("open_note(", "").replace("def open_", ""):
            bad.append(f"{rel}: calls open(")
    assert bad == []


def test_the_core_is_every_module_of_its_sub_packages():
    """The purity check reads every module of the core, not a hand-kept list that new modules slip past."""
    assert len(PURE) >= 20
    assert {"ledger/domain/aggregates.py", "ledger/domain/audit.py", "ledger/log/merkle.py",
            "ledger/format/statements.py"} <= set(PURE)
    assert not any(rel.startswith(("ledger/adapters", "ledger/application")) for rel in PURE)


def test_every_package_is_in_the_distribution():
    """A non-editable install must carry every package (a subpackage missed once broke `serve`)."""
    import fnmatch
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [".".join(p.parent.relative_to(ROOT).parts) for top in SHIPPED
                for p in (ROOT / top).rglob("__init__.py")]
    assert packages and all(any(fnmatch.fnmatch(name, pat) for pat in include) for name in packages), packages
    assert not any(fnmatch.fnmatch("bench", pat) for pat in include)
    data = config["tool"]["setuptools"]["package-data"]
    assert "catalogue/*.json" in data["ledger"] and "*.sql" in data["migrations"]
