"""What the site's templates are given: the reader (language, links), the catalogue's labels, entries as shown.

Nothing here adds to what the JSON lists show: an entry is shown from its public-list entry alone, the
category (and a reason that is the category) in the reader's language from the catalogue's own titles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from api.site.guides import PURPOSE, REPAIR_METHOD, SEVERITY
from api.site.i18n import COOKIE, LANGUAGES, Attrs, format_date, format_time, negotiate, texts
from ledger.domain.catalogue import shipped_catalogue_document
from ledger.domain.queries import DEFAULT_PAGE
from projections.archive_lists import ListPage
from projections.store import Store

NAV = (("nav_home", "/"), ("nav_black", "/lists/black"), ("nav_red", "/lists/red"),
       ("nav_objection", "/guide/objection"), ("nav_repair", "/guide/repair"), ("nav_access", "/guide/access-log"),
       ("nav_transparency", "/transparency"))
# A path on this site: printable ASCII only (no control character can reach the Location header), no
# backslash, and not ``//`` (another host). Matched whole (``fullmatch``: ``$`` would allow a final newline).
_SAFE_NEXT = re.compile(r"/(?![/\\])[\x21-\x5b\x5d-\x7e]*")


@dataclass
class Reader:
    """Who a page is for: the language, whether the URL chose it, and where the page is."""

    lang: str
    explicit: bool
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, path: str, query: str, cookie: str | None, accept: str | None) -> Reader:
        params = parse_qsl(query, keep_blank_values=True)
        lang, explicit = negotiate(dict(params).get("lang"), cookie, accept)
        return cls(lang, explicit, path, params)

    def href(self, path: str, **params: str | None) -> str:
        """A link on the site, with the reader's ``lang`` when the URL chose it (the cookie holds it otherwise)."""
        pairs = [(k, v) for k, v in params.items() if v]
        if self.explicit:
            pairs.append(("lang", self.lang))
        return path + ("?" + urlencode(pairs) if pairs else "")

    def here(self, **changes: str | None) -> str:
        """This page's URL with some parameters changed (None drops one)."""
        pairs = [(k, v) for k, v in self.params if k not in changes and v != ""]
        pairs += [(k, v) for k, v in changes.items() if v]
        return self.path + ("?" + urlencode(pairs) if pairs else "")

    @property
    def switch_url(self) -> str:
        """The language switch: remember the other language (cookie) and come back to this page."""
        other = LANGUAGES[1 - LANGUAGES.index(self.lang)]
        back = self.path + ("?" + urlencode([(k, v) for k, v in self.params if k != "lang"])
                            if any(k != "lang" for k, _ in self.params) else "")
        return "/language?" + urlencode({"to": other, "next": back})

    def context(self) -> dict[str, Any]:
        return {"lang": self.lang, "explicit_lang": self.explicit, "t": texts(self.lang), "href": self.href,
                "switch_url": self.switch_url, "nav": NAV, "current": self.path}


def safe_next(target: str | None) -> str:
    """A path on this site to return to after the language switch (anything else: the home page)."""
    return target if target and _SAFE_NEXT.fullmatch(target) else "/"


def cookie_language(value: str | None) -> str | None:
    return value if value in LANGUAGES else None


@dataclass(frozen=True)
class Labels:
    """A catalogue's words, in both languages: field names, the Chinese item titles, the rules the guides cite."""

    version: int | None
    doc: dict[str, Any]
    fields: dict[str, dict[str, str]]  # language -> field code -> name
    listed_fields: dict[str, list[str]]  # list -> codes of the fields with items on it
    titles_zh: dict[str, str]  # item title -> its Chinese title

    @classmethod
    def of(cls, version: int | None, doc: dict[str, Any]) -> Labels:
        fields = {"zh-CN": {f["code"]: f.get("name_zh", f["code"]) for f in doc["fields"]},
                  "en": {f["code"]: f.get("name_en", f["code"]) for f in doc["fields"]}}
        listed = {listing: sorted({i["field"] for i in doc["items"] if i.get("listing") == listing and i["field"]})
                  for listing in ("black", "red")}
        return cls(version, doc, fields, listed, {i["title"]: i["title_zh"] for i in doc["items"] if i.get("title_zh")})

    def field_choices(self, listing: str, lang: str) -> list[tuple[str, str]]:
        return [(code, self.fields[lang].get(code, code)) for code in self.listed_fields[listing]]

    def mentions(self, text: str) -> bool:
        """Whether ``text`` is part of a category or field name of the catalogue (in Chinese)."""
        return any(text in name for name in (*self.titles_zh.values(), *self.fields["zh-CN"].values()))

    def category(self, title: str, lang: str) -> str:
        return self.titles_zh.get(title, title) if lang == "zh-CN" else title

    def objection_rules(self) -> dict[str, Any]:
        days = self.doc["objection_deadline_working_days"]
        return {"alone": int(days["alone"]), "verify": int(days["with_verification"]), "version": self.doc["version"]}

    def repair_rules(self, lang: str) -> dict[str, Any]:
        disclosure = self.doc["disclosure"]
        periods = [(s, SEVERITY[lang].get(s, s), int(disclosure[s]["min_months"]), int(disclosure[s]["max_months"]))
                   for s in self.doc["severities"] if s in disclosure]
        return {"periods": periods, "cap": int(disclosure["behaviour_cap_years"]),
                "methods": [(m, REPAIR_METHOD[lang].get(m, m)) for m in self.doc["repair_methods"]],
                "decision_days": int(self.doc.get("application_decision_working_days", 10)),
                "deferral_months": int(self.doc.get("deferral_max_months", 0))}

    def access_rules(self, lang: str) -> dict[str, Any]:
        return {"page": DEFAULT_PAGE, "purposes": [PURPOSE[lang][p] for p in self.doc["purposes"] if p in PURPOSE[lang]]}


class Catalogues:
    """The published catalogues' labels, read once per version from the archive's catalogue table."""

    def __init__(self) -> None:
        self._labels: dict[int | None, Labels] = {}

    def get(self, store: Store, version: int | None) -> Labels:
        labels = self._labels.get(version)
        if labels is None:
            rows = store.query("SELECT doc FROM view_catalogues WHERE version = %s", (version,)) if version else []
            # before the founding catalogue is projected, the one the ledger is founded with
            doc = orjson.loads(rows[0][0]) if rows else shipped_catalogue_document()
            labels = self._labels[version] = Labels.of(version, doc)
        return labels

    def latest(self, store: Store) -> Labels:
        rows = store.query("SELECT MAX(version) FROM view_catalogues")
        return self.get(store, rows[0][0] if rows else None)


def shown(entry: dict[str, Any], lang: str, labels: Labels) -> Attrs:
    """A public-list entry as a page shows it: the same fields, dates in the reader's form."""
    category = labels.category(entry["category"], lang)
    return Attrs({
        "id": entry["entry_id"], "name": entry["name"], "id_number": entry["id_number"], "category": category,
        "reason": category if entry["reason"] == entry["category"] else entry["reason"],
        "legal_basis": entry["legal_basis"], "authority": entry["authority"]["name"] or entry["authority"]["code"],
        "authority_code": entry["authority"]["code"], "document_number": entry["document_number"],
        "decision_date": entry["decision_date"], "public_until": entry["public_until"],
        "decided": format_date(entry["decision_date"], lang), "until": format_date(entry["public_until"], lang),
        "exit_conditions": entry["exit_conditions"], "remedies": entry["remedies"],
    })


def view_of(page: ListPage, lang: str, labels: Labels, entries: bool = True) -> Attrs:
    """A list page as the templates use it: its entries as shown, where it stands in the ledger."""
    return Attrs({
        "entries": [shown(e, lang, labels) for e in page.entries] if entries else [],
        "next_cursor": page.next_cursor if entries else None, "position": page.position,
        "checkpoint": page.checkpoint, "checkpoint_time": format_time(page.checkpoint.time, lang)
        if page.checkpoint else "",
    })


__all__ = ["COOKIE", "Catalogues", "Labels", "Reader", "cookie_language", "safe_next", "shown", "view_of"]
