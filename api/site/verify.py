"""``/verify``: anyone checks a credit report's authenticity, by its verification code or by its file.

``GET /verify?code=N-XXXXXXXX`` looks the code up by leaf index and checks the first 5 bytes of that leaf's hash
(``ledger.log.report.entry_code``): the answer is only whether a log entry matches and which signed checkpoint
covers it, what ``GET /v1/log/leaf-hashes`` and ``GET /v1/log/checkpoints`` already publish. ``POST /verify``
takes a report (a raw JSON body, or the form's ``report`` field) of at most 2 MiB and checks it with this
ledger's own report key, log verifier key and origin (``ledger.log.report.verify_report``) and that its
checkpoint is one this log stored; the page shows valid or invalid with the reason, the code, position and date,
and nothing of the subject: the uploader already has the report, and the page renders no uploaded text.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.runtime import Views
from api.site.routes import Site, reader_of
from ledger.log.report import ReportError, entry_code, parse_entry_code, verify_report

MAX_UPLOAD = 2 * 1024 * 1024
NO_STORE = "no-store"
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "信用报告核验", "intro": "输入报告上的验证码，或粘贴报告的 JSON 文件内容，核验报告是否由本平台出具且未被篡改。"
        "本页不显示报告主体的任何信息。", "code": "验证码", "check": "核验", "paste": "报告 JSON",
        "match": "验证码与日志第 {leaf} 条叶子相符", "covered": "该条目已由规模为 {size} 的签名检查点（{time}）覆盖。",
        "uncovered": "该条目尚未被签名检查点覆盖，请稍后再查。", "no_match": "没有与该验证码相符的日志条目。",
        "bad_code": "验证码格式应为“叶序号-8位字母数字”，例如 1234-ABCDEFGH。", "valid": "报告有效",
        "invalid": "报告无效", "reason": "原因", "made_at": "出具时间", "position": "账本位置", "leaf": "日志叶序号",
        "checkpoint": "检查点规模", "too_big": "上传内容超过 2 MiB。", "not_json": "上传内容不是 JSON。",
        "bad_type": "请以 application/json 或表单提交报告。", "empty": "没有上传报告。",
        "unknown_checkpoint": "报告的检查点不是本日志签发并保存的检查点。",
    },
    "en": {
        "title": "Check a credit report", "intro": "Enter the code printed on a report, or paste the report's JSON "
        "file, to check that this ledger made it and that it was not changed. This page shows nothing about the "
        "report's subject.", "code": "Verification code", "check": "Check", "paste": "Report JSON",
        "match": "The code matches the log entry at leaf {leaf}", "covered": "It is covered by the signed checkpoint "
        "of size {size} ({time}).", "uncovered": "No signed checkpoint covers it yet; check again shortly.",
        "no_match": "No log entry matches this code.", "bad_code": "A code is the leaf index, a hyphen and 8 "
        "letters or digits, e.g. 1234-ABCDEFGH.", "valid": "The report is valid", "invalid": "The report is NOT valid",
        "reason": "Reason", "made_at": "Made at", "position": "Position", "leaf": "Leaf index",
        "checkpoint": "Checkpoint size", "too_big": "The upload is larger than 2 MiB.", "not_json": "The upload is "
        "not JSON.", "bad_type": "Send the report as application/json or through the form.", "empty": "No report "
        "was sent.", "unknown_checkpoint": "the report's checkpoint is not one this log signed and stored",
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


async def read_limited(request: Request) -> bytes | None:
    """The request body, or None once it passes MAX_UPLOAD."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD:
            return None
    return bytes(body)


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
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("application/json", "application/x-www-form-urlencoded"):
            return page(request, 415, error="bad_type")
        body = await read_limited(request)
        if body is None:
            return page(request, 413, error="too_big")
        if kind == "application/x-www-form-urlencoded":
            try:
                body = parse_qs(body.decode("utf-8"), max_num_fields=4).get("report", [""])[0].encode("utf-8")
            except (UnicodeDecodeError, ValueError):
                return page(request, 400, error="not_json")
        if not body.strip():
            return page(request, 400, error="empty")
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
