"""Hostile input from schemathesis against a real server: no 5xx, every response matches the OpenAPI.

Each operation of the served OpenAPI document gets its own test, driven by schemathesis' strategies
through hypothesis directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from tests.reliability.harness import Server, free_port
from tests.support import World

# No 5xx, and every response (status, media type, body) as the OpenAPI document says. The document
# describes statements loosely (their fields depend on the type), so "schema-valid data is accepted"
# is not one of the checks: refusing such data with a 4xx problem is the ledger's job.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

OPERATIONS = [
    ("POST", "/v1/statements"), ("POST", "/v1/statements/batch"), ("POST", "/v1/queries"), ("GET", "/healthz"),
    ("GET", "/v1/public/lists/{listing}"), ("GET", "/v1/log/checkpoint"), ("POST", "/v1/log/checkpoint"),
    ("GET", "/v1/log/checkpoints"), ("GET", "/v1/log/proof/inclusion"), ("GET", "/v1/log/proof/consistency"),
    ("GET", "/v1/log/leaf-hashes"), ("GET", "/v1/log/verifier-key"), ("GET", "/v1/report/verifier-key"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from api.settings import Settings

    world = World(Settings(data_dir=tmp_path_factory.mktemp("schemathesis") / "data"))
    dept = world.department()
    world.append_ok(world.submission(dept))
    world.close()
    server = Server(world.settings, free_port())
    server.start()
    try:
        yield schemathesis.openapi.from_url(server.url + "/openapi.json")
    finally:
        server.stop()


def test_every_operation_is_covered(served):
    found = {(op.ok().method.upper(), op.ok().path) for op in served.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize("method,path", OPERATIONS)
def test_operation_conforms_and_never_fails(served, method, path):
    operation = served[path][method]

    @given(operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):  # type: ignore[no-untyped-def]
        case.call_and_validate(checks=CHECKS)

    run()
