"""``credit-ledger``: init, keys, sign, submit, serve, migrate.

Errors are one line on stderr and a non-zero exit status (1: refused or failed, 2: usage).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from api.settings import Settings


class CLIError(Exception):
    """A failure reported as one line."""


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data", None) is not None:
        overrides["data_dir"] = Path(args.data)
    return Settings(**overrides)


def cmd_init(args: argparse.Namespace) -> int:
    from api.runtime import init

    settings = _settings(args)
    result = init(settings)
    for path in result.created_keys:
        print(f"created key {path} (mode 0600)")
    where = settings.database_url and "PostgreSQL" or str(settings.sqlite_path)
    if result.founded:
        print(f"founded the ledger in {where}: authority registered, its key added, catalogue v1 published")
    else:
        print(f"the ledger in {where} was already founded")
    print(f"authority key id: {result.authority_key_id}")
    print(f"authority code (issuer of authority statements): {result.authority_code}")
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    from keys import KeyPair

    out = Path(args.out)
    if out.exists():
        raise CLIError(f"{out} exists; refusing to overwrite a key")
    pair = KeyPair.generate()
    pair.save(out)
    print(json.dumps({"key_id": pair.key_id, "public_key": pair.public_key_b64, "private_key_file": str(out)}))
    return 0


def _read_json(path: str) -> Any:
    from ledger.format.canonical import parse_json
    from ledger.errors import LedgerError

    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse_json(data)
    except LedgerError as exc:
        raise CLIError(f"{path}: {exc}") from None


def cmd_sign(args: argparse.Namespace) -> int:
    from keys import KeyPair
    from ledger.errors import LedgerError
    from ledger.format.statements import format_datetime, make_envelope, parse_envelope

    statement = _read_json(args.statement)
    if not isinstance(statement, dict):
        raise CLIError(f"{args.statement}: a statement is a JSON object")
    statement.setdefault("id", str(uuid.uuid4()))
    statement.setdefault("issued_at", format_datetime(datetime.now(timezone.utc)))
    statement.setdefault("ledger", args.ledger or _settings(args).log_origin)
    if args.issuer:
        statement["issuer"] = args.issuer
    pair = KeyPair.load(Path(args.key))
    envelope = make_envelope(statement, pair.key_id, pair.sign)
    try:
        parse_envelope(envelope)
    except LedgerError as exc:
        raise CLIError(f"{args.statement}: {exc}") from None
    text = json.dumps(envelope, ensure_ascii=False, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    body = _read_json(args.envelope)
    batch = isinstance(body, list)
    url = args.url.rstrip("/") + ("/v1/statements/batch" if batch else "/v1/statements")
    status, answer = _post(url, {"envelopes": body} if batch else body, args.timeout)
    if status >= 400:
        raise CLIError(f"refused ({status} {answer.get('type', '')}): {answer.get('detail', answer.get('title'))}")
    print(json.dumps(answer, ensure_ascii=False))
    if batch and answer.get("refused"):
        return 1
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app, preflight
    from api.runtime import check_key_files, init, needs_init

    settings = _settings(args)
    check_key_files(settings)
    if needs_init(settings):
        print(f"{settings.data_dir} has no authority key: running init first", file=sys.stderr)
        result = init(settings)
        for path in result.created_keys:
            print(f"created key {path} (mode 0600)", file=sys.stderr)
    preflight(settings)
    print(f"serving on http://{args.host}:{args.port} (OpenAPI page: /docs); backend: {settings.backend}", file=sys.stderr)
    if args.workers > 1:
        # Each worker process builds its app from the environment; the data directory travels there too.
        # One process keeps the views up to date for all of them (a `credit-ledger project` child, restarted
        # if it dies); the workers themselves only catch a view up when a query needs it.
        os.environ["CREDIT_LEDGER_DATA_DIR"] = str(settings.data_dir)
        projector = None
        if settings.run_projections:
            os.environ["CREDIT_LEDGER_RUN_PROJECTIONS"] = "false"
            projector = Projector()
            projector.start()
        try:
            uvicorn.run("api.app:create_app", factory=True, workers=args.workers, host=args.host, port=args.port,
                        log_level=args.log_level, access_log=False)
        finally:
            if projector is not None:
                projector.stop()
    else:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                    loop="auto", http="auto", access_log=False)
    return 0


class Projector:
    """Runs ``credit-ledger project`` as a child process of ``serve`` and starts it again if it exits."""

    def __init__(self) -> None:
        import threading

        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name="projector", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        env = dict(os.environ, CREDIT_LEDGER_RUN_PROJECTIONS="true")
        env.setdefault("CREDIT_LEDGER_POOL_SIZE", "4")  # one projection thread needs no more
        while not self._stop.is_set():
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; from api.cli import die_with_parent, main; "
                 f"die_with_parent({os.getpid()}); sys.exit(main(['project', '--quiet']))"], env=env)
            code = self._proc.wait()
            if not self._stop.is_set():
                print(f"the projection process exited ({code}); starting it again", file=sys.stderr)
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._thread.join(5)


def die_with_parent(parent: int) -> None:
    """In a child of ``serve``: be sent SIGTERM when the serving process ``parent`` dies, however it dies
    (Linux prctl); if it already has, exit now."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        sys.exit(0)


def cmd_migrate(args: argparse.Namespace) -> int:
    from api.migrate import migrate

    settings = _settings(args)
    if not settings.database_url:
        print("no CREDIT_LEDGER_DATABASE_URL set: the SQLite backend creates its tables itself")
        return 0
    done = migrate(settings.migration_database_url or settings.database_url, settings.database_schema)
    if done:
        for m in done:
            print(f"applied {m.version:04d}_{m.name}.sql")
    else:
        print("the database is up to date")
    if args.grant_to:
        from api.migrate import grant

        grant(settings.migration_database_url or settings.database_url, settings.database_schema, args.grant_to)
        print(f"granted {args.grant_to}: select and insert on the ledger's tables, read and write on the views")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from api.runtime import authority_public_key, open_ledger, open_views
    from projections.audit import export_bundle

    settings = _settings(args)
    pinned = authority_public_key(settings)
    if pinned is None:
        raise CLIError(f"{settings.keys_dir} has no authority.pub: run init or point --data at the ledger's data")
    ledger = open_ledger(settings)
    views = open_views(settings, ledger)
    print(f"warning: {args.out} will hold personal data (every statement, with names and ID numbers, and the "
          "access log); it is written with mode 0600: keep it so, and store and send it as such", file=sys.stderr)
    try:
        views.tree.catch_up_all()
        views.checkpointer.make()
        count = export_bundle(ledger, views.store, views.checkpointer, pinned, Path(args.out),
                              progress=lambda n: print(f"exported {n} entries", file=sys.stderr))
    finally:
        views.close()
        ledger.close()
    print(f"exported {count} entries with their checkpoints and key history to {args.out}")
    return 0


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started (VmHWM: unlike ru_maxrss, not inherited
    from the parent process across fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cmd_audit_verify(args: argparse.Namespace) -> int:
    import base64
    import time

    from api.runtime import authority_public_key
    from keys import public_key_from_b64
    from ledger.domain.audit import AuditFailure, Auditor

    settings = _settings(args)
    started = time.monotonic()
    last = [started]

    def progress(n: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 5:
            last[0] = now
            print(f"verified {n} entries ({n / (now - started):.0f}/s)", file=sys.stderr)

    pinned = public_key_from_b64(Path(args.authority_key).read_text().strip()) if args.authority_key else None
    try:
        if args.bundle:
            from projections.audit import read_bundle

            items = read_bundle(Path(args.bundle))
            kind, header = next(items)
            if pinned is None:
                pinned = base64.b64decode(header["authority_public_key"])
                print("warning: trusting the bundle's own authority key; pin it with --authority-key", file=sys.stderr)
            verifier = args.log_verifier_key or header["log_verifier_key"]
            if not args.log_verifier_key:
                print("warning: trusting the bundle's own log key; pin it with --log-verifier-key", file=sys.stderr)
            auditor = Auditor(pinned, verifier, header.get("origin"))
            for kind, item in items:
                if kind == "entry":
                    auditor.add(item)
                    progress(auditor.report.entries)
                elif kind == "checkpoint":
                    auditor.add_checkpoint(item)
                # (a bundle interleaves checkpoints with entries, so it is checked in one process)
        else:
            from api.runtime import open_ledger, open_views
            from projections.audit import live_checkpoints, live_entries

            pinned = pinned or authority_public_key(settings)
            if pinned is None:
                raise CLIError("no authority public key: give --authority-key or --data with keys/authority.pub")
            ledger = open_ledger(settings)
            views = open_views(settings, ledger)
            try:
                auditor = Auditor(pinned, args.log_verifier_key or views.checkpointer.verifier_key, settings.log_origin)
                auditor.expect_checkpoints(live_checkpoints(views.checkpointer))
                if args.jobs > 1:
                    from projections.audit import verify_parallel

                    verify_parallel(auditor, live_entries(ledger, views.store), args.jobs, progress=progress)
                else:
                    for entry in live_entries(ledger, views.store):
                        auditor.add(entry)
                        progress(auditor.report.entries)
            finally:
                views.close()
                ledger.close()
        report = auditor.finish()
    except AuditFailure as exc:
        print(f"credit-ledger: audit FAILED at {exc}", file=sys.stderr)
        return 1
    peak_mb = peak_rss_mb()
    elapsed = time.monotonic() - started
    print(f"audit OK: {report.entries} entries, {report.checkpoints} checkpoints, root "
          f"{base64.b64encode(report.root).decode()} ({elapsed:.1f} s, peak RSS {peak_mb:.0f} MB)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from api.bench import run

    url = None if args.no_postgres else (os.environ.get("CREDIT_LEDGER_BENCH_POSTGRES_URL")
                                          or "postgresql://postgres@127.0.0.1:5432/test")
    figures = run(args.quick, Path(args.json) if args.json else None, url, set(args.only or []))
    missed = [f["name"] for f in figures if f["met"] is False]
    if missed:
        print(f"{len(missed)} target(s) not met", file=sys.stderr)
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    import signal
    import threading

    from api.runtime import open_ledger, open_views

    settings = _settings(args)
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
            if settings.database_url:
                threading.Thread(target=_wake_on_notify, args=(settings, ledger, worker.notify, stop),
                                 name="listen", daemon=True).start()
            stop.wait()
            worker.stop()
        if not args.quiet:
            print(f"archive at position {views.archive.position()}, log tree at {views.tree.size()} leaves",
                  file=sys.stderr)
    finally:
        views.close()
        ledger.close()
    return 0


def _wake_on_notify(settings: Settings, ledger: Any, wake: Any, stop: Any) -> None:
    """Wake the worker on each append's PostgreSQL notification (the poll interval still applies if this
    connection is lost; it is then opened again)."""
    import psycopg
    from psycopg import sql

    while not stop.is_set():
        try:
            assert settings.database_url
            with psycopg.connect(settings.database_url, autocommit=True) as conn:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(ledger.recorder.channel_name)))
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        wake()
        except psycopg.Error:
            stop.wait(1.0)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from api.runtime import open_ledger, open_views
    from projections.worker import rebuild

    settings = _settings(args)
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


def _post(url: str, body: Any, timeout: float) -> tuple[int, Any]:
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


def cmd_access_report(args: argparse.Namespace) -> int:
    from keys import KeyPair
    from ledger.format.statements import format_datetime, make_envelope

    pair = KeyPair.load(Path(args.key))
    filters = {k: v for k, v in (("from", args.start), ("to", args.end)) if v}
    statement = {
        "type": "query.requested", "id": str(uuid.uuid4()), "issuer": args.issuer,
        "issued_at": format_datetime(datetime.now(timezone.utc)), "ledger": args.ledger or _settings(args).log_origin,
        "operator": args.operator, "purpose": "privacy_review", "legal_basis": args.legal_basis, "scope": "review_report",
        **({"filters": filters} if filters else {}),
    }
    status, body = _post(args.url.rstrip("/") + "/v1/queries", make_envelope(statement, pair.key_id, pair.sign),
                         args.timeout)
    if status != 200:
        raise CLIError(f"refused ({status} {body.get('type', '')}): {body.get('detail', body.get('title'))}")
    data = body["data"]
    print(f"review of {data['from']} to {data['to']} (this read is leaf {body['receipt']['leaf_index']} of the ledger)")
    for f in data["findings"]:
        print(f"- {f['rule']}: {f['summary']} (queries {', '.join(f['query_ids'])})")
    if not data["findings"]:
        print("no findings")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``credit-ledger``."""
    parser = argparse.ArgumentParser(prog="credit-ledger", description="Signed, event-sourced credit ledger.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create the authority and log keys and found the ledger")
    p.add_argument("--data", help="data directory (default ./ledger-data or CREDIT_LEDGER_DATA_DIR)")
    p.set_defaults(func=cmd_init)

    keys = sub.add_parser("keys", help="key pairs").add_subparsers(dest="keys_command", required=True)
    p = keys.add_parser("new", help="create an Ed25519 key pair (PKCS#8 PEM, mode 0600)")
    p.add_argument("--out", required=True, help="private key file to create")
    p.set_defaults(func=cmd_keys_new)

    p = sub.add_parser("sign", help="turn a statement JSON file into a signed envelope")
    p.add_argument("statement", help="statement JSON file ('-' for stdin); id, issued_at and ledger are filled in if absent")
    p.add_argument("--key", required=True, help="private key file (PKCS#8 PEM)")
    p.add_argument("--issuer", help="set the statement's issuer (department code)")
    p.add_argument("--ledger", help="the log origin of the ledger the statement is for, if the file has none "
                                    "(default: CREDIT_LEDGER_LOG_ORIGIN)")
    p.add_argument("-o", "--output", help="write the envelope here instead of stdout")
    p.set_defaults(func=cmd_sign)

    p = sub.add_parser("submit", help="POST an envelope (or a JSON list of envelopes) to the ledger")
    p.add_argument("envelope", help="envelope JSON file ('-' for stdin)")
    p.add_argument("--url", default=os.environ.get("CREDIT_LEDGER_URL", "http://127.0.0.1:8000"))
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("serve", help="run the HTTP service (runs init first on an empty data directory)")
    p.add_argument("--data", help="data directory (default ./ledger-data or CREDIT_LEDGER_DATA_DIR)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--log-level", default="info")
    p.add_argument("--workers", type=int, default=1, help="worker processes (each with its own group committer)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("access-report", help="the privacy officer's review report (itself a logged query)")
    p.add_argument("--key", required=True, help="the privacy officer department's private key")
    p.add_argument("--issuer", required=True, help="the privacy officer department's code")
    p.add_argument("--operator", required=True, help="the staff id of the person reading")
    p.add_argument("--legal-basis", default="Shandong Social Credit Regulation art. 22 (query review)")
    p.add_argument("--from", dest="start", help="RFC 3339 UTC start (default: 7 days before --to)")
    p.add_argument("--to", dest="end", help="RFC 3339 UTC end (default: now)")
    p.add_argument("--ledger", help="the ledger's log origin (default: CREDIT_LEDGER_LOG_ORIGIN)")
    p.add_argument("--url", default=os.environ.get("CREDIT_LEDGER_URL", "http://127.0.0.1:8000"))
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=cmd_access_report)

    p = sub.add_parser("project", help="run the projections as a separate worker process")
    p.add_argument("--data", help="data directory (default ./ledger-data or CREDIT_LEDGER_DATA_DIR)")
    p.add_argument("--once", action="store_true", help="catch up once and exit")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_project)

    p = sub.add_parser("rebuild", help="drop a view, rebuild it from the events, compare digests")
    p.add_argument("view", nargs="?", default="all", choices=["all", "archive", "access_log", "log_tree"])
    p.add_argument("--data", help="data directory (default ./ledger-data or CREDIT_LEDGER_DATA_DIR)")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("export", help="write a self-contained audit bundle (JSON lines; .gz to compress)")
    p.add_argument("--data", help="data directory (default ./ledger-data or CREDIT_LEDGER_DATA_DIR)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)

    audit = sub.add_parser("audit", help="verify the whole history").add_subparsers(dest="audit_command", required=True)
    p = audit.add_parser("verify", help="re-verify every signature, the tree and every checkpoint")
    p.add_argument("--data", help="data directory of a live ledger (default ./ledger-data)")
    p.add_argument("--bundle", help="verify an exported bundle instead of the live database")
    p.add_argument("--authority-key", help="file with the authority's base64 public key (authority.pub)")
    p.add_argument("--log-verifier-key", help="the log's verifier key string (GET /v1/log/verifier-key)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes checking signatures of a live ledger (default: one per core; 1: no workers)")
    p.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("bench", help="measure figures against same-run baselines")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds, for CI)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--only", action="append", choices=["http", "rebuild", "audit", "proof", "memory"],
                   help="run only these figures (repeatable)")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("migrate", help="apply pending PostgreSQL migrations")
    p.add_argument("--grant-to", help="the service's role: may insert and select the ledger's tables, nothing more")
    p.set_defaults(func=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script.

    Files the commands create (the SQLite file and its -wal and -shm, export bundles, envelopes) are
    readable by their owner only: the process umask is 0077 while a command runs."""
    from api.datadir import DataDirectoryError
    from keys import KeyError_
    from ledger.errors import LedgerError

    args = build_parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
