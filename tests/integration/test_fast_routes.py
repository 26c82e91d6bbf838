"""The two busiest endpoints are served past FastAPI's routing: each answer must equal the route's own."""

from __future__ import annotations

import copy

from fastapi.testclient import TestClient

from api import fastpath
from api.deps import get_settings
from tests.support import World, make_resident_id



def _cases(world: World) -> list[tuple[str, bytes, dict[str, str]]]:
    dept = world.department(purposes=["administrative_licensing"])
    good = world.submission(dept)
    tampered = copy.deepcopy(world.submission(dept))
    tampered["statement"]["summary"] = "changed"
    query = world.signed(dept, "query.requested", operator="staff-1", subject=make_resident_id(),
                         purpose="administrative_licensing", legal_basis="Administrative Licensing Law art. 31",
                         scope="archive")
    refused_query = world.signed(dept, "query.requested", operator="staff-1", subject=make_resident_id(),
                                 purpose="administrative_penalty", legal_basis="x", scope="archive")
    import orjson

    json = {"Content-Type": "application/json"}
    return [
        ("/v1/statements", orjson.dumps(good), json),
        ("/v1/statements", orjson.dumps(good), json),  # the replay
        ("/v1/statements", orjson.dumps(tampered), json),
        ("/v1/statements", b'{"statement": {}, "statement": {}}', json),
        ("/v1/statements", b"not json", json),
        ("/v1/statements", orjson.dumps(good), {"Content-Type": "text/plain"}),
        ("/v1/statements", orjson.dumps(query), json),
        ("/v1/queries", orjson.dumps(query), json),
        ("/v1/queries", orjson.dumps(query), json),
        ("/v1/queries", orjson.dumps(refused_query), json),
        ("/v1/queries", orjson.dumps(good), json),
    ]


def _answer(r) -> tuple[int, str, dict]:  # type: ignore[no-untyped-def]
    body = r.json()
    if isinstance(body, dict) and "data" in body:
        body = {**body, "data": "..."}
    return r.status_code, r.headers["content-type"], body


def test_fast_routes_answer_as_the_routes_do(world: World, client: TestClient, monkeypatch) -> None:
    """Each case twice: past the router, then through it (an overridden dependency turns the fast path
    off); the answers and what the ledger stored must agree."""
    taken: list[str] = []
    for path, handler in list(fastpath.HANDLERS.items()):
        async def counting(request, state, _handler=handler, _path=path):  # type: ignore[no-untyped-def]
            taken.append(_path)
            return await _handler(request, state)
        monkeypatch.setitem(fastpath.HANDLERS, path, counting)

    cases = _cases(world)
    fast = []
    before = world.ledger.count()
    for path, body, headers in cases:
        fast.append(_answer(client.post(path, content=body, headers=headers)))
    fast_added = world.ledger.count() - before
    assert taken == [p for p, _, _ in cases]
    assert [a[0] for a in fast] == [201, 200, 401, 400, 400, 415, 422, 200, 200, 403, 422]

    # Through the router: the same requests again on fresh statements.
    client.app.dependency_overrides[get_settings] = lambda: world.settings
    taken.clear()
    routed = []
    again = _cases(world)
    before = world.ledger.count()
    for path, body, headers in again:
        routed.append(_answer(client.post(path, content=body, headers=headers)))
    assert taken == []
    assert world.ledger.count() - before == fast_added

    def comparable(a: tuple[int, str, dict]) -> tuple:
        status, ctype, body = a
        if "receipt" in body or "statement_id" in body or "type" not in body:
            return status, ctype, sorted(body)
        return status, ctype, body["type"], body.get("instance")

    assert [comparable(a) for a in fast] == [comparable(a) for a in routed]
