"""``audit verify`` from the console: the whole history downloaded through the API and replayed by the same
auditor as the command (``ledger.domain.audit.Auditor``), with its progress shown and the first failure named.

The entries come in pages of 1,000 through ``ledger_entries`` queries (each recorded: the first one fixes how
far the audit goes, the entries before it), the checkpoints from the log's public endpoints, each checked as
the replay reaches its size. The authority's public key and the log's verifier key are the ones pinned when the
console started (``--authority-key``, ``--log-verifier-key``); without them the ledger's own are used, and the
page says so.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from api.console.app import Console
from api.console.client import Read, Reads
from api.console.security import form_of
from keys import public_key_from_b64
from ledger.domain.audit import AuditEntry, AuditFailure, Auditor
from ledger.log.note import NoteError

PAGE = 1000


class VerifyJob:
    """One run of the audit in a background thread; ``state()`` is what the page shows."""

    def __init__(self, console: Console) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.console = console
        self.reads = Reads(console.client)
        self.status = "running"
        self.done = 0
        self.total: int | None = None
        self.checkpoints = 0
        self.failure: str | None = None
        self.root: str | None = None
        self.warnings: list[str] = []
        self.started = time.time()
        self.finished: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"audit-{self.id}", daemon=True)

    def start(self) -> VerifyJob:
        self._thread.start()
        return self

    def state(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "done": self.done, "total": self.total,
                "checkpoints": self.checkpoints, "failure": self.failure, "root": self.root,
                "warnings": self.warnings, "queries": [_receipt(r) for r in self.reads.items],
                "seconds": round((self.finished or time.time()) - self.started, 1)}

    def _page(self, start: int) -> list[dict[str, Any]]:
        end = start + PAGE if self.total is None else min(start + PAGE, self.total)
        read = self.reads.query("ledger_entries", "audit", filters={"start": start, "end": end})
        if not read.ok:
            raise RuntimeError(f"the ledger refused the entries {start}..{end - 1}: {read.detail()}")
        if self.total is None:
            self.total = int(read.leaf_index or 0)  # the entries before the first page's own
        return list(read.data["entries"])

    def _entries(self, first: list[dict[str, Any]]) -> Iterator[AuditEntry]:
        page, start = first, 0
        while True:
            for e in page:
                if self.total is not None and e["leaf_index"] >= self.total:
                    return
                statement = e["statement"] if isinstance(e["statement"], str) else \
                    orjson.dumps(e["statement"]).decode()
                yield AuditEntry(e["leaf_index"], e["position"], statement, e["key_id"], e["signature"],
                                 e["recorded_at"], None, e.get("outcome"))
            start += PAGE
            if self.total is None or start >= self.total:
                return
            page = self._page(start)

    def _checkpoints(self) -> Iterator[str]:
        client, after = self.console.client, -1
        while True:
            status, body = client.get("/v1/log/checkpoints", after=after, limit=1000)
            if status != 200 or not isinstance(body, dict):
                return
            for c in body["checkpoints"]:
                if self.total is not None and c["size"] > self.total:
                    return
                status, note = client.get("/v1/log/checkpoints", size=c["size"])
                if status == 200 and isinstance(note, str):
                    yield note
            if body.get("next_after") is None:
                return
            after = body["next_after"]

    def _run(self) -> None:
        try:
            first = self._page(0)
            pinned = self.console.authority_key
            if pinned is None:
                pinned = _founding_key(first)
                self.warnings.append("the authority key was taken from the ledger's own first entries: "
                                     "pin it with --authority-key")
            if not self.console.log_verifier_key:
                self.warnings.append("the log's verifier key was taken from the ledger: pin it with "
                                     "--log-verifier-key")
            auditor = Auditor(pinned, self.console.verifier_key(), self.console.client.origin)
            auditor.expect_checkpoints(self._checkpoints())
            for entry in self._entries(first):
                auditor.add(entry)
                self.done = auditor.report.entries
                self.checkpoints = auditor.report.checkpoints
            report = auditor.finish()
            self.checkpoints = report.checkpoints
            self.root = base64.b64encode(report.root).decode()
            self.status = "passed"
        except AuditFailure as exc:
            self.failure = str(exc)
            self.status = "failed"
        except (RuntimeError, ValueError, KeyError, NoteError, OSError) as exc:
            self.failure = f"the audit could not run: {exc}"
            self.status = "error"
        finally:
            self.finished = time.time()


def _founding_key(entries: list[dict[str, Any]]) -> bytes:
    """The authority's public key from its own ``key.added`` among the ledger's first entries."""
    for e in entries[:5]:
        st = orjson.loads(e["statement"]) if isinstance(e["statement"], str) else e["statement"]
        if st.get("type") == "key.added" and st.get("department") == st.get("issuer"):
            return public_key_from_b64(st["public_key"])
    raise ValueError("the ledger's first entries register no authority key")


def _receipt(read: Read) -> dict[str, Any]:
    return {"statement_id": read.statement_id, "leaf_index": read.leaf_index, "filters": read.filters,
            "outcome": read.outcome}


def routes(console: Console) -> list[Route]:
    async def start(request: Request) -> Response:
        if await form_of(request, console.secret) is None:
            return console.page(request, "error.html", status=403, message="The form's CSRF token is missing.")
        job = VerifyJob(console).start()
        console.jobs[job.id] = job
        return RedirectResponse(f"/audit/verify/{job.id}", status_code=303)

    def overview(request: Request) -> Response:
        jobs = sorted(console.jobs.values(), key=lambda j: -j.started)
        return console.page(request, "audit_verify.html", job=None, jobs=[j.state() for j in jobs])

    def job_page(request: Request) -> Response:
        job = console.jobs.get(request.path_params["job"])
        if job is None:
            return console.page(request, "error.html", status=404, message="No such audit run.")
        return console.page(request, "audit_verify.html", job=job.state(), jobs=[])

    def progress(request: Request) -> Response:
        job = console.jobs.get(request.path_params["job"])
        if job is None:
            return JSONResponse({"detail": "no such audit run"}, status_code=404)
        return JSONResponse(job.state())

    return [Route("/audit/verify", overview), Route("/audit/verify", start, methods=["POST"]),
            Route("/audit/verify/{job}", job_page), Route("/audit/verify/{job}/progress", progress)]
