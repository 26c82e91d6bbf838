"""``credit-ledger console``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the CLI's subcommands."""
