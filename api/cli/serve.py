"""``serve``: the HTTP service, in one process or in several with one projection process beside them."""

from __future__ import annotations

import argparse
import os
import sys

from api.cli.common import CLIError, settings_from
from api.settings import Settings
from api.cli.setup import print_init


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app, preflight
    from api.runtime import check_key_files, init, needs_init

    settings = settings_from(args)
    if getattr(args, "read_only", False) or settings.read_only:
        settings = read_only_settings(settings, getattr(args, "primary", None))
    check_key_files(settings)
    if not settings.read_only and needs_init(settings):
        print(f"{settings.data_dir} has no authority key: running init first", file=sys.stderr)
        print_init(settings, init(settings), sys.stderr)
    preflight(settings)
    mode = f", read-only (primary: {settings.primary_url or 'not configured'})" if settings.read_only else ""
    print(f"serving on http://{args.host}:{args.port} (OpenAPI page: /docs); backend: {settings.backend}{mode}",
          file=sys.stderr)
    if args.workers > 1:
        from api.cli.supervise import projector

        # Each worker process builds its app from the environment; the data directory travels there too.
        # One process keeps the views up to date for all of them (a `credit-ledger project` child, restarted
        # if it dies); the workers themselves only catch a view up when a query needs it.
        os.environ["CREDIT_LEDGER_DATA_DIR"] = str(settings.data_dir)
        if settings.read_only:
            os.environ["CREDIT_LEDGER_READ_ONLY"] = "true"
            if settings.primary_url:
                os.environ["CREDIT_LEDGER_PRIMARY_URL"] = settings.primary_url
        child = None
        if settings.run_projections and not settings.read_only:
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


def read_only_settings(settings: Settings, primary: str | None) -> Settings:
    """The settings of a read-only server on a hot standby: PostgreSQL only; no migrations or projections (the
    standby's tables and views come from the primary by replication); the data directory needs no private key,
    only ``keys/authority.pub`` and the log's verifier key (``keys/log.pem`` or CREDIT_LEDGER_LOG_VERIFIER_KEY)."""
    if not settings.database_url:
        raise CLIError("serve --read-only reads a PostgreSQL hot standby: set CREDIT_LEDGER_DATABASE_URL to it")
    if not (settings.keys_dir / "authority.pub").exists():
        raise CLIError(f"{settings.keys_dir} has no authority.pub: copy the primary's keys/authority.pub there")
    if not settings.log_verifier_key and not (settings.keys_dir / "log.pem").exists():
        raise CLIError("serve --read-only needs the log's verifier key: set CREDIT_LEDGER_LOG_VERIFIER_KEY (the "
                       "primary's GET /v1/log/verifier-key) or put keys/log.pem in the data directory")
    return settings.model_copy(update={
        "read_only": True, "migrate_on_start": False, "run_projections": False,
        "primary_url": primary or settings.primary_url})
