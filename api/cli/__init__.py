"""``credit-ledger``: init, keys, sign, submit, serve, migrate, project, rebuild, export, audit, access-report.

One module per family of commands: ``setup`` (init, keys, migrate), ``statements`` (sign, submit),
``serve``, ``views`` (project, rebuild), ``audit`` (audit verify, export, access-report); ``parser``
wires them to their arguments and ``supervise`` runs the child processes of ``serve``.

Errors are one line on stderr and a non-zero exit status (1: refused or failed, 2: usage).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from api.cli.common import CLIError
from api.cli.parser import GONE, build_parser

__all__ = ["CLIError", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script.

    Files the commands create (the SQLite file and its -wal and -shm, export bundles, envelopes) are
    readable by their owner only: the process umask is 0077 while a command runs."""
    from api.datadir import DataDirectoryError
    from keys import KeyError_
    from ledger.errors import LedgerError

    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in GONE:
        print(f"credit-ledger: no command {words[0]!r}: {GONE[words[0]]}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(words)
    umask = os.umask(0o077)
    try:
        return int(args.func(args))
    except (CLIError, KeyError_, LedgerError, DataDirectoryError) as exc:
        print(f"credit-ledger: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # storage unreachable, migration refused, ...
        print(f"credit-ledger: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        os.umask(umask)
