"""What the commands share: the one-line error, settings from the arguments, reading JSON, posting it."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from api.settings import Settings


class CLIError(Exception):
    """A failure reported as one line."""


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings from the environment, with ``--data`` (where the command has it) as the data directory."""
    overrides: dict[str, Any] = {}
    if getattr(args, "data", None) is not None:
        overrides["data_dir"] = Path(args.data)
    return Settings(**overrides)


def read_json(path: str) -> Any:
    """The strict JSON in file ``path`` (``-``: standard input)."""
    from ledger.errors import LedgerError
    from ledger.format.canonical import parse_json

    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse_json(data)
    except LedgerError as exc:
        raise CLIError(f"{path}: {exc}") from None


def post(url: str, body: Any, timeout: float) -> tuple[int, Any]:
    """POST ``body`` as JSON; the status and the decoded answer (an unreachable server is a CLIError)."""
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=payload, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, {"detail": f"HTTP {exc.code}"}
    except urllib.error.URLError as exc:
        raise CLIError(f"cannot reach {url}: {exc.reason}") from None
