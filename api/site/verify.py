"""``/verify``: anyone checks a credit report's authenticity, by its verification code or by its file.

``GET /verify?code=N-XXXXXXXX`` looks the code up by leaf index and checks the first 5 bytes of that leaf's hash
(``ledger.log.report.entry_code``): the answer is only whether a log entry matches and which signed checkpoint
covers it, what ``GET /v1/log/leaf-hashes`` and ``GET /v1/log/checkpoints`` already publish. ``POST /verify``
takes a report of at most 2 MiB: a raw JSON body, the paste form's ``report`` field, or the file chosen in the
upload form (``multipart/form-data``, its ``file`` part, streamed through python-multipart and kept only while
within the limit; a declared ``Content-Length`` over it is refused before anything is read). It checks the
report with this ledger's own report key, log verifier key and origin (``ledger.log.report.verify_report``) and
that its checkpoint is one this log stored; the page shows valid or invalid with the reason, the code, position
and date, and nothing of the subject: the uploader already has the report, and the page renders no uploaded text.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from api.runtime import Views
from api.site.routes import Site, reader_of
from ledger.log.report import ReportError, entry_code, parse_entry_code, verify_report

MAX_UPLOAD = 2 * 1024 * 1024
FORM_SLACK = 64 * 1024
"""What a multipart body may hold beyond the report: boundaries, part headers, the form's other fields."""
MAX_PARTS = 4
UPLOAD_PARTS = ("file", "report")
"""The multipart parts a report is read from, in this order: the chosen file, else a pasted text."""
BOM = b"\xef\xbb\xbf"
# A malformed form is answered with a page; the parser's own warning lines (byte values and offsets of the upload)
# would only repeat it on the server's stderr, beside the access log.
logging.getLogger("python_multipart").setLevel(logging.ERROR)
NO_STORE = "no-store"
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "信用报告核验", "intro": "输入报告上的验证码，或上传报告的 JSON 文件（也可粘贴其内容），核验报告是否由本平台出具且"
        "未被篡改。本页不显示报告主体的任何信息。", "code": "验证码", "check": "核验", "paste": "或粘贴报告 JSON",
        "upload": "上传报告文件", "upload_hint": "报告的 JSON 文件，不超过 2 MiB；文件只用于核验，不会保存。",
        "match": "验证码与日志第 {leaf} 条叶子相符", "covered": "该条目已由规模为 {size} 的签名检查点（{time}）覆盖。",
        "uncovered": "该条目尚未被签名检查点覆盖，请稍后再查。", "no_match": "没有与该验证码相符的日志条目。",
        "bad_code": "验证码格式应为“叶序号-8位字母数字”，例如 1234-ABCDEFGH。", "valid": "报告有效",
        "invalid": "报告无效", "reason": "原因", "made_at": "出具时间", "position": "账本位置", "leaf": "日志叶序号",
        "checkpoint": "检查点规模", "too_big": "上传内容超过 2 MiB。", "not_json": "上传内容不是 JSON。",
        "bad_type": "请以 application/json 或本页的表单提交报告。", "empty": "没有上传报告。",
        "bad_form": "无法读取上传的表单，请重新选择文件后提交。",
        "unknown_checkpoint": "报告的检查点不是本日志签发并保存的检查点。",
    },
    "en": {
        "title": "Check a credit report", "intro": "Enter the code printed on a report, or upload the report's JSON "
        "file (or paste it), to check that this ledger made it and that it was not changed. This page shows "
        "nothing about the report's subject.", "code": "Verification code", "check": "Check",
        "paste": "Or paste the report JSON", "upload": "Upload the report file", "upload_hint": "The report's JSON "
        "file, at most 2 MiB; it is only checked, never kept.",
        "match": "The code matches the log entry at leaf {leaf}", "covered": "It is covered by the signed checkpoint "
        "of size {size} ({time}).", "uncovered": "No signed checkpoint covers it yet; check again shortly.",
        "no_match": "No log entry matches this code.", "bad_code": "A code is the leaf index, a hyphen and 8 "
        "letters or digits, e.g. 1234-ABCDEFGH.", "valid": "The report is valid", "invalid": "The report is NOT valid",
        "reason": "Reason", "made_at": "Made at", "position": "Position", "leaf": "Leaf index",
        "checkpoint": "Checkpoint size", "too_big": "The upload is larger than 2 MiB.", "not_json": "The upload is "
        "not JSON.", "bad_type": "Send the report as application/json or through one of this page's forms.",
        "empty": "No report was sent.", "bad_form": "The uploaded form could not be read; choose the file and send "
        "it again.", "unknown_checkpoint": "the report's checkpoint is not one this log signed and stored",
    },
}


def texts_of(lang: str) -> dict[str, str]:
    return TEXTS["en" if lang == "en" else "zh-CN"]


def redacted(message: str) -> str:
    """A check's message without any text taken from the upload (quoted values, IDs), at most 240 characters."""
    return _UUID.sub("…", _QUOTED.sub("…", message))[:240]


def code_result(views: Views, code: str) -> dict[str, Any] | None:
    """What a code says: the matching leaf and the smallest stored checkpoint covering it, or None."""
    parsed = parse_entry_code(code)
    assert parsed is not None
    index, prefix = parsed
    hashes = views.tree.leaf_hashes(index, index + 1)
    if not hashes or entry_code(index, hashes[0]) != f"{index}-{prefix}":
        return None
    covering = views.checkpointer.page(after=index, limit=1)
    cp = covering[0] if covering else None
    return {"leaf": index, "size": cp.size if cp else None, "time": cp.created_at if cp else None}


def check_upload(views: Views, document: Any) -> dict[str, Any]:
    """Check an uploaded report with this ledger's keys; only the verdict, code, position and date come back."""
    from api.cli.report import report_of

    reports = views.answers.reports
    report = report_of(document)
    try:
        if reports is None:  # pragma: no cover - open_views always sets it
            raise ReportError("this ledger makes no reports")
        result = verify_report(report, reports.verifier_key, views.checkpointer.verifier_key)
        stored = views.checkpointer.at(result.tree_size)
        if stored is None or stored.note != report.get("checkpoint"):
            raise ReportError("unknown_checkpoint")
        index = int(report["query"]["leaf_index"])
        (leaf,) = views.tree.leaf_hashes(index, index + 1)
    except ReportError as exc:
        return {"valid": False, "reason": str(exc)}
    return {"valid": True, "code": entry_code(index, leaf), "leaf": index, "position": report.get("position"),
            "made_at": str(report.get("made_at", ""))[:32], "size": result.tree_size}


class Refused(Exception):
    """An upload the page refuses: its status and the key of the text saying why."""

    def __init__(self, status: int, key: str) -> None:
        super().__init__(key)
        self.status = status
        self.key = key


def declared_too_big(request: Request, limit: int) -> bool:
    """Whether the request's ``Content-Length`` already says the body is larger than ``limit``."""
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


async def read_limited(request: Request, limit: int = MAX_UPLOAD) -> bytes | None:
    """The request body, or None once it passes ``limit``."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class FormReader:
    """The report out of a ``multipart/form-data`` body, fed chunk by chunk: only the parts named in
    ``UPLOAD_PARTS`` are kept, each refused (``too_big``) as soon as it passes ``MAX_UPLOAD``; other parts are
    skipped unread, and a body of more than ``MAX_PARTS`` parts is refused."""

    def __init__(self, boundary: bytes) -> None:
        self.kept: dict[str, bytearray] = {}
        self.parts = 0
        self.ended = False
        self._header = [b"", b""]
        self._disposition = b""
        self._current: bytearray | None = None
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_field": self._field, "on_header_value": self._value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done,
            "on_part_data": self._data, "on_end": self._end,
        })

    def _begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise Refused(400, "bad_form")
        self._disposition, self._current = b"", None

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header[0] += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header[1] += data[start:end]

    def _header_end(self) -> None:
        if self._header[0].lower() == b"content-disposition":
            self._disposition = self._header[1]
        self._header = [b"", b""]

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("latin-1")
        if name in UPLOAD_PARTS and name not in self.kept:
            self._current = self.kept[name] = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._current is not None:
            if len(self._current) + (end - start) > MAX_UPLOAD:
                raise Refused(413, "too_big")
            self._current += data[start:end]

    def _end(self) -> None:
        self.ended = True

    def report(self) -> bytes:
        """The chosen file's bytes if a file was chosen, else the pasted text's."""
        if not self.ended:
            raise Refused(400, "bad_form")
        for name in UPLOAD_PARTS:
            if self.kept.get(name, b"").strip():
                return bytes(self.kept[name])
        raise Refused(400, "empty")


async def read_form(request: Request, content_type: str) -> bytes:
    """The report sent through the upload form, read while the body streams in (at most ``MAX_UPLOAD`` of it
    kept, the whole body at most ``MAX_UPLOAD + FORM_SLACK``); raises ``Refused``."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 70:  # RFC 2046: 1 to 70 characters
        raise Refused(400, "bad_form")
    reader = FormReader(boundary)
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_UPLOAD + FORM_SLACK:
                raise Refused(413, "too_big")
            reader.parser.write(chunk)
        reader.parser.finalize()
    except MultipartParseError:
        raise Refused(400, "bad_form") from None
    return reader.report()


async def read_report(request: Request) -> bytes:
    """The report's bytes, however the page was sent it; raises ``Refused``."""
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind not in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data"):
        raise Refused(415, "bad_type")
    if declared_too_big(request, MAX_UPLOAD + (FORM_SLACK if kind == "multipart/form-data" else 0)):
        raise Refused(413, "too_big")
    if kind == "multipart/form-data":
        body = await read_form(request, content_type)
    else:
        read = await read_limited(request)
        if read is None:
            raise Refused(413, "too_big")
        body = read
    if kind == "application/x-www-form-urlencoded":
        try:
            body = parse_qs(body.decode("utf-8"), max_num_fields=4).get("report", [""])[0].encode("utf-8")
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "not_json") from None
    if not body.strip():
        raise Refused(400, "empty")
    return body.removeprefix(BOM)


def build(site: Site) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def page(request: Request, status: int = 200, cache: str = NO_STORE, **values: Any) -> Response:
        reader = reader_of(request)
        return site.page(request, reader, "verify.html", status, cache=cache, v=texts_of(reader.lang), **values)

    @router.get("/verify")
    async def verify_code(request: Request) -> Response:
        code = request.query_params.get("code", "").strip()
        if not code:
            return page(request, cache="public, max-age=300")
        if len(code) > 40 or parse_entry_code(code) is None:
            return page(request, 400, code=code[:40], error="bad_code")
        found = await asyncio.to_thread(code_result, request.app.state.views, code)
        return page(request, code=code.upper(), found=found, looked_up=True)

    @router.post("/verify")
    async def verify_upload(request: Request) -> Response:
        try:
            body = await read_report(request)
        except Refused as refused:
            return page(request, refused.status, error=refused.key)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return page(request, 400, error="not_json")
        checked = await asyncio.to_thread(check_upload, request.app.state.views, document)
        if not checked["valid"]:
            reason = checked["reason"]
            checked["reason"] = texts_of(reader_of(request).lang)[reason] if reason in TEXTS["en"] else redacted(reason)
        return page(request, 200 if checked["valid"] else 422, checked=checked)

    return router
