"""The credit report (信用报告) as a verifiable document, and its offline check. Pure.

A report is a JSON object made by the ledger for a ``credit_report`` query. Its signed bytes are the RFC 8785
(JCS) bytes of the object without ``signature``; ``signature`` is ``{"key": <report verifier key string>,
"value": <base64 Ed25519 signature>}`` by the ledger's report key (``keys/report.pem``, published at
``GET /v1/report/verifier-key`` as ``<origin>/report+<key id>+<base64(0x01 || public key)>``, the form of the
log's verifier key). The report holds the signed checkpoint it was made at (``checkpoint``: a C2SP signed note of
the log) and, for the query's own entry and for every entry of every record it shows, the leaf data and the
RFC 9162 inclusion proof up to that checkpoint. ``verify_report`` checks, with pinned keys only:

1. the signature, with the pinned report key (one changed byte anywhere fails here);
2. the report's ledger is the log the pinned log verifier key names (another ledger's report fails here);
3. the checkpoint is signed by the pinned log key (a checkpoint the log never signed fails here);
4. every inclusion proof leads from its entry's leaf hash to the checkpoint's root;
5. the query's entry is an accepted ``credit_report`` query about the report's subject, and each record's first
   entry is its ``record.submitted`` about that subject;
6. optionally, a consistency proof from the report's checkpoint to a later signed checkpoint: the history the
   report rests on was not rewritten afterwards.

The verification code is the first 10 bytes of SHA-256 of the signed bytes in base32, in groups of four.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from keys import verifies
from ledger.errors import LedgerError
from ledger.format.canonical import canonical_bytes
from ledger.log.leaves import entry_bytes
from ledger.log.merkle import ProofError, leaf_hash, root_from_inclusion_proof, verify_consistency
from ledger.log.note import Checkpoint, NoteError, parse_verifier_key
from ledger.log.receipts import ReceiptError, open_signed_checkpoint

FORMAT = "credit-ledger/credit-report/1"


class ReportError(ValueError):
    """The report does not verify; the message names the first check that failed."""


def report_key_name(origin: str) -> str:
    """The name of a ledger's report key (its verifier key string begins with it)."""
    return f"{origin}/report"


def signed_bytes(report: dict[str, Any]) -> bytes:
    """The bytes the report's signature covers: JCS of the report without ``signature``."""
    return canonical_bytes({k: v for k, v in report.items() if k != "signature"})


def verification_code(report: dict[str, Any]) -> str:
    """The short code printed on a report: base32 of the first 10 bytes of SHA-256 of its signed bytes."""
    text = base64.b32encode(hashlib.sha256(signed_bytes(report)).digest()[:10]).decode("ascii")
    return "-".join(text[i:i + 4] for i in range(0, len(text), 4))


@dataclass(frozen=True)
class VerifiedReport:
    """What a report check established."""

    origin: str
    subject: str
    tree_size: int
    entries: int
    code: str
    later_size: int | None = None

    def line(self) -> str:
        """The one-line summary."""
        later = f"; consistent with the later checkpoint of size {self.later_size}" if self.later_size else ""
        return (f"report {self.code} about {self.subject} is signed by the report key of {self.origin}; its "
                f"{self.entries} entries are in the log of size {self.tree_size} whose checkpoint is signed by "
                f"{self.origin}{later}")


def _b64(value: Any, what: str, size: int | None = 32) -> bytes:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True) if isinstance(value, str) else b""
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if not raw or (size is not None and len(raw) != size):
        raise ReportError(f"{what} is not valid base64" + (f" of {size} bytes" if size else ""))
    return raw


def check_signature(report: Any, report_key: str) -> None:
    """Check the report's signature with the pinned report verifier key string."""
    if not isinstance(report, dict) or report.get("format") != FORMAT:
        raise ReportError(f"the file holds no credit report (format {FORMAT})")
    try:
        key = parse_verifier_key(report_key)
    except NoteError as exc:
        raise ReportError(f"the report verifier key is not valid: {exc}") from None
    sig = report.get("signature")
    if not isinstance(sig, dict) or not isinstance(sig.get("value"), str):
        raise ReportError("the report carries no signature")
    if sig.get("key") != report_key:
        raise ReportError(f"the report is signed by the key {str(sig.get('key'))[:80]!r}, not the pinned report key "
                          f"{key.name}+{key.key_id.hex()}")
    value = _b64(sig["value"], "the report's signature", 64)
    try:
        body = signed_bytes(report)
    except (LedgerError, ValueError) as exc:
        raise ReportError(f"the report has no canonical form: {exc}") from None
    if not verifies(key.public_key, body, value):
        raise ReportError(f"the report's signature does not verify with the report key {key.name}: the report was "
                          "changed after it was signed")


def _entry_leaf(entry: Any, what: str) -> bytes:
    if not isinstance(entry, dict) or not isinstance(entry.get("statement"), dict):
        raise ReportError(f"{what} holds no entry")
    try:
        return leaf_hash(entry_bytes(canonical_bytes(entry["statement"]), str(entry.get("key_id")),
                                     str(entry.get("signature")), str(entry.get("recorded_at")), entry.get("outcome")))
    except (LedgerError, ValueError) as exc:
        raise ReportError(f"{what} gives no leaf data: {exc}") from None


def check_inclusion(item: Any, checkpoint: Checkpoint, what: str) -> dict[str, Any]:
    """Check one ``{leaf_index, entry, proof}`` of the report against the checkpoint; return its statement."""
    if not isinstance(item, dict) or not isinstance(item.get("proof"), list):
        raise ReportError(f"{what} has no inclusion proof")
    index = item.get("leaf_index")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < checkpoint.size:
        raise ReportError(f"{what}: leaf {index} is not in the checkpoint's log of size {checkpoint.size}")
    path = [_b64(h, f"{what}: proof element {i}") for i, h in enumerate(item["proof"])]
    try:
        root = root_from_inclusion_proof(_entry_leaf(item.get("entry"), what), index, checkpoint.size, path)
    except ProofError as exc:
        raise ReportError(f"{what}: the inclusion proof of leaf {index} does not fit: {exc}") from None
    if root != checkpoint.root:
        raise ReportError(f"{what}: the inclusion proof of leaf {index} does not lead to the checkpoint's root")
    return dict(item["entry"]["statement"])


def check_consistency(checkpoint: Checkpoint, later_note: str, proof: Any, log_key: str) -> int:
    """Check a later checkpoint (signed by the pinned log key) extends the report's; return its size."""
    try:
        later = open_signed_checkpoint(later_note, log_key)
    except ReceiptError as exc:
        raise ReportError(f"the later checkpoint: {exc}") from None
    if not isinstance(proof, dict) or not isinstance(proof.get("proof"), list):
        raise ReportError("the consistency proof file holds no proof (first, second and proof)")
    if (proof.get("first"), proof.get("second")) != (checkpoint.size, later.size):
        raise ReportError(f"the consistency proof is from size {proof.get('first')} to {proof.get('second')}, not "
                          f"from the report's {checkpoint.size} to the later checkpoint's {later.size}")
    path = [_b64(h, f"consistency proof element {i}") for i, h in enumerate(proof["proof"])]
    try:
        verify_consistency(checkpoint.size, later.size, path, checkpoint.root, later.root)
    except ProofError as exc:
        raise ReportError(f"the log of size {later.size} is not an extension of the report's log of size "
                          f"{checkpoint.size}: {exc}") from None
    return later.size


def verify_report(report: Any, report_key: str, log_key: str, later_checkpoint: str | None = None,
                  consistency_proof: Any = None) -> VerifiedReport:
    """Check a report offline with the pinned report and log verifier keys (see the module docstring); raise
    :class:`ReportError` naming the first check that fails."""
    check_signature(report, report_key)
    try:
        log_name = parse_verifier_key(log_key).name
    except NoteError as exc:
        raise ReportError(f"the log verifier key is not valid: {exc}") from None
    origin = report.get("ledger")
    if origin != log_name:
        raise ReportError(f"the report is of the ledger {origin!r}, the pinned log key is of {log_name!r}")
    if report_key_name(log_name) != parse_verifier_key(report_key).name:
        raise ReportError(f"the report key is not the report key of the ledger {log_name}")
    try:
        checkpoint = open_signed_checkpoint(str(report.get("checkpoint")), log_key)
    except ReceiptError as exc:
        raise ReportError(f"the report's checkpoint: {exc}") from None
    subject = (report.get("subject") or {}).get("id") if isinstance(report.get("subject"), dict) else None
    query = check_inclusion(report.get("query"), checkpoint, "the query's entry")
    outcome = report["query"]["entry"].get("outcome") or {}
    if (query.get("type"), query.get("scope"), query.get("subject"), outcome.get("status"), query.get("ledger")) != (
            "query.requested", "credit_report", subject, "accepted", origin):
        raise ReportError("the query's entry is not an accepted credit_report query about the report's subject")
    count = 1
    for record in report.get("records") or []:
        entries = record.get("entries") if isinstance(record, dict) else None
        if not entries:
            raise ReportError(f"record {record.get('record_id') if isinstance(record, dict) else '?'} has no entries")
        for i, item in enumerate(entries):
            st = check_inclusion(item, checkpoint, f"record {record.get('record_id')} entry {i}")
            if i == 0 and (st.get("type"), st.get("id"), st.get("subject")) != (
                    "record.submitted", record.get("record_id"), subject):
                raise ReportError(f"record {record.get('record_id')}: its first entry is not its submission "
                                  "about the report's subject")
            count += 1
    for record in report.get("organisation_records") or []:
        count += _check_organisation_record(record, checkpoint, subject)
    later = None
    if later_checkpoint is not None:
        later = check_consistency(checkpoint, later_checkpoint, consistency_proof, log_key)
    return VerifiedReport(origin=str(origin), subject=str(subject), tree_size=checkpoint.size, entries=count,
                          code=verification_code(report), later_size=later)


def _check_organisation_record(record: Any, checkpoint: Checkpoint, subject: Any) -> int:
    """An organisation's record shown because the subject was responsible for it: its entries proven, the first its
    submission about the organisation; the tenure's entries proven, the first recording that the subject held a
    role for that organisation, an end (if any) ending that tenure. Returns how many entries were checked."""
    rid = record.get("record_id") if isinstance(record, dict) else "?"
    tenure = record.get("arising_from") if isinstance(record, dict) else None
    entries = record.get("entries") if isinstance(record, dict) else None
    if not entries or not isinstance(tenure, dict) or not tenure.get("entries"):
        raise ReportError(f"organisation record {rid} lacks its entries or the tenure behind it")
    organisation = tenure.get("organisation")
    for i, item in enumerate(entries):
        st = check_inclusion(item, checkpoint, f"organisation record {rid} entry {i}")
        if i == 0 and (st.get("type"), st.get("id"), st.get("subject"), st.get("subject_type")) != (
                "record.submitted", rid, organisation, "organisation"):
            raise ReportError(f"organisation record {rid}: its first entry is not its submission about the "
                              "organisation it names")
    for i, item in enumerate(tenure["entries"]):
        st = check_inclusion(item, checkpoint, f"organisation record {rid} tenure entry {i}")
        expected = (("responsibility.recorded", tenure.get("responsibility_id"), organisation, subject) if i == 0
                    else ("responsibility.ended", st.get("id"), None, None))
        found = ((st.get("type"), st.get("id"), st.get("organisation"), st.get("person")) if i == 0
                 else (st.get("type"), st.get("id"), None, None))
        if found != expected or (i > 0 and st.get("responsibility_id") != tenure.get("responsibility_id")):
            raise ReportError(f"organisation record {rid}: the tenure's entries do not show the report's subject "
                              "responsible for the organisation")
    return len(entries) + len(tenure["entries"])


_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def entry_code(leaf_index: int, leaf: bytes) -> str:
    """The verification code of a log entry: ``{leaf index}-{base32 of the first 5 bytes of its leaf hash}``.

    It says no more than ``GET /v1/log/leaf-hashes`` publishes for that leaf."""
    return f"{leaf_index}-{base64.b32encode(leaf[:5]).decode('ascii')}"


def parse_entry_code(code: str) -> tuple[int, str] | None:
    """The leaf index and hash prefix of a verification code (spaces ignored, any case), or None if it is not one."""
    text = "".join(code.split()).upper()
    index, sep, prefix = text.partition("-")
    if (not sep or not index.isascii() or not index.isdigit() or len(index) > 18 or len(prefix) != 8
            or any(c not in _CODE_ALPHABET for c in prefix)):
        return None
    return int(index), prefix


def report_entry_code(report: dict[str, Any]) -> str:
    """The verification code of the report's query entry (from the leaf data the report carries)."""
    query = report.get("query")
    if not isinstance(query, dict) or not isinstance(query.get("leaf_index"), int):
        raise ReportError("the report holds no query entry")
    return entry_code(query["leaf_index"], _entry_leaf(query.get("entry"), "the query's entry"))
