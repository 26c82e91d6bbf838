"""The views from the command line: ``project`` keeps them up to date, ``rebuild`` rebuilds and compares.

``rebuild_elsewhere`` and ``archive_elsewhere`` are picklable functions doing part of a rebuild in
another process; the benchmark's rebuild figure uses them as ``rebuild all`` does.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any

from api.cli.common import settings_from
from api.settings import Settings


def cmd_project(args: argparse.Namespace) -> int:
    import signal
    import threading

    from api.runtime import open_ledger, open_views
    from projections.follow import follow

    settings = settings_from(args)
    ledger = open_ledger(settings)
    views = open_views(settings, ledger)
    worker = views.worker(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if not args.quiet:
        print(f"projecting (archive, log tree, checkpoints every {settings.checkpoint_interval_seconds:g} s); "
              "Ctrl-C to stop", file=sys.stderr)
    try:
        if args.once:
            worker.run_once()
        else:
            worker.start()
            threading.Thread(target=follow, args=(ledger, worker.notify, stop), name="follow", daemon=True).start()
            stop.wait()
            worker.stop()
        if not args.quiet:
            print(f"archive at position {views.archive.position()}, log tree at {views.tree.size()} leaves",
                  file=sys.stderr)
    finally:
        views.close()
        ledger.close()
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from api.runtime import open_ledger, open_views
    from projections.worker import rebuild

    settings = settings_from(args)
    ledger = open_ledger(settings)
    views = open_views(settings, ledger)
    try:
        targets = {"archive": views.archive, "access_log": views.access_log, "log_tree": views.tree}
        names = [args.view] if args.view != "all" else list(targets)
        before = {}
        for name in names:
            targets[name].catch_up_all()
            before[name] = targets[name].digest()
        views.archive.producer = archive_elsewhere(settings)  # its pages are built in another process
        rebuild([targets[name] for name in names], rebuild_elsewhere(settings))
        failed = False
        for name in names:
            after = targets[name].digest()
            verdict = "equal" if before[name] == after else "DIFFERENT"
            print(f"{name}: live {before[name]}  rebuilt {after}  {verdict}")
            failed = failed or before[name] != after
        return 1 if failed else 0
    finally:
        views.close()
        ledger.close()


def rebuild_elsewhere(settings: Settings) -> Callable[[list[str]], int]:
    """A picklable function catching up the named views (``TrackedView.name``) in another process."""
    return functools.partial(_catch_up_views, settings.model_dump_json())


def archive_elsewhere(settings: Settings) -> Callable[[], tuple[Any, Callable[[], None]]]:
    """A picklable function opening, in another process, the archive view on these settings (with a
    function closing it): ``ArchiveView.producer`` for a long catch-up."""
    return functools.partial(_open_archive, settings.model_dump_json())


def _open_archive(settings_json: str) -> tuple[Any, Callable[[], None]]:
    from api.runtime import open_ledger, open_views

    settings = Settings.model_validate_json(settings_json).model_copy(update={"migrate_on_start": False})
    ledger = open_ledger(settings)
    views = open_views(settings, ledger)

    def close() -> None:
        views.close()
        ledger.close()
    return views.archive, close


def _catch_up_views(settings_json: str, names: list[str]) -> int:
    from api.runtime import open_ledger, open_views
    from projections.worker import catch_up_all

    settings = Settings.model_validate_json(settings_json).model_copy(update={"migrate_on_start": False})
    ledger = open_ledger(settings)
    views = open_views(settings, ledger)
    try:
        targets = {view.name: view for view in (views.archive, views.access_log, views.tree)}
        return catch_up_all([targets[name] for name in names])
    finally:
        views.close()
        ledger.close()
