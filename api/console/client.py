"""The console's only way into the ledger: its HTTP API, with statements signed here by the holder's key.

Every read of personal data is a ``query.requested`` statement built and signed in this process and posted
to ``POST /v1/queries``; the ledger records it before it answers. Each answer is kept with its query
(``Read``) so that a page can say which query, with which receipt and leaf index, produced what it shows.
The log's public endpoints (checkpoints, proofs, the verifier key) and ``/healthz`` hold no personal data and
are read without a query. The private key never leaves this process: only envelopes do.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from keys import KeyPair
from ledger.format.statements import format_datetime, make_envelope

# The legal basis each purpose's queries declare (shown with every query on the page that made it).
LEGAL_BASIS = {
    "privacy_review": "Shandong Social Credit Regulation art. 22 (query review); PIPL art. 54 (compliance audit)",
    "audit": "Qingdao public credit information platform rules (audit of the ledger)",
    "subject_self_query": "Shandong Social Credit Regulation art. 21 (the subject's own query)",
    "supervision": "青信用〔2018〕3号 (supervision and assessment of reporting departments, 督促考核)",
}


class LedgerUnreachable(Exception):
    """The ledger's API did not answer."""


@dataclass
class Read:
    """One query the console made: what it asked, and the ledger's answer."""

    scope: str
    purpose: str
    statement_id: str
    filters: dict[str, Any]
    subject: str | None
    status: int
    receipt: dict[str, Any] | None = None
    data: Any = None
    problem: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.data is not None

    @property
    def leaf_index(self) -> int | None:
        return None if self.receipt is None else self.receipt.get("leaf_index")

    @property
    def outcome(self) -> str:
        if self.receipt is not None:
            return str((self.receipt.get("outcome") or {}).get("status", "recorded"))
        return "not recorded"

    def detail(self) -> str:
        """Why there is no data (empty if there is)."""
        if self.ok or self.problem is None:
            return ""
        return str(self.problem.get("detail") or self.problem.get("title") or f"HTTP {self.status}")


@dataclass
class Reads:
    """The queries made for one page, in order."""

    client: LedgerClient
    items: list[Read] = field(default_factory=list)

    def query(self, scope: str, purpose: str, **kw: Any) -> Read:
        read = self.client.query(scope, purpose, **kw)
        self.items.append(read)
        return read


class LedgerClient:
    """Signs and posts statements as ``issuer`` (operator ``operator``) to the ledger at ``url``."""

    def __init__(self, url: str, key: KeyPair, issuer: str, operator: str, origin: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self._key = key
        self.key_id = key.key_id
        self.issuer = issuer
        self.operator = operator
        self.origin = origin
        self.timeout = timeout

    # Plain HTTP.

    def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                body: Any = None) -> tuple[int, Any]:
        """Send one request; the status and the decoded JSON (or text) answer."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return response.status, _decode(response.headers.get("Content-Type", ""), response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.headers.get("Content-Type", ""), exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LedgerUnreachable(f"the ledger at {self.url} does not answer: {reason}") from None

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        return self.request("GET", path, params)

    # Signed statements.

    def statement(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A statement of ``kind`` by this issuer, for this ledger, issued now."""
        return {"type": kind, "id": str(uuid.uuid4()), "issuer": self.issuer,
                "issued_at": format_datetime(datetime.now(timezone.utc)), "ledger": self.origin, **fields}

    def envelope(self, statement: dict[str, Any]) -> dict[str, Any]:
        return make_envelope(statement, self._key.key_id, self._key.sign)

    def submit(self, kind: str, fields: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """Sign and post one statement: (status, answer, the statement)."""
        st = self.statement(kind, fields)
        status, body = self.request("POST", "/v1/statements", body=self.envelope(st))
        return status, body if isinstance(body, dict) else {"detail": str(body)}, st

    def query(self, scope: str, purpose: str, *, subject: str | None = None, filters: dict[str, Any] | None = None,
              identity_check: dict[str, str] | None = None, justification: str | None = None) -> Read:
        """Sign and post one query; the ledger records it, then answers."""
        fields: dict[str, Any] = {"operator": self.operator, "purpose": purpose,
                                  "legal_basis": LEGAL_BASIS.get(purpose, purpose), "scope": scope}
        if subject:
            fields["subject"] = subject
        if filters:
            fields["filters"] = filters
        if identity_check:
            fields["identity_check"] = identity_check
        if justification:
            fields["justification"] = justification
        st = self.statement("query.requested", fields)
        status, body = self.request("POST", "/v1/queries", body=self.envelope(st))
        body = body if isinstance(body, dict) else {"detail": str(body)}
        read = Read(scope, purpose, st["id"], dict(filters or {}), subject, status, receipt=body.get("receipt"))
        if status == 200:
            read.data = body.get("data")
        else:
            read.problem = body
        return read


def _decode(content_type: str, raw: bytes) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return {"detail": text[:500]}
    return text


def origin_of(verifier_key: str) -> str:
    """The log origin named by a verifier key (``origin+keyid+base64``)."""
    return verifier_key.strip().split("+", 1)[0]
