"""The site's pages, server-rendered from the same list reads as the JSON lists (``ArchiveView.public_list``).

Every page is complete HTML without scripts; its query parameters are read here (a bad one is a page saying
what is wrong, status 400). Pages carry an ``ETag`` over their bytes (``If-None-Match`` gives 304),
``Cache-Control: public, max-age=60`` as the JSON lists, and ``Vary: Accept-Language, Cookie``; a Content
Security Policy lets a page load nothing but the site's own style sheet and icon.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from jinja2 import Environment, PackageLoader, select_autoescape

from api.runtime import Views
from api.site.i18n import COOKIE, Attrs, format_date, format_time, texts
from api.site.pages import Catalogues, Reader, cookie_language, safe_next, view_of
from ledger.errors import ValidationError
from ledger.format.times import parse_date
from projections.archive_lists import SORTS, list_authorities, search_kind

PAGE_SIZE = 20
HOME_SIZE = 5
SEARCH_SIZE = 10
LISTS = ("black", "red")
CACHE = "public, max-age=60"
HEADERS = {
    "Vary": "Accept-Language, Cookie",
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                                "base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_CODE = re.compile(r"^[0-9A-Z]{18}$")
_ENTRY = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class BadInput(Exception):
    """A query parameter a page cannot use: the message key and its values."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class Site:
    """The templates and what the pages read once per catalogue version or list position."""

    def __init__(self) -> None:
        self.env = Environment(loader=PackageLoader("api.site", "templates"), autoescape=select_autoescape(default=True),
                               trim_blocks=True, lstrip_blocks=True, auto_reload=False)
        self.catalogues = Catalogues()
        self._authorities: dict[tuple[str, str, int], list[tuple[str, str]]] = {}

    def authorities(self, views: Views, listing: str, day: str, position: int) -> list[tuple[str, str]]:
        """The authorities with entries on a list, read once per list, day and archive position."""
        key = (listing, day, position)
        found = self._authorities.get(key)
        if found is None:
            if len(self._authorities) > 64:
                self._authorities.clear()
            found = self._authorities[key] = list_authorities(views.store, listing, datetime.fromisoformat(day).date())
        return found

    def page(self, request: Request, reader: Reader, template: str, status: int = 200, cache: str = CACHE,
             **values: Any) -> Response:
        body = self.env.get_template(template).render(**reader.context(), **values).encode("utf-8")
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {**HEADERS, "ETag": etag, "Cache-Control": cache if status == 200 else "no-cache"}
        if status == 200 and request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=headers)

    def error(self, request: Request, reader: Reader, status: int, message: str, back: str) -> Response:
        t = texts(reader.lang)
        return self.page(request, reader, "error.html", status, title=t["not_found" if status == 404 else "bad_request"],
                         message=message, back=back)


def reader_of(request: Request) -> Reader:
    return Reader.of(request.url.path, request.url.query, cookie_language(request.cookies.get(COOKIE)),
                     request.headers.get("accept-language"))


def today() -> str:
    """The day the lists are read for: the JSON lists' (UTC) day, so page and JSON show the same entries."""
    return datetime.now(timezone.utc).date().isoformat()


def list_filters(request: Request) -> Attrs:
    """A list page's filters from its query string (BadInput if one is unusable)."""
    params = request.query_params
    form = Attrs({name: params.get(name, "").strip()
                  for name in ("q", "field", "authority", "from", "to", "sort", "cursor")})
    if len(form["q"]) > 50 or len(form["field"]) > 64 or len(form["cursor"]) > 200:
        raise BadInput("err_long")
    if form["authority"] and not _CODE.match(form["authority"]):
        raise BadInput("err_authority")
    for name in ("from", "to"):
        if form[name]:
            try:
                parse_date(form[name])
            except ValidationError:
                raise BadInput("err_date", value=form[name]) from None
    if form["from"] and form["to"] and form["from"] > form["to"]:
        raise BadInput("err_range")
    form["sort"] = form["sort"] or SORTS[0]
    if form["sort"] not in SORTS:
        raise BadInput("err_sort")
    try:
        form["page"] = max(1, min(int(params.get("page", "1")), 1_000_000))
    except ValueError:
        form["page"] = 1
    return form


def search_notice(q: str, lang: str, views: Views, site: Site) -> tuple[str | None, bool]:
    """The notice a search text gets, and whether it is searched at all (never by ID number). A text that
    looks like a whole name is searched (only public, masked fields can match it) with a note saying so,
    unless it is a word of the catalogue's categories (食品药品)."""
    kind = search_kind(q) if q else ""
    t = texts(lang)
    if kind == "id":
        return t["search_refused_id"], False
    if kind == "name" and not site.catalogues.latest(views.store).mentions(q):
        return t["search_name_note"], True
    return None, True


def build(site: Site) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def views_of(request: Request) -> Views:
        return request.app.state.views

    def home(request: Request) -> Response:
        reader, views = reader_of(request), views_of(request)
        day = today()
        lists = []
        labels = None
        for listing in LISTS:
            page = views.archive.public_list(listing, datetime.fromisoformat(day).date(), limit=HOME_SIZE)
            labels = labels or site.catalogues.get(views.store, page.catalogue_version)
            lists.append((listing, view_of(page, reader.lang, labels)))
        return site.page(request, reader, "home.html", lists=lists, as_of=format_date(day, reader.lang))

    def list_page(request: Request, listing: str) -> Response:
        reader, views = reader_of(request), views_of(request)
        if listing not in LISTS:
            return site.error(request, reader, 404, texts(reader.lang)["not_found_text"], reader.href("/"))
        try:
            form = list_filters(request)
        except BadInput as bad:
            return site.error(request, reader, 400, texts(reader.lang)[bad.key].format(**bad.values),
                              reader.href(f"/lists/{listing}"))
        notice, searched = search_notice(form["q"], reader.lang, views, site)
        day = today()
        try:
            page = views.archive.public_list(
                listing, datetime.fromisoformat(day).date(), field=form["field"] or None,
                authority=form["authority"] or None, decided_from=form["from"] or None,
                decided_to=form["to"] or None, cursor=form["cursor"] or None,
                limit=PAGE_SIZE if searched else 1, sort=form["sort"], search=form["q"] if searched else None)
        except ValueError:
            return site.error(request, reader, 400, texts(reader.lang)["err_cursor"], reader.href(f"/lists/{listing}"))
        labels = site.catalogues.get(views.store, page.catalogue_version)
        view = view_of(page, reader.lang, labels, entries=searched)
        number = form["page"] if form["cursor"] else 1
        return site.page(
            request, reader, "list.html", listing=listing, view=view, form=form, notice=notice, page_number=number,
            fields=labels.field_choices(listing, reader.lang), sorts=SORTS, as_of=format_date(day, reader.lang),
            authorities=site.authorities(views, listing, day, page.position),
            next_url=reader.here(cursor=view["next_cursor"], page=str(number + 1)) if view["next_cursor"] else None,
            first_url=reader.here(cursor=None, page=None))

    def search(request: Request) -> Response:
        reader, views = reader_of(request), views_of(request)
        q = request.query_params.get("q", "").strip()
        if len(q) > 50:
            return site.error(request, reader, 400, texts(reader.lang)["err_long"], reader.href("/"))
        notice, searched = search_notice(q, reader.lang, views, site)
        day = today()
        lists = []
        for listing in LISTS:
            page = views.archive.public_list(listing, datetime.fromisoformat(day).date(),
                                             limit=SEARCH_SIZE if searched else 1, search=q if searched else None)
            labels = site.catalogues.get(views.store, page.catalogue_version)
            lists.append((listing, view_of(page, reader.lang, labels, entries=searched)))
        return site.page(request, reader, "search.html", lists=lists, q=q, notice=notice)

    def entry(request: Request, entry_id: str) -> Response:
        reader, views = reader_of(request), views_of(request)
        day = datetime.fromisoformat(today()).date()
        for listing in LISTS if _ENTRY.match(entry_id) else ():
            page = views.archive.public_list(listing, day, entry=entry_id, limit=1)
            if page.entries:
                labels = site.catalogues.get(views.store, page.catalogue_version)
                view = view_of(page, reader.lang, labels)
                return site.page(request, reader, "entry.html", listing=listing, view=view, e=view["entries"][0])
        # one answer for an id never listed and for an entry that left its list
        return site.error(request, reader, 404, texts(reader.lang)["not_found_text"], reader.href("/"))

    def guide(request: Request, name: str) -> Response:
        reader, views = reader_of(request), views_of(request)
        labels = site.catalogues.latest(views.store)
        rules = {"objection": labels.objection_rules, "repair": lambda: labels.repair_rules(reader.lang),
                 "access_log": lambda: labels.access_rules(reader.lang)}[name]()
        return site.page(request, reader, f"guide_{name}.html", rules=rules)

    def transparency(request: Request) -> Response:
        reader, views = reader_of(request), views_of(request)
        latest = views.checkpointer.latest()
        checkpoint = None
        if latest is not None:
            checkpoint = {"size": latest.size, "root": base64.b64encode(latest.root).decode("ascii"),
                          "time": latest.created_at}
        t = texts(reader.lang)
        return site.page(request, reader, "transparency.html", cache="no-cache", checkpoint=checkpoint,
                         checkpoint_time=format_time(latest.created_at, reader.lang) if latest else "",
                         note=latest.note if latest else "", verifier_key=views.checkpointer.verifier_key,
                         position=views.archive.position(), steps=[t[f"tr_step{n}"] for n in range(1, 6)])

    def threaded(handler: Any, *args: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return await asyncio.to_thread(handler, request, *[request.path_params[a] for a in args])
        return endpoint

    router.add_api_route("/", threaded(home), methods=["GET"])
    router.add_api_route("/lists/{listing}", threaded(list_page, "listing"), methods=["GET"])
    router.add_api_route("/search", threaded(search), methods=["GET"])
    router.add_api_route("/entries/{entry_id}", threaded(entry, "entry_id"), methods=["GET"])
    for path, name in (("objection", "objection"), ("repair", "repair"), ("access-log", "access_log")):
        router.add_api_route(f"/guide/{path}", threaded(lambda request, name=name: guide(request, name)),
                             methods=["GET"])
    router.add_api_route("/transparency", threaded(transparency), methods=["GET"])

    @router.get("/language")
    async def language(request: Request) -> Response:
        """Remember the language chosen (a cookie, a year) and go back to the page it was chosen on."""
        to = cookie_language(request.query_params.get("to"))
        response = Response(status_code=303, headers={"Location": safe_next(request.query_params.get("next")),
                                                      "Cache-Control": "no-store"})
        if to:
            response.set_cookie(COOKIE, to, max_age=365 * 86400, path="/", samesite="lax", httponly=True)
        return response

    return router
