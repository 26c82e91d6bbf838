"""The CLI explains itself: every command and every option has help text, ``--version`` says the installed
version, every command that opens a ledger takes ``--data``, and the README's CLI table shows ``--data``
wherever a command takes it."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from api.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]

# The commands that open a ledger (its database and data directory).
OPENS_A_LEDGER = {"init", "serve", "project", "rebuild", "export", "audit verify"}


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every command (and command group) of the tree: its words, its parser and its help line."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, helps.get(name)
                yield from commands(sub, (*path, name))


def options(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        if not isinstance(action, (argparse._SubParsersAction, argparse._HelpAction)):
            yield action


def test_every_command_and_every_option_has_help() -> None:
    parser = build_parser()
    missing = [f"credit-ledger {' '.join(path)}" for path, _, help_ in commands(parser) if not help_]
    for path, sub, _ in [((), parser, None), *commands(parser)]:
        for action in options(sub):
            if not action.help or action.help == argparse.SUPPRESS:
                name = "/".join(action.option_strings) or action.dest
                missing.append(f"credit-ledger {' '.join(path)} {name}".replace("  ", " "))
    assert missing == []
    assert len(list(commands(parser))) >= 14  # the walk reached the whole tree


def test_the_walk_finds_an_option_without_help() -> None:
    parser = build_parser()
    sub = next(p for path, p, _ in commands(parser) if path == ("keys", "new"))
    sub.add_argument("--undocumented")
    found = [a.dest for path, p, _ in commands(parser) for a in options(p) if not a.help]
    assert found == ["undocumented"]


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"credit-ledger {metadata.version('credit-ledger')}\n"


def data_commands() -> dict[str, argparse.ArgumentParser]:
    return {" ".join(path): p for path, p, _ in commands(build_parser())
            if any("--data" in a.option_strings for a in p._actions)}


def test_every_command_that_opens_a_ledger_takes_data() -> None:
    assert OPENS_A_LEDGER <= set(data_commands())


def test_the_readme_cli_table_shows_data_on_every_command_that_takes_it() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## The CLI\n"):]
    table = table[:table.index("\n## ")]
    rows = {}
    for line in table.splitlines():
        m = re.match(r"\| `credit-ledger (([a-z][a-z-]*)(?: ([a-z][a-z-]*))?[^`]*)`", line)
        if m:
            rows[" ".join(w for w in (m[2], m[3]) if w)] = m[1]
    missing = [name for name in data_commands() if "[--data DIR]" not in rows.get(name, "")]
    assert missing == []
