"""``serve``: the HTTP service, in one process or in several with one projection process beside them."""

from __future__ import annotations

import argparse
import os
import sys

from api.cli.common import settings_from
from api.cli.setup import print_init


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app, preflight
    from api.runtime import check_key_files, init, needs_init

    settings = settings_from(args)
    check_key_files(settings)
    if needs_init(settings):
        print(f"{settings.data_dir} has no authority key: running init first", file=sys.stderr)
        print_init(settings, init(settings), sys.stderr)
    preflight(settings)
    print(f"serving on http://{args.host}:{args.port} (OpenAPI page: /docs); backend: {settings.backend}", file=sys.stderr)
    if args.workers > 1:
        from api.cli.supervise import projector

        # Each worker process builds its app from the environment; the data directory travels there too.
        # One process keeps the views up to date for all of them (a `credit-ledger project` child, restarted
        # if it dies); the workers themselves only catch a view up when a query needs it.
        os.environ["CREDIT_LEDGER_DATA_DIR"] = str(settings.data_dir)
        child = None
        if settings.run_projections:
            os.environ["CREDIT_LEDGER_RUN_PROJECTIONS"] = "false"
            child = projector()
            child.start()
        from api.metrics import worker_metrics_dir

        try:
            # The workers' metrics are summed through files in one directory (prometheus multiprocess mode).
            with worker_metrics_dir():
                uvicorn.run("api.app:create_app", factory=True, workers=args.workers, host=args.host,
                            port=args.port, log_level=args.log_level, access_log=False)
        finally:
            if child is not None:
                child.stop()
    else:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                    loop="auto", http="auto", access_log=False)
    return 0
