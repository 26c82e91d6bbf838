"""Ledgers for the benchmark: a founded ledger with a department and its signed bodies, ledgers filled
through ``Ledger.append``, a synthetic log for the proof figures, and the PostgreSQL schemas they use."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from typing import Any

from api.settings import Settings

# Every PostgreSQL schema the run creates, dropped at its end (``drop_schemas``).
SCHEMAS: list[str] = []


class Scenario:
    """A founded ledger with a department, and signed bodies for the figures."""

    def __init__(self, settings: Settings) -> None:
        from datetime import datetime, timezone

        from api.runtime import AUTHORITY_KEY, init, open_ledger
        from keys import KeyPair
        from ledger.domain.genesis import authority_statement
        from ledger.format.identifiers import uscc_check_char
        from ledger.format.statements import format_datetime, make_envelope, parse_envelope

        self.settings = settings
        self.origin = settings.log_origin
        init(settings)
        self.authority = KeyPair.load(settings.keys_dir / AUTHORITY_KEY)
        self.ledger = open_ledger(settings)
        now = datetime.now(timezone.utc)
        first17 = "11370200BENCH" + uuid.uuid4().hex[:4].upper().replace("I", "J").replace("O", "P")
        first17 = "".join(c if c in "0123456789ABCDEFGHJKLMNPQRTUWXY" else "A" for c in first17)
        self.code = first17 + uscc_check_char(first17)
        self.key = KeyPair.generate()
        setup = [
            authority_statement("department.registered", {
                "department": self.code, "name": "bench", "items": ["food_drug.serious", "food_drug.general"],
                "purposes": ["administrative_licensing"]}, now, ledger=self.origin),
            authority_statement("key.added", {
                "department": self.code, "key_id": self.key.key_id, "public_key": self.key.public_key_b64,
                "valid_from": format_datetime(now)}, now, ledger=self.origin),
        ]
        for outcome in self.ledger.append([parse_envelope(make_envelope(x, self.authority.key_id, self.authority.sign))
                                           for x in setup]):
            if isinstance(outcome, Exception):
                raise RuntimeError(f"bench setup refused: {outcome}")
        self.subjects: list[str] = []
        self.closed = False

    def submissions(self, count: int) -> list[dict[str, Any]]:
        from datetime import datetime, timezone

        from ledger.format.identifiers import resident_check_digit
        from ledger.format.statements import format_datetime, make_envelope

        now = format_datetime(datetime.now(timezone.utc))
        out = []
        for k in range(count):
            rid17 = "370202" + "1980" + f"{(k % 12) + 1:02d}" + f"{(k % 28) + 1:02d}" + f"{k % 1000:03d}"
            statement = {"type": "record.submitted", "id": str(uuid.uuid4()), "issuer": self.code, "issued_at": now, "ledger": self.origin,
                         "subject": rid17 + resident_check_digit(rid17), "subject_name": "张三",
                         "item": "food_drug.general", "summary": f"bench record {k}", "decision_date": "2026-01-10",
                         "document_number": f"B-{k}", "legal_basis": "bench"}
            out.append(make_envelope(statement, self.key.key_id, self.key.sign))
        return out

    def queries(self, count: int, subjects: list[str]) -> list[dict[str, Any]]:
        from datetime import datetime, timezone

        from ledger.format.statements import format_datetime, make_envelope

        now = format_datetime(datetime.now(timezone.utc))
        return [make_envelope({
            "type": "query.requested", "id": str(uuid.uuid4()), "issuer": self.code, "issued_at": now, "ledger": self.origin,
            "operator": f"staff-{k % 50}", "subject": subjects[k % len(subjects)], "purpose": "administrative_licensing",
            "legal_basis": "Administrative Licensing Law art. 31", "scope": "archive"}, self.key.key_id, self.key.sign)
            for k in range(count)]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.ledger.close()


def fill_ledger(settings: Settings, count: int) -> tuple[float, list[tuple[bytes, bytes, str]]]:
    """A ledger of ``count`` signed submissions appended through ``Ledger.append`` in batches of 2,000;
    returns (seconds spent appending, up to 20,000 (public key, message, signature) samples)."""
    from ledger.format.statements import parse_envelope

    scenario = Scenario(settings)
    samples: list[tuple[bytes, bytes, str]] = []
    elapsed = 0.0
    try:
        done = 0
        while done < count:
            envs = [parse_envelope(e) for e in scenario.submissions(min(2000, count - done))]
            for env in envs[: max(0, 20_000 - len(samples))]:
                samples.append((scenario.key.public_key, env.statement.canonical, env.signature))
            start = time.perf_counter()
            outcomes = scenario.ledger.append(envs)
            elapsed += time.perf_counter() - start
            bad = [o for o in outcomes if isinstance(o, Exception)]
            if bad:
                raise RuntimeError(f"bench ledger refused a statement: {bad[0]}")
            done += len(envs)
    finally:
        scenario.close()
    return elapsed, samples


def synthetic_log(settings: Settings, leaves: int) -> None:
    """Fill ``ledger_entries`` with ``leaves`` synthetic rows and build the tree (proof figures only)."""
    from api.runtime import open_ledger, open_store
    from projections.logtree import LogTree

    open_ledger(settings).close()  # migrations / SQLite tables
    store = open_store(settings)
    try:
        chunk = 50_000
        for start in range(0, leaves, chunk):
            end = min(leaves, start + chunk)
            with store.transaction() as tx:
                if store.kind == "postgres":  # each entry with its event, in one statement, as the database wants
                    tx.execute(_SYNTHETIC_PG, (start, end, start))
                    continue
                rows = []
                for i in range(start, end):
                    h = hashlib.sha256(i.to_bytes(8, "big")).digest()
                    rows.append((i, i + 1, str(uuid.UUID(bytes=h[:16])), h, h, "2026-01-01T00:00:00.000000Z"))
                tx.executemany("INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest,"
                               " leaf_hash, recorded_at) VALUES (%s, %s, %s, %s, %s, %s)", rows)
        tree = LogTree(store)
        while tree.catch_up(100_000):
            pass
    finally:
        store.close()


# Leaves start..end-1 as on SQLite (leaf hash sha256 of the big-endian index), each with a placeholder event.
_SYNTHETIC_PG = (
    "WITH ev AS (INSERT INTO ledger_events (originator_id, originator_version, topic, state)"
    " SELECT gen_random_uuid(), 1, 'bench:synthetic', ''::bytea FROM generate_series(%s, %s - 1)"
    " RETURNING notification_id),"
    " leaf AS (SELECT notification_id, %s - 1 + row_number() OVER (ORDER BY notification_id) AS i FROM ev),"
    " hashed AS (SELECT notification_id, i, sha256(int8send(i)) AS h FROM leaf)"
    " INSERT INTO ledger_entries (leaf_index, notification_id, statement_id, statement_digest, leaf_hash, recorded_at)"
    " SELECT i, notification_id, encode(substring(h FOR 16), 'hex')::uuid, h, h, '2026-01-01T00:00:00.000000Z'"
    " FROM hashed")


def server_env(settings: Settings) -> dict[str, str]:
    """This environment without CREDIT_LEDGER_* variables, then those of ``settings``' storage."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_LEDGER_")}
    env["CREDIT_LEDGER_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        env["CREDIT_LEDGER_DATABASE_URL"] = settings.database_url
        env["CREDIT_LEDGER_DATABASE_SCHEMA"] = settings.database_schema
    return env


def create_schema(settings: Settings, schema: str) -> None:
    """Create ``schema`` on ``settings``' PostgreSQL server, to be dropped at the end of the run."""
    import psycopg
    from psycopg import sql

    assert settings.database_url
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    SCHEMAS.append(schema)


def drop_schemas(url: str) -> None:
    """Drop every schema of ``SCHEMAS`` on the server at ``url``."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    SCHEMAS.clear()
