"""Audit from the command line: ``audit verify``, ``export`` of a bundle, the privacy officer's
``access-report``."""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

from api.cli.common import CLIError, post, settings_from


def cmd_export(args: argparse.Namespace) -> int:
    from api.runtime import authority_public_key, open_ledger, open_views
    from projections.audit import export_bundle

    settings = settings_from(args)
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

    settings = settings_from(args)
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


def cmd_access_report(args: argparse.Namespace) -> int:
    from api.cli.query import answer_of, signed_query
    from ledger.format.statements import format_datetime

    filters = {k: v for k, v in (("from", args.start), ("to", args.end)) if v}
    statement = {
        "type": "query.requested", "id": str(uuid.uuid4()), "issuer": args.issuer,
        "issued_at": format_datetime(datetime.now(timezone.utc)), "ledger": args.ledger or settings_from(args).log_origin,
        "operator": args.operator, "purpose": "privacy_review", "legal_basis": args.legal_basis, "scope": "review_report",
        **({"filters": filters} if filters else {}),
    }
    body = answer_of(*post(args.url.rstrip("/") + "/v1/queries", signed_query(statement, args.key), args.timeout))
    data = body["data"]
    print(f"review of {data['from']} to {data['to']} (this read is leaf {body['receipt']['leaf_index']} of the ledger)")
    for f in data["findings"]:
        print(f"- {f['rule']}: {f['summary']} (queries {', '.join(f['query_ids'])})")
    if not data["findings"]:
        print("no findings")
    return 0
