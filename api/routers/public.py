"""``/v1/public/lists``: the red and black lists, masked, within their disclosure windows; anonymous."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timezone
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import ViewsDep
from api.openapi import READ_PROBLEMS
from api.problems import RangeError
from ledger.errors import ValidationError
from ledger.format.times import parse_date
from projections.archive_lists import occupational_groups, public_list_page

router = APIRouter(prefix="/v1/public/lists", tags=["public lists"], responses=READ_PROBLEMS)
DATE = r"^\d{4}-\d{2}-\d{2}$"
Sort = Literal["-decision_date", "decision_date", "authority"]


@router.get(
    "/{listing}",
    summary="A public list (black: serious untrustworthy; red: trustworthy), one page",
    description=(
        "Entries on the list today: masked name and ID number, category, reason, legal basis, deciding authority "
        "and its code, document number, decision date and the date publication ends. Minors are never listed; "
        "entries leave at expiry, repair, revocation or correction away. Newest decisions first, or in the `sort` "
        "order; pass `next_cursor` back as `cursor` (with the same `sort`) for the next page. `position` is the "
        "ledger position the page reflects (an auditor's `as_of_lists` query at that position gives the same "
        "entries) and `checkpoint` the latest signed checkpoint when it was read (`size`, `root` in base64, `time`), "
        "both read with the entries. `occupational_group` (one of the latest catalogue's `occupational_groups` "
        "codes; any other is refused, `422`, naming them) keeps the records given that group in their `details`. "
        "Answers carry an `ETag` (send `If-None-Match`)."
    ),
)
async def public_list(
    listing: Literal["black", "red"],
    request: Request,
    views: ViewsDep,
    field: Annotated[str | None, Query(max_length=64, description="catalogue field code, e.g. food_drug")] = None,
    authority: Annotated[str | None, Query(pattern=r"^[0-9A-Z]{18}$", description="deciding department's code")] = None,
    decided_from: Annotated[str | None, Query(alias="from", pattern=DATE)] = None,
    decided_to: Annotated[str | None, Query(alias="to", pattern=DATE)] = None,
    occupational_group: Annotated[str | None, Query(
        max_length=64, description="one of the latest catalogue's occupational groups, e.g. teacher")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    sort: Annotated[Sort, Query(description="-decision_date (newest first), decision_date (oldest first), "
                                            "authority (by the deciding authority's name)")] = "-decision_date",
) -> Response:
    today = datetime.now(timezone.utc).date()
    for value in (decided_from, decided_to):
        if value is not None:
            try:
                parse_date(value)
            except ValidationError:
                raise RangeError(f"{value} is not a real date") from None
    if occupational_group is not None:
        version, groups = await asyncio.to_thread(occupational_groups, views.archive.store)
        if occupational_group not in groups:
            raise ValidationError(
                f"occupational_group {occupational_group!r} is not one of catalogue v{version}'s occupational groups"
                f" ({', '.join(groups) if groups else 'it lists none'})")
    try:
        page = await asyncio.to_thread(
            public_list_page, views.archive.store, listing, today, field=field, authority=authority,
            decided_from=decided_from, decided_to=decided_to, cursor=cursor, limit=limit, sort=sort,
            occupational_group=occupational_group)
    except ValueError as exc:
        raise RangeError(str(exc)) from None
    # The tag covers what the page lists, not the position it was read at: while the entries stay the same a
    # cached answer stays right (its position still gives these entries), though the ledger moves on. The
    # entries are serialised once, for the tag and the body.
    entries = orjson.dumps(page.entries)
    tag = hashlib.sha256(entries)
    tag.update(orjson.dumps([listing, today.isoformat(), page.next_cursor, occupational_group]))
    etag = '"' + tag.hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=60"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    body = orjson.dumps({"list": listing, "as_of": today.isoformat(), "entries": orjson.Fragment(entries),
                         "next_cursor": page.next_cursor, "position": page.position,
                         "checkpoint": page.checkpoint.as_json() if page.checkpoint else None})
    return Response(body, media_type="application/json", headers=headers)
