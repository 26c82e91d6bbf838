"""Record lifecycle rules enforced by the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from api.runtime import open_ledger
from ledger.application import Receipt
from ledger.errors import ConflictError, ForbiddenError, RuleError, ValidationError
from ledger.format.statements import parse_envelope
from tests.support import World, make_resident_id, now


def _record(world: World, dept, **kw):
    env = world.submission(dept, **kw)
    world.append_ok(env)
    return env["statement"]


def _refused(world: World, env, error: type[Exception], match: str = "") -> Exception:
    before = world.ledger.count()
    (outcome,) = world.append(env)
    assert isinstance(outcome, error), outcome
    assert match in str(outcome)
    assert world.ledger.count() == before
    return outcome


def test_correction_only_by_the_submitting_department_and_versions_kept(world):
    a, b = world.department(), world.department()
    rec = _record(world, a)
    _refused(world, world.signed(b, "record.corrected", record_id=rec["id"], record_version=1,
                                 changes={"summary": "x"}, reason="r"), ForbiddenError, "department that submitted")
    (refused,) = world.append(world.signed(b, "record.revoked", record_id=rec["id"], reason="r",
                                           annulling_document="d"))
    assert isinstance(refused, ForbiddenError) and a.code not in str(refused)  # who submitted it is not told
    _refused(world, world.signed(a, "record.corrected", record_id=rec["id"], record_version=1,
                                 changes={"subject": make_resident_id()}, reason="r"), ValidationError, "cannot be corrected")
    _refused(world, world.signed(a, "record.corrected", record_id=rec["id"], record_version=1,
                                 changes={}, reason="r"), ValidationError, "at least one")
    world.append_ok(world.signed(a, "record.corrected", record_id=rec["id"], record_version=1,
                                 changes={"summary": "corrected summary"}, reason="typo"))
    record = world.ledger.record(rec["id"])
    assert record.fields["summary"] == "corrected summary"
    assert record.history == [{k: rec[k] for k in ("subject_name", "summary", "decision_date", "document_number", "legal_basis")}]


def test_concurrent_corrections_in_one_process_one_wins_one_conflicts(world):
    a = world.department()
    rec = _record(world, a)
    c1 = world.signed(a, "record.corrected", record_id=rec["id"], record_version=1, changes={"summary": "one"}, reason="r")
    c2 = world.signed(a, "record.corrected", record_id=rec["id"], record_version=1, changes={"summary": "two"}, reason="r")
    first, second = world.append(c1, c2)  # one batch: decided in order
    assert isinstance(first, Receipt) and isinstance(second, ConflictError)
    record = world.ledger.record(rec["id"])
    assert record.version == 2 and record.fields["summary"] == "one"


def test_concurrent_corrections_from_two_writers_no_lost_update(world):
    """Two ledger instances (two API workers) correct one record at the same moment."""
    a = world.department()
    rec = _record(world, a)
    other = open_ledger(world.settings)
    try:
        envs = [
            parse_envelope(world.signed(a, "record.corrected", record_id=rec["id"], record_version=1,
                                        changes={"summary": f"writer {i}"}, reason="r"))
            for i in range(2)
        ]
        barrier = threading.Barrier(2)
        results: list[object] = [None, None]

        def run(i: int, ledger) -> None:
            barrier.wait()
            results[i] = ledger.append([envs[i]])[0]

        threads = [threading.Thread(target=run, args=(0, world.ledger)), threading.Thread(target=run, args=(1, other))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        kinds = sorted(type(r).__name__ for r in results)
        assert kinds == ["ConflictError", "Receipt"], results
        winner = 0 if isinstance(results[0], Receipt) else 1
        record = world.ledger.record(rec["id"])
        assert record.version == 2
        assert record.fields["summary"] == f"writer {winner}"
    finally:
        other.close()


def test_repair_only_after_the_minimum_period(world):
    a = world.department()
    recent = _record(world, a, decision_date=(now().date() - timedelta(days=30)).isoformat())
    _refused(world, world.signed(a, "record.repaired", record_id=recent["id"], method="fulfilment",
                                 proof_reference="p", commitment_reference="c"), RuleError, "minimum disclosure period of 12 months")
    old = _record(world, a, decision_date=(now().date() - timedelta(days=400)).isoformat())
    _refused(world, world.signed(a, "record.repaired", record_id=old["id"], method="prayer",
                                 proof_reference="p", commitment_reference="c"), ValidationError, "method")
    world.append_ok(world.signed(a, "record.repaired", record_id=old["id"], method="volunteering",
                                 proof_reference="p", commitment_reference="c"))
    assert world.ledger.record(old["id"]).repaired
    _refused(world, world.signed(a, "record.repaired", record_id=old["id"], method="volunteering",
                                 proof_reference="p", commitment_reference="c"), ConflictError, "already repaired")
    general = _record(world, a, item="food_drug.general", decision_date=(now().date() - timedelta(days=100)).isoformat())
    world.append_ok(world.signed(a, "record.repaired", record_id=general["id"], method="donation",
                                 proof_reference="p", commitment_reference="c"))


def test_objection_flags_the_record_disputed_until_resolved(world):
    a = world.department()
    window = world.department(items=[], roles=["service_window"])
    rec = _record(world, a)
    _refused(world, world.signed(window, "objection.filed", record_id=rec["id"], subject=make_resident_id(),
                                 grounds="g"), RuleError, "subject")
    filed = world.signed(window, "objection.filed", record_id=rec["id"], subject=rec["subject"], grounds="not me",
                         needs_verification=True)
    world.append_ok(filed)
    record = world.ledger.record(rec["id"])
    assert record.disputed
    assert record.objections[filed["statement"]["id"]]["deadline"] > now().date().isoformat()
    _refused(world, world.signed(window, "objection.resolved", record_id=rec["id"],
                                 objection_id=filed["statement"]["id"], outcome="upheld", reason="r"), ForbiddenError)
    world.append_ok(world.signed(a, "objection.resolved", record_id=rec["id"], objection_id=filed["statement"]["id"],
                                 outcome="upheld", reason="checked the file"))
    assert not world.ledger.record(rec["id"]).disputed


def test_revocation_ends_all_change(world):
    a = world.department()
    rec = _record(world, a)
    world.append_ok(world.signed(a, "record.revoked", record_id=rec["id"], reason="annulled on review",
                                 annulling_document="复议决定 2026-7"))
    assert world.ledger.record(rec["id"]).revoked
    _refused(world, world.signed(a, "record.corrected", record_id=rec["id"], record_version=2,
                                 changes={"summary": "x"}, reason="r"), RuleError, "revoked")


def test_black_list_disclosure_needs_notice_and_a_listing_item(world):
    a = world.department()
    rec = _record(world, a)
    _refused(world, world.signed(a, "record.disclosed", record_id=rec["id"], list="black"), RuleError, "notice_served_at")
    _refused(world, world.signed(a, "record.disclosed", record_id=rec["id"], list="red"), RuleError, "not a red-list item")
    _refused(world, world.signed(a, "record.disclosed", record_id=rec["id"], list="black",
                                 notice_served_at=now().date().isoformat(), period_months=6), RuleError, "from 12 to 36")
    world.append_ok(world.signed(a, "record.disclosed", record_id=rec["id"], list="black",
                                 notice_served_at=now().date().isoformat()))
    assert world.ledger.record(rec["id"]).disclosure["list"] == "black"
    general = _record(world, a, item="food_drug.general")
    _refused(world, world.signed(a, "record.disclosed", record_id=general["id"], list="black",
                                 notice_served_at=now().date().isoformat()), RuleError, "not a black-list item")


def test_genesis_and_authority_rules(world):
    dept = world.department()
    # Only the authority issues authority statements.
    _refused(world, world.signed(dept, "department.registered", department=dept.code, name="me",
                                 items=["food_drug.serious"], purposes=["audit"]), ForbiddenError, "authority only")
    # Catalogue versions only go up.
    from ledger.domain.catalogue import shipped_catalogue_document

    doc = shipped_catalogue_document()
    _refused(world, world.signed(world.authority_dept, "catalogue.published", version=1, catalogue=doc),
             ConflictError, "above 1")
    doc2 = dict(doc, version=2)
    world.append_ok(world.signed(world.authority_dept, "catalogue.published", version=2, catalogue=doc2))
    assert world.ledger.catalogue_version() == 2
    # A key whose id does not match its public key is refused.
    k = world.department()
    _refused(world, world.signed(world.authority_dept, "key.added", department=k.code, key_id=dept.key.key_id,
                                 public_key=k.key.public_key_b64, valid_from="2026-01-01T00:00:00Z"),
             ValidationError, "does not match")


@pytest.mark.postgres
def test_a_second_authority_cannot_found_an_existing_ledger(pg_schema, tmp_path):
    from api.runtime import init
    from api.settings import Settings
    from keys import KeyFileError
    from tests.conftest import PG_URL

    first = World(Settings(data_dir=tmp_path / "first", database_url=PG_URL, database_schema=pg_schema))
    first.close()
    other = Settings(data_dir=tmp_path / "other", database_url=PG_URL, database_schema=pg_schema)
    with pytest.raises(KeyFileError, match="another authority key"):
        init(other)
