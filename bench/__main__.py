"""``python3 -m bench [--quick] [--json PATH] [--only FIGURE]... [--no-postgres] [--check] [--target-scale F]``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

FIGURES = ["http", "rebuild", "audit", "proof", "memory", "copy", "site", "report", "replica"]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m bench", description="measure figures against same-run baselines")
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, for CI)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--only", action="append", choices=FIGURES, help="run only these figures (repeatable)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a figure misses its target (without it: exit 0, saying how many missed)")
    parser.add_argument("--target-scale", type=_positive, default=1.0, metavar="F",
                        help="make every target F times harder (a floor times F, a ceiling divided by F); "
                             "default 1, the targets as stated: a test of --check uses a huge or tiny F")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the figures; PostgreSQL from CREDIT_LEDGER_BENCH_POSTGRES_URL (default: the local server's
    ``test`` database). Progress goes to stderr, the table to stdout. Exit 0 whether or not the targets are
    met (it says how many were not), unless ``--check``: then 1 if any was not."""
    from bench.report import missed, set_target_scale
    from bench.scenarios import run

    args = build_parser().parse_args(argv)
    set_target_scale(args.target_scale)
    url = None if args.no_postgres else (os.environ.get("CREDIT_LEDGER_BENCH_POSTGRES_URL")
                                          or "postgresql://postgres@127.0.0.1:5432/test")
    figures = run(args.quick, Path(args.json) if args.json else None, url, set(args.only or []))
    failed = missed(figures)
    scaled = f" (targets scaled by {args.target_scale:g})" if args.target_scale != 1 else ""
    for f in failed:
        print(f"bench: target not met{scaled}: {f['name']}: {f['value']:g} {f['unit']}, target {f['target']}",
              file=sys.stderr)
    if failed:
        print(f"{len(failed)} target(s) not met{scaled}", file=sys.stderr)
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
