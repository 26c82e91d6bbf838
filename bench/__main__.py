"""``python3 -m bench [--quick] [--json PATH] [--only FIGURE]... [--no-postgres]``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

FIGURES = ["http", "rebuild", "audit", "proof", "memory"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m bench", description="measure figures against same-run baselines")
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, for CI)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--only", action="append", choices=FIGURES, help="run only these figures (repeatable)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the figures; PostgreSQL from CREDIT_LEDGER_BENCH_POSTGRES_URL (default: the local server's
    ``test`` database). Exit 0 whether or not the targets are met (it says how many were not)."""
    from bench.scenarios import run

    args = build_parser().parse_args(argv)
    url = None if args.no_postgres else (os.environ.get("CREDIT_LEDGER_BENCH_POSTGRES_URL")
                                          or "postgresql://postgres@127.0.0.1:5432/test")
    figures = run(args.quick, Path(args.json) if args.json else None, url, set(args.only or []))
    missed = [f["name"] for f in figures if f["met"] is False]
    if missed:
        print(f"{len(missed)} target(s) not met", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
