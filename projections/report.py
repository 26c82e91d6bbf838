"""Making a credit report (信用报告) for an accepted ``credit_report`` query, and the measures in answers.

The report (format and checks: ``ledger.log.report``) is built from the archive answer at the query's position:
the subject, the shareable records with their points and grade, the flags, the measures that apply for the
query's department and purpose (``ledger.domain.measures``) and the measures departments reported applying
(``measure.applied``). The log tree is brought up to the query's own leaf, a checkpoint covering it is signed
(``Checkpointer.make``; the latest is used if it already covers every leaf needed), and the report carries the
leaf data and inclusion proof of the query's entry and of every entry of every record it shows. The records of
organisations that reach the subject as a person responsible for them (``organisation_records``) are shown apart,
each with its entries proven the same way and, under ``arising_from``, the proven entries of the tenure
(``responsibility.recorded``, ``responsibility.ended``) that links the subject to the organisation. It is then
signed with the ledger's report key.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from keys import KeyPair
from ledger.application import Ledger
from ledger.domain.catalogue import Catalogue, parse_catalogue
from ledger.domain.measures import applicable
from ledger.format.statements import format_datetime
from ledger.log.note import verifier_key_string
from ledger.log.report import FORMAT, report_key_name, signed_bytes, verification_code
from projections.checkpoints import Checkpointer
from projections.logtree import LogTree
from projections.store import Store


class Catalogues:
    """The latest published catalogue, parsed once per version (read from the archive's catalogue table)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._parsed: tuple[int, Catalogue] | None = None
        self._lock = threading.Lock()

    def latest(self) -> Catalogue | None:
        rows = self.store.query("SELECT version, doc FROM view_catalogues ORDER BY version DESC LIMIT 1")
        if not rows:
            return None
        version = int(rows[0][0])
        with self._lock:
            if self._parsed is None or self._parsed[0] != version:
                self._parsed = (version, parse_catalogue(orjson.loads(rows[0][1])))
            return self._parsed[1]


def with_measures(applied_measures: Callable[[str, int | None], list[dict[str, Any]]], catalogues: Catalogues,
                  archive: dict[str, Any], values: dict[str, Any], position: int | None) -> dict[str, Any]:
    """An archive answer with the measures that apply for the query's department and purpose and the measures
    reported applied (only once a catalogue with measures is in force)."""
    catalogue = catalogues.latest()
    if catalogue is None or not catalogue.measures:
        return archive
    flags = {"green_channel": archive.get("green_channel"), "key_supervision": archive.get("key_supervision")}
    found = applicable(catalogue, archive["records"], flags, archive["as_of_day"], values["issuer"],
                       values["purpose"], archive.get("organisation_records"))
    applied = applied_measures(values["subject"], position)
    return {**archive, "measures": found, "measures_applied": applied, "catalogue_version": catalogue.version}


class Reports:
    """Makes signed credit reports; one lock orders the tree's catch-up and the checkpoint."""

    def __init__(self, ledger: Ledger, store: Store, tree: LogTree, checkpointer: Checkpointer,
                 report_key: KeyPair) -> None:
        self.ledger = ledger
        self.store = store
        self.tree = tree
        self.checkpointer = checkpointer
        self.key = report_key
        self.origin = checkpointer.origin
        self.verifier_key = verifier_key_string(report_key_name(self.origin), report_key.public_key)
        self._lock = threading.Lock()

    def _entry(self, event: Any) -> dict[str, Any]:
        entry = {"statement": orjson.loads(event.statement), "key_id": event.key_id, "signature": event.signature,
                 "recorded_at": event.recorded_at}
        if getattr(event, "outcome", None) is not None:
            entry["outcome"] = event.outcome
        return entry

    def _leaf_indexes(self, statement_ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for sid in statement_ids:
            index = self.tree.leaf_index_of(sid)
            if index is None:
                raise LookupError(f"statement {sid} has no entry in the ledger")
            found[sid] = index
        return found

    def _checkpoint(self, needed: int) -> Any:
        """A signed checkpoint whose log holds leaves ``0..needed``."""
        with self._lock:
            latest = self.checkpointer.latest()
            if latest is not None and latest.size > needed:
                return latest
            while self.tree.size() <= needed:
                # Nothing new here may mean the projection worker integrated the leaves between the size read
                # and this catch-up: only a tree still short of the leaf after that is an error.
                if not self.tree.catch_up() and self.tree.size() <= needed:
                    raise LookupError(f"leaf {needed} is not in the log tree")
            return self.checkpointer.make() or self.checkpointer.latest()

    def make(self, archive: dict[str, Any], values: dict[str, Any], now: datetime,
             department_name: str | None = None) -> dict[str, Any]:
        """The signed report for the accepted query ``values`` (its archive answer with measures: ``archive``)."""
        query_id = str(values["id"])
        (query_event,) = [self.ledger.mapper.to_domain_event(e) for e in
                          self.ledger.recorder.select_events(UUID(query_id), limit=1)]
        reached = archive.get("organisation_records") or []
        record_events: dict[str, list[Any]] = {}
        for aggregate_id in [r["record_id"] for r in [*archive["records"], *reached]] + [
                r["arising_from"]["responsibility_id"] for r in reached]:
            stored = self.ledger.recorder.select_events(UUID(aggregate_id))
            record_events[aggregate_id] = [self.ledger.mapper.to_domain_event(e) for e in stored]
        ids = [query_id] + [str(orjson.loads(ev.statement)["id"]) for evs in record_events.values() for ev in evs]
        leaves = self._leaf_indexes(ids)
        checkpoint = self._checkpoint(max(leaves.values()))
        size = checkpoint.size

        def proven(event: Any) -> dict[str, Any]:
            entry = self._entry(event)
            index = leaves[entry["statement"]["id"]]
            proof = [base64.b64encode(h).decode("ascii") for h in self.tree.inclusion_proof(index, size)]
            return {"leaf_index": index, "entry": entry, "proof": proof}

        query = proven(query_event)
        records = []
        for record in archive["records"]:
            shown = {k: v for k, v in record.items() if k not in ("versions",)}
            records.append({**shown, "entries": [proven(ev) for ev in record_events[record["record_id"]]]})
        organisation_records = []
        for record in reached:
            shown = {k: v for k, v in record.items() if k not in ("versions",)}
            tenure = {**record["arising_from"], "entries": [
                proven(ev) for ev in record_events[record["arising_from"]["responsibility_id"]]]}
            organisation_records.append({**shown, "arising_from": tenure,
                                         "entries": [proven(ev) for ev in record_events[record["record_id"]]]})
        names = [r["fields"].get("subject_name") for r in archive["records"] if r["fields"].get("subject_name")]
        names = names or [orjson.loads(evs[0].statement)["person_name"] for tid, evs in record_events.items()
                          if tid in {r["arising_from"]["responsibility_id"] for r in reached}][-1:]
        report: dict[str, Any] = {
            "format": FORMAT,
            "ledger": self.origin,
            "subject": {"id": values["subject"], "name": names[-1] if names else None},
            "purpose": values["purpose"],
            "department": {"code": values["issuer"], "name": department_name},
            "made_at": format_datetime(now),
            "as_of_day": archive["as_of_day"],
            "position": query_entry_position(self.ledger, query_id),
            "tree_size": size,
            "checkpoint": checkpoint.note,
            "points": archive.get("points"),
            "green_channel": archive.get("green_channel"),
            "key_supervision": archive.get("key_supervision"),
            "measures": archive.get("measures", []),
            "measures_applied": archive.get("measures_applied", []),
            "catalogue_version": archive.get("catalogue_version"),
            "records": records,
            "organisation_records": organisation_records,
            "query": {**query, "receipt": {"statement_id": query_id, "type": "query.requested",
                                           "leaf_index": query["leaf_index"],
                                           "recorded_at": query["entry"]["recorded_at"],
                                           "outcome": query["entry"].get("outcome")}},
        }
        report["query"]["receipt"]["position"] = report["position"]
        report["signature"] = {"key": self.verifier_key,
                               "value": self.key.sign(signed_bytes(report))}
        return report


def query_entry_position(ledger: Ledger, statement_id: str) -> int:
    """The ledger position of a statement's entry."""
    row = ledger.entries.find_entries({UUID(statement_id)}).get(UUID(statement_id))
    if row is None:
        raise LookupError(f"statement {statement_id} has no entry in the ledger")
    return row.position


__all__ = ["Catalogues", "Reports", "verification_code", "with_measures"]
