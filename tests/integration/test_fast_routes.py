"""The two busiest endpoints are plain Starlette routes placed first in the router: they must answer as the
FastAPI routes of the same paths (still declared, and documented) answer."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from api.app import create_app
from api.deps import get_settings
from tests.support import Department, World, make_resident_id

FAST = {"/v1/statements", "/v1/queries"}
JSON = {"Content-Type": "application/json"}


def fast_routes(app: FastAPI) -> list[Route]:
    return [r for r in app.router.routes if type(r) is Route and r.path in FAST]


class RouteWatch:
    """The app, noting what served each HTTP request: ``fast`` (one of the fast routes) or ``fastapi`` (a route
    of FastAPI's own), as the router leaves it in the scope."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.fast = {r.endpoint for r in fast_routes(app)}
        self.served: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            route, endpoint = scope.get("route"), scope.get("endpoint")
            self.served.append("fast" if endpoint in self.fast else "fastapi" if isinstance(route, APIRoute) else "?")


@contextmanager
def watched_client(world: World) -> Iterator[tuple[TestClient, RouteWatch]]:
    watch = RouteWatch(create_app(world.settings))
    with TestClient(watch) as client:
        yield client, watch


@contextmanager
def through_fastapi(app: FastAPI) -> Iterator[None]:
    """The app with its fast routes taken out of the router: requests reach FastAPI's own routes."""
    fast = fast_routes(app)
    assert len(fast) == len(FAST)
    app.router.routes[:] = [r for r in app.router.routes if r not in fast]
    try:
        yield
    finally:
        app.router.routes[0:0] = fast


def _cases(world: World, dept: Department, subject: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    good = world.submission(dept)
    tampered = copy.deepcopy(world.submission(dept))
    tampered["statement"]["summary"] = "changed"
    query = world.signed(dept, "query.requested", operator="staff-1", subject=subject,
                         purpose="administrative_licensing", legal_basis="Administrative Licensing Law art. 31",
                         scope="archive")
    refused_query = world.signed(dept, "query.requested", operator="staff-1", subject=subject,
                                 purpose="administrative_penalty", legal_basis="x", scope="archive")
    return [
        ("POST", "/v1/statements", orjson.dumps(good), JSON),
        ("POST", "/v1/statements", orjson.dumps(good), JSON),  # the replay
        ("POST", "/v1/statements", orjson.dumps(tampered), JSON),
        ("POST", "/v1/statements", b'{"statement": {}, "statement": {}}', JSON),
        ("POST", "/v1/statements", b"not json", JSON),
        ("POST", "/v1/statements", orjson.dumps(good), {"Content-Type": "text/plain"}),
        ("POST", "/v1/statements", orjson.dumps(query), JSON),
        ("POST", "/v1/queries", orjson.dumps(query), JSON),
        ("POST", "/v1/queries", orjson.dumps(query), JSON),  # the replay
        ("POST", "/v1/queries", orjson.dumps(refused_query), JSON),
        ("POST", "/v1/queries", orjson.dumps(good), JSON),
        ("GET", "/v1/statements", b"", {}),
        ("PUT", "/v1/queries", b"{}", JSON),
    ]


VOLATILE = ("statement_id", "position", "leaf_index", "recorded_at")


def _answer(r: Any) -> tuple[int, dict[str, str], Any]:
    """Status, the headers that carry meaning, and the body with each receipt's identity masked (the two
    passes append different statements)."""
    body = r.json()
    for receipt in (body, body.get("receipt")) if isinstance(body, dict) else ():
        if isinstance(receipt, dict) and "statement_id" in receipt:
            receipt.update({k: type(receipt[k]).__name__ for k in VOLATILE})
    headers = {k: r.headers[k] for k in ("content-type", "idempotent-replay", "allow") if k in r.headers}
    return r.status_code, headers, body


def _run(client: TestClient, cases: list[tuple[str, str, bytes, dict[str, str]]]) -> list[tuple[int, dict, Any]]:
    return [_answer(client.request(method, path, content=body, headers=headers))
            for method, path, body, headers in cases]


def test_fast_routes_come_first_as_plain_routes_and_the_fastapi_routes_stay_documented(world: World) -> None:
    app = create_app(world.settings)
    first = app.router.routes[:len(FAST)]
    assert first == fast_routes(app) and all(r.methods == {"POST"} for r in first)
    assert {r.path for r in first} == FAST
    paths = app.openapi()["paths"]
    for path in FAST:
        post = paths[path]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"]["required"] == [
            "statement", "key_id", "signature"]
        assert {"200", "401", "413", "415", "422"} <= set(post["responses"])


def test_fast_routes_answer_as_the_fastapi_routes_do(world: World) -> None:
    """Each case twice, on statements of the same shapes: through the fast routes, then with them taken out
    of the router; the answers, what served them and what the ledger stored must agree."""
    dept = world.department(purposes=["administrative_licensing"])
    subject = make_resident_id()
    with watched_client(world) as (client, watch):
        cases = _cases(world, dept, subject)
        before = world.ledger.count()
        fast = _run(client, cases)
        fast_added = world.ledger.count() - before
        assert watch.served == ["fast"] * len(cases)
        assert [a[0] for a in fast] == [201, 200, 401, 400, 400, 415, 422, 200, 200, 403, 422, 405, 405]
        assert fast[1][1]["idempotent-replay"] == "true" and fast[11][1]["allow"] == "POST"
        assert fast[7][2]["data"]["records"] == [] and fast[9][2]["receipt"]["outcome"]["status"] == "refused"

        watch.served.clear()
        again = _cases(world, dept, subject)
        before = world.ledger.count()
        with through_fastapi(watch.app):
            routed = _run(client, again)
        assert watch.served == ["fastapi"] * len(again)
        assert world.ledger.count() - before == fast_added == 3  # the record, the query, the refused query

        assert fast == routed
        assert watch.app.router.routes[:len(FAST)] == fast_routes(watch.app)


def test_fast_routes_take_what_the_dependencies_give(world: World) -> None:
    """An override of a dependency applies on the fast route as on the FastAPI route."""
    small = world.settings.model_copy(update={"max_body_bytes": 64})
    dept = world.department()
    body = orjson.dumps(world.submission(dept))
    with watched_client(world) as (client, watch):
        watch.app.dependency_overrides[get_settings] = lambda: small
        r = client.post("/v1/statements", content=body, headers=JSON)
        assert watch.served[-1] == "fast"
        assert r.status_code == 413 and r.json()["type"] == "urn:credit-ledger:problem:payload-too-large"
        with through_fastapi(watch.app):
            assert _answer(client.post("/v1/statements", content=body, headers=JSON)) == _answer(r)
            assert watch.served[-1] == "fastapi"
        watch.app.dependency_overrides.clear()
        assert client.post("/v1/statements", content=body, headers=JSON).status_code == 201
