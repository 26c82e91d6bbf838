"""A key's compromise window: the entries it signed from when it is no longer trusted until its revocation.

A key revocation's receipt lists them, and an auditor pages through them for any key. An entry belongs to
the window when it was recorded, or is dated, from the window's start on; the recorders find a key's
entries by the key id kept on each entry, without decoding the whole history.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from ledger.application.reads import Reads
from ledger.application.receipts import Receipt
from ledger.domain.aggregates import AUTHORITY_ID, Authority
from ledger.format.statements import Statement, format_datetime, parse_datetime


class CompromiseWindows(Reads):
    """The entries of a key's compromise window, for a revocation's receipt and for an auditor."""

    # At most this many entries of a compromise window are listed (the auditor's scope pages on).
    WINDOW_LIMIT = 1000

    def _with_window(self, receipt: Receipt, st: Statement) -> Receipt:
        """A key revocation's receipt lists the compromise window: what the key signed that was recorded, or
        dated, from ``effective_at`` until the revocation."""
        if st.type != "key.revoked":
            return receipt
        window = self.compromise_window(st.values["key_id"], st.values["effective_at"], receipt.position)
        return dataclasses.replace(receipt, compromise_window=window)

    def key_compromise(self, key_id: str, since: datetime | None, after: int, until: int | None) -> dict[str, Any]:
        """For an auditor: a key, its revocation if any, and the entries of its compromise window (from
        ``since``, by default the revocation's ``effective_at`` or, for a key not revoked, its ``valid_from``;
        up to the revocation or, for a key not revoked, ``until``), a page after position ``after``."""
        authority = self.authority()
        record = authority.registry.keys.get(key_id) if authority is not None else None
        if record is None:
            return {"key_id": key_id, "registered": False, "entries": []}
        revoked_at = self._revocation_position(key_id) if record.revoked_at is not None else None
        start = since or record.revoked_at or record.valid_from
        before = revoked_at if revoked_at is not None else (until or (self.recorder.max_notification_id() or 0) + 1)
        entries = self.compromise_window(key_id, start, before, after)
        page: dict[str, Any] = {
            "key_id": key_id, "registered": True, "department": record.department,
            "valid_from": format_datetime(record.valid_from), "revoked": record.revoked_at is not None,
            "effective_at": format_datetime(record.revoked_at) if record.revoked_at else None,
            "revocation_position": revoked_at, "from": format_datetime(start), "entries": entries,
        }
        if len(entries) == self.WINDOW_LIMIT:
            page["next_after"] = entries[-1]["position"]
        return page

    def _revocation_position(self, key_id: str) -> int | None:
        for ev in self.events.get(AUTHORITY_ID):
            if isinstance(ev, Authority.KeyRevoked):
                statement = orjson.loads(ev.statement)
                if statement["key_id"] == key_id:
                    statement_id = UUID(statement["id"])
                    return self.entries.find_entries([statement_id])[statement_id].position
        return None

    def compromise_window(self, key_id: str, since: datetime, before: int,
                          after: int = 0) -> list[dict[str, Any]]:
        """Entries signed with ``key_id`` at positions in (``after``, ``before``) that were recorded or dated
        from ``since`` on, in ledger order, at most ``WINDOW_LIMIT``."""
        # An entry dated from ``since`` on was recorded at most the allowed skew before it.
        recorded_from = format_datetime(since - self.max_clock_skew)
        out: list[dict[str, Any]] = []
        while len(out) < self.WINDOW_LIMIT:
            page = self.entries.entries_signed_with(key_id, after, before, recorded_from, self.WINDOW_LIMIT)
            for leaf, position, statement_id, recorded_at, stored in page:
                event: Any = self.mapper.to_domain_event(stored)
                body = orjson.loads(event.statement)
                if recorded_at >= format_datetime(since) or parse_datetime(body["issued_at"]) >= since:
                    out.append({"leaf_index": leaf, "position": position, "statement_id": str(statement_id),
                                "type": body["type"], "issued_at": body["issued_at"], "recorded_at": recorded_at})
            if len(page) < self.WINDOW_LIMIT:
                break
            after = page[-1].position
        return out[:self.WINDOW_LIMIT]
