"""Where the auditor's entries come from: a live database, or an exported bundle.

A bundle is JSON lines: a header, then every entry in leaf order, each checkpoint placed right
after the entry that completes its size, and at the end the key registry history. It is
self-contained: an auditor needs only it, the authority public key and the log verifier key.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from ledger.application import Ledger
from ledger.audit import AuditEntry, AuditFailure, Auditor, EntryChecker, changes_registry
from projections.checkpoints import Checkpointer
from projections.store import Store

FORMAT = "credit-ledger-export/1"
PAGE = 2000


def live_entries(ledger: Ledger, store: Store) -> Iterator[AuditEntry]:
    """Entries from the database: each event joined with its ``ledger_entries`` row, in order."""
    leaf = 0
    after_position: int | None = None
    while True:
        rows = store.query(
            "SELECT leaf_index, notification_id, leaf_hash FROM ledger_entries WHERE leaf_index >= %s "
            "ORDER BY leaf_index LIMIT %s", (leaf, PAGE))
        notifications = ledger.recorder.select_notifications(
            start=after_position, limit=PAGE, inclusive_of_start=False) if after_position is not None else \
            ledger.recorder.select_notifications(start=None, limit=PAGE)
        if not rows and not notifications:
            return
        for i in range(max(len(rows), len(notifications))):
            row = rows[i] if i < len(rows) else None
            n = notifications[i] if i < len(notifications) else None
            if row is None:
                assert n is not None
                raise AuditFailure(f"position {n.id}", "an event has no entry row (its leaf was removed)")
            index, position, stored = int(row[0]), int(row[1]), bytes(row[2])
            if n is None or n.id != position:
                got = "no further event" if n is None else f"event at position {n.id}"
                raise AuditFailure(f"leaf {index} (position {position})",
                                   f"its event is missing or out of place ({got} instead)")
            try:
                ev = ledger.mapper.to_domain_event(n)
                entry = AuditEntry(index, position, ev.statement, ev.key_id, ev.signature, ev.recorded_at, stored,
                                   getattr(ev, "outcome", None))
            except Exception as exc:  # undecodable stored bytes
                raise AuditFailure(f"leaf {index} (position {position})",
                                   f"the stored event cannot be decoded: {type(exc).__name__}") from None
            yield entry
            leaf = index + 1
            after_position = position
        if len(rows) < PAGE and len(notifications) < PAGE:
            return


def live_checkpoints(checkpointer: Checkpointer) -> Iterator[str]:
    """Every stored checkpoint note, smallest size first, a page at a time."""
    after = -1
    while page := checkpointer.page(after, 1000):
        for cp in page:
            yield cp.note
        after = page[-1].size


def _open(path: Path, mode: str) -> IO[bytes]:
    if str(path).endswith(".gz"):
        return gzip.open(path, mode + "b")  # type: ignore[return-value]
    return open(path, mode + "b")


def export_bundle(ledger: Ledger, store: Store, checkpointer: Checkpointer, authority_public_key: bytes,
                  out: Path, progress: Any = None) -> int:
    """Write a bundle; return the number of entries written."""
    from keys import KeyRegistry  # local: only the export summarises the registry
    from ledger.audit import Auditor

    tracker = Auditor(authority_public_key, checkpointer.verifier_key, checkpointer.origin)
    checkpoints = live_checkpoints(checkpointer)
    pending = next(checkpoints, None)
    count = 0
    with _open(out, "w") as fh:
        fh.write(orjson.dumps({
            "format": FORMAT, "origin": checkpointer.origin, "log_verifier_key": checkpointer.verifier_key,
            "authority_public_key": base64.b64encode(authority_public_key).decode("ascii"),
        }) + b"\n")
        for entry in live_entries(ledger, store):
            fh.write(orjson.dumps({
                "leaf_index": entry.leaf_index, "position": entry.position, "key_id": entry.key_id,
                "signature": entry.signature, "recorded_at": entry.recorded_at, "statement": entry.statement,
                "leaf_hash": base64.b64encode(entry.stored_leaf_hash or b"").decode("ascii"),
                **({"outcome": entry.outcome} if entry.outcome is not None else {}),
            }) + b"\n")
            tracker.add(AuditEntry(entry.leaf_index, entry.position, entry.statement, entry.key_id,
                                   entry.signature, entry.recorded_at, None, entry.outcome))
            count += 1
            while pending is not None and _size_of(pending) <= count:
                fh.write(orjson.dumps({"checkpoint": pending}) + b"\n")
                pending = next(checkpoints, None)
            if progress is not None and count % 50_000 == 0:
                progress(count)
        registry: KeyRegistry = tracker.registry
        for record in registry.keys.values():
            fh.write(orjson.dumps({"key": {
                "key_id": record.key_id, "department": record.department,
                "public_key": base64.b64encode(record.public_key).decode("ascii"),
                "valid_from": record.valid_from.isoformat(),
                "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
            }}) + b"\n")
    return count


def _size_of(note: str) -> int:
    return int(note.split("\n", 2)[1])


def read_bundle(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield ``("header", dict)``, then ``("entry", AuditEntry)`` and ``("checkpoint", note)`` in file order."""
    with _open(path, "r") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise AuditFailure(f"bundle line {lineno}", "not JSON") from None
            if lineno == 1:
                if not isinstance(obj, dict) or obj.get("format") != FORMAT:
                    raise AuditFailure("bundle", f"not a {FORMAT} bundle")
                yield "header", obj
            elif "checkpoint" in obj:
                yield "checkpoint", obj["checkpoint"]
            elif "key" in obj:
                yield "key", obj["key"]
            else:
                try:
                    yield "entry", AuditEntry(
                        int(obj["leaf_index"]), int(obj["position"]), obj["statement"], obj["key_id"],
                        obj["signature"], obj["recorded_at"],
                        base64.b64decode(obj["leaf_hash"]) if obj.get("leaf_hash") else None, obj.get("outcome"))
                except (KeyError, TypeError, ValueError):
                    raise AuditFailure(f"bundle line {lineno}", "malformed entry") from None


def _check_slice(job: tuple[EntryChecker, list[AuditEntry]]) -> tuple[list[bytes], tuple[int, str, str] | None]:
    """In a worker process: check entries with a registry snapshot; stop at the first failure."""
    checker, entries = job
    hashes: list[bytes] = []
    for entry in entries:
        try:
            hashes.append(checker.check(entry)[0])
        except AuditFailure as exc:
            return hashes, (len(hashes), exc.where, exc.what)
    return hashes, None


def verify_parallel(auditor: Auditor, entries: Iterable[AuditEntry], jobs: int, chunk: int = 4000,
                    progress: Any = None) -> None:
    """Feed ``auditor`` every entry, checking runs of ordinary entries in ``jobs`` processes.

    Authority statements (they change the key registry) and the founding entries go through the auditor
    one by one, in order; between them, each run is split across the workers with a snapshot of the
    registry, and their results are taken back in leaf order, so the first bad entry is still the one named.
    """
    from concurrent.futures import ProcessPoolExecutor

    def run(pool: ProcessPoolExecutor, buf: list[AuditEntry]) -> None:
        i = 0
        while i < len(buf):
            if auditor.founding or changes_registry(buf[i]):
                auditor.add(buf[i])
                i += 1
                continue
            j = i
            while j < len(buf) and not changes_registry(buf[j]):
                j += 1
            part = buf[i:j]
            size = -(-len(part) // jobs)
            slices = [part[k:k + size] for k in range(0, len(part), size)]
            checker = auditor.checker()
            for piece, (hashes, failure) in zip(slices, pool.map(_check_slice, [(checker, s) for s in slices])):
                for entry, computed in zip(piece, hashes):
                    auditor.add_checked(entry, computed)
                if failure is not None:  # the entries before it are in: name the bad one
                    _, where, what = failure
                    raise AuditFailure(where, what)
            i = j
            if progress is not None:
                progress(auditor.report.entries)

    with ProcessPoolExecutor(jobs) as pool:
        buf: list[AuditEntry] = []
        for entry in entries:
            buf.append(entry)
            if len(buf) >= chunk:
                run(pool, buf)
                buf = []
        run(pool, buf)
