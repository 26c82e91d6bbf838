"""``/v1/log``: the transparency log's checkpoints, proofs and leaf hashes (public, read-only)."""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from api.deps import ViewsDep
from api.openapi import READ_PROBLEMS
from api.problems import RangeError
from ledger.errors import NotFoundError

I64 = 2**63 - 1  # sizes and indexes are 64-bit in the database: larger ones are refused as invalid (422)

router = APIRouter(prefix="/v1/log", tags=["transparency log"], responses=READ_PROBLEMS)
MAX_LEAF_HASHES = 1000


def b64(h: bytes) -> str:
    return base64.b64encode(h).decode("ascii")


def _note(text: str) -> Response:
    return PlainTextResponse(text, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})


async def _run(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return await asyncio.to_thread(fn, *args)
    except ValueError as exc:
        raise RangeError(str(exc)) from None


@router.get("/checkpoint", summary="The latest signed checkpoint (C2SP signed note)", response_class=PlainTextResponse)
async def latest_checkpoint(views: ViewsDep) -> Response:
    cp = await asyncio.to_thread(views.checkpointer.latest)
    if cp is None:
        raise NotFoundError("no checkpoint has been made yet")
    return _note(cp.note)


@router.post("/checkpoint", summary="Make a checkpoint of the log as it is now", response_class=PlainTextResponse)
async def make_checkpoint(views: ViewsDep) -> Response:
    await asyncio.to_thread(views.tree.catch_up_all)
    await asyncio.to_thread(views.checkpointer.make)
    return await latest_checkpoint(views)


@router.get("/checkpoints", summary="One checkpoint by size (signed note), or a page of them (JSON)")
async def checkpoints(
    views: ViewsDep,
    size: Annotated[int | None, Query(ge=0, le=I64, description="the checkpoint of exactly this tree size")] = None,
    after: Annotated[int, Query(ge=-1, le=I64)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    if size is not None:
        cp = await asyncio.to_thread(views.checkpointer.at, size)
        if cp is None:
            raise NotFoundError(f"no checkpoint of size {size}")
        return _note(cp.note)
    page = await asyncio.to_thread(views.checkpointer.page, after, limit)
    return Response(orjson.dumps({
        "checkpoints": [{"size": c.size, "root": b64(c.root), "created_at": c.created_at} for c in page],
        "next_after": page[-1].size if len(page) == limit else None,
    }), media_type="application/json")


@router.get("/proof/inclusion", summary="Inclusion proof of a leaf (by index or statement id) in a tree size")
async def inclusion_proof(
    views: ViewsDep,
    tree_size: Annotated[int | None, Query(ge=1, le=I64, description="default: the latest checkpoint's size")] = None,
    leaf_index: Annotated[int | None, Query(ge=0, le=I64)] = None,
    statement_id: Annotated[UUID | None, Query()] = None,
) -> dict[str, object]:
    if (leaf_index is None) == (statement_id is None):
        raise RangeError("give exactly one of leaf_index and statement_id")
    if statement_id is not None:
        leaf_index = await asyncio.to_thread(views.tree.leaf_index_of, str(statement_id))
        if leaf_index is None:
            raise NotFoundError(f"statement {statement_id} is not in the ledger")
    if tree_size is None:
        cp = await asyncio.to_thread(views.checkpointer.latest)
        if cp is None:
            raise NotFoundError("no checkpoint has been made yet")
        tree_size = cp.size
    assert leaf_index is not None
    proof = await _run(views.tree.inclusion_proof, leaf_index, tree_size)
    (leaf,) = await asyncio.to_thread(views.tree.leaf_hashes, leaf_index, leaf_index + 1)
    return {"leaf_index": leaf_index, "tree_size": tree_size, "leaf_hash": b64(leaf), "proof": [b64(h) for h in proof]}


@router.get("/proof/consistency", summary="Consistency proof between two tree sizes")
async def consistency_proof(
    views: ViewsDep, first: Annotated[int, Query(ge=0, le=I64)], second: Annotated[int, Query(ge=0, le=I64)],
) -> dict[str, object]:
    proof = await _run(views.tree.consistency_proof, first, second)
    return {"first": first, "second": second, "proof": [b64(h) for h in proof]}


@router.get("/leaf-hashes", summary=f"Leaf hashes of leaves start..end-1 (at most {MAX_LEAF_HASHES})")
async def leaf_hashes(
    views: ViewsDep, start: Annotated[int, Query(ge=0, le=I64)], end: Annotated[int, Query(ge=1, le=I64)],
) -> dict[str, object]:
    if not start < end <= start + MAX_LEAF_HASHES:
        raise RangeError(f"need start < end <= start + {MAX_LEAF_HASHES}")
    size = await asyncio.to_thread(views.tree.size)
    if end > size:
        raise RangeError(f"end {end} is beyond the log's current size {size}")
    hashes = await asyncio.to_thread(views.tree.leaf_hashes, start, end)
    return {"start": start, "end": end, "leaf_hashes": [b64(h) for h in hashes]}


@router.get("/verifier-key", summary="The log's verifier key (C2SP signed-note format)", response_class=PlainTextResponse)
async def verifier_key(views: ViewsDep) -> Response:
    return _note(views.checkpointer.verifier_key + "\n")
