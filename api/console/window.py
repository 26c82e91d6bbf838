"""The service window's pages: a resident's archive, readable and printable, with the resident's own access log;
forms that build, sign and submit for the resident an objection, a statement (an explanation), a credit commitment,
a repair application or a deferral application (the last three carry the identity check the window made).

The resident is asked for in a POST form (their ID stays out of addresses and the browser's history). Every
read is a ``subject_self_query`` query carrying the identity check the window made (method and reference), so
the check is recorded in the ledger with the read. Before an objection or a statement is signed, the archive
is read again with the same check (recorded too) to confirm the record is the resident's.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.console.app import Console
from api.console.client import Read, Reads
from api.console.security import form_of
from ledger.format.statements import IDENTITY_METHODS

PURPOSE = "subject_self_query"
METHODS = {"id_card_reader": "resident ID card read by the card reader", "id_card_inspection": "resident ID card inspected",
           "face_verification": "face verification", "electronic_id": "electronic ID",
           "authorised_agent": "authorised agent, authorisation checked"}
assert set(METHODS) == set(IDENTITY_METHODS)
REPAIR_METHODS = {"fulfilment": "fulfilled the obligation afterwards (主动履约)", "volunteering": "volunteering",
                  "donation": "charitable donation"}
# What each form signs: the statement type, the form's text field and the statement field it fills.
FORMS = {"objection": ("objection.filed", "grounds", "grounds"), "statement": ("statement.added", "text", "text"),
         "commitment": ("commitment.signed", "text", "text"), "repair": ("repair.applied", "reason", "reason"),
         "deferral": ("deferral.applied", "reason", "reason")}
WITH_CHECK = ("commitment.signed", "repair.applied", "deferral.applied")  # types carrying the identity check


LABELS = {"objection.filed": "Objection filed", "statement.added": "Statement added",
          "commitment.signed": "Credit commitment signed", "repair.applied": "Repair application filed",
          "deferral.applied": "Deferral application filed"}


def _identity(form: dict[str, str]) -> tuple[str, dict[str, str]] | str:
    """The resident and the identity check of a form, or what is missing."""
    subject = form.get("subject", "").strip().upper()
    method, reference = form.get("method", "").strip(), form.get("reference", "").strip()
    if not subject:
        return "Give the resident's ID number."
    if method not in METHODS or not reference:
        return ("Record how the resident's identity was checked: the method and its reference "
                "(e.g. the card read's number).")
    return subject, {"method": method, "reference": reference[:200]}


def resident_reads(reads: Reads, subject: str, check: dict[str, str]) -> tuple[Read, Read]:
    archive = reads.query("archive", PURPOSE, subject=subject, identity_check=check)
    log = reads.query("subject_access_log", PURPOSE, subject=subject, identity_check=check, filters={"limit": 200})
    return archive, log


def readable(archive: dict[str, Any]) -> dict[str, Any]:
    """The archive with what a page needs at hand: record titles, the points' records, the resident's name."""
    records = archive.get("records", [])
    titles = {r["record_id"]: r["catalogue"].get("title", r["item"]) for r in records}
    points = archive.get("points") or {}
    contributions = [{**c, "title": titles.get(c["record_id"], c["item"])} for c in points.get("from", [])]
    name = next((r["fields"].get("subject_name") for r in records if r["fields"].get("subject_name")), None)
    return {**archive, "contributions": contributions, "name": name, "titles": titles}


def routes(console: Console) -> list[Route]:
    def refuse(request: Request, message: str, status: int = 400) -> Response:
        return console.page(request, "window_search.html", status=status, methods=METHODS, problem=message, form={})

    def search(request: Request) -> Response:
        return console.page(request, "window_search.html", methods=METHODS, problem=None, form={})

    async def resident(request: Request) -> Response:
        form = await form_of(request, console.secret)
        if form is None:
            return refuse(request, "The form's CSRF token is missing: open the form from the console again.", 403)
        found = _identity(form)
        if isinstance(found, str):
            return console.page(request, "window_search.html", status=400, methods=METHODS, problem=found, form=form)
        subject, check = found
        return await run_in_threadpool(_resident_page, request, subject, check)

    def _resident_page(request: Request, subject: str, check: dict[str, str], notice: dict[str, Any] | None = None,
                       reads: Reads | None = None) -> Response:
        reads = reads or console.reads()
        archive, log = resident_reads(reads, subject, check)
        return console.page(request, "window_resident.html", reads, subject=subject, check=check, methods=METHODS,
                            repair_methods=REPAIR_METHODS, labels=LABELS,
                            archive=readable(archive.data) if archive.ok else None, archive_read=archive,
                            log=log, notice=notice)

    async def submit(request: Request) -> Response:
        form = await form_of(request, console.secret)
        if form is None:
            return refuse(request, "The form's CSRF token is missing: open the form from the console again.", 403)
        return await run_in_threadpool(_submit, request, form)

    def _submit(request: Request, form: dict[str, str]) -> Response:
        found = _identity(form)
        if isinstance(found, str):
            return refuse(request, found)
        subject, check = found
        kind, text_field, statement_field = FORMS[request.url.path.rsplit("/", 1)[-1]]
        record_id = form.get("record_id", "")
        text = form.get(text_field, "").strip()
        reads = console.reads()
        confirm = reads.query("archive", PURPOSE, subject=subject, identity_check=check)
        notice: dict[str, Any] = {"kind": kind, "confirm": confirm}
        if not confirm.ok:
            notice["problem"] = f"the identity-checked read was refused: {confirm.detail()}"
        elif record_id not in {r["record_id"] for r in confirm.data["records"]}:
            notice["problem"] = "that record is not among the resident's shared records: nothing was signed"
        elif not text:
            notice["problem"] = f"write the resident's {text_field}: nothing was signed"
        else:
            fields: dict[str, Any] = {"record_id": record_id, "subject": subject, statement_field: text}
            if kind == "objection.filed" and form.get("needs_verification"):
                fields["needs_verification"] = True
            if kind in WITH_CHECK:
                fields["identity_check"] = check
            if kind == "repair.applied":
                fields["method"] = form.get("method_of_repair", "")
                if form.get("commitment_id"):
                    fields["commitment_id"] = form["commitment_id"]
            if kind == "deferral.applied":
                fields["until"] = form.get("until", "")
            status, body, st = console.client.submit(kind, fields)
            notice.update(status=status, statement=st, answer=body)
            if status not in (200, 201):
                notice["problem"] = (f"the ledger refused it ({status} {body.get('title', '')}): "
                                     f"{body.get('detail', '')}")
        return _resident_page(request, subject, check, notice, reads)

    return [Route("/window", search), Route("/window/resident", resident, methods=["POST"]),
            *(Route(f"/window/{name}", submit, methods=["POST"]) for name in FORMS)]
