"""How the busiest endpoints read a body: the declared media type and length, taken from the raw headers."""

from __future__ import annotations

import orjson

from tests.support import World

P = "urn:credit-ledger:problem:"


def test_the_media_type_is_json_unless_declared_otherwise(client, world: World) -> None:
    dept = world.department()
    body = orjson.dumps(world.submission(dept))
    assert client.post("/v1/statements", content=body).status_code == 201  # no Content-Type: JSON
    again = orjson.dumps(world.submission(dept))
    assert client.post("/v1/statements", content=again,
                       headers={"Content-Type": "Application/JSON; charset=utf-8"}).status_code == 201
    empty = client.post("/v1/statements", content=orjson.dumps(world.submission(dept)), headers={"Content-Type": ""})
    assert empty.status_code == 415 and empty.json()["type"] == P + "unsupported-media-type"
    assert empty.json()["detail"] == "send application/json, not "


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(client, world: World) -> None:
    limit = world.settings.max_body_bytes
    r = client.post("/v1/statements", content=b"{}", headers={"Content-Type": "application/json",
                                                              "Content-Length": str(limit + 1)})
    assert r.status_code == 413 and r.json()["detail"] == (
        f"body of {limit + 1} bytes exceeds the limit of {limit} bytes")
