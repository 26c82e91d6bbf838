"""Personal data in text meant for the public: finding it, and masking it. Pure.

Free text a department writes for publication (a disclosure's ``public_reason``, ``exit_conditions``
and ``remedies``) and the record fields shown on a public list must not identify anyone beyond the
masked name and ID the list itself shows. ``screen`` names the kinds of personal data a text holds
(never the matched text); ``mask`` replaces each occurrence with a placeholder. The kinds:

- ``resident_id``: a resident-ID-like number, 18 characters (17 digits and a digit or ``X``) or an old
  15-digit one, with a plausible birth date where the ID carries it (the check digit is not required:
  a mistyped ID still identifies);
- ``phone``: a mainland mobile number (``1[3-9]`` and 9 more digits, ``+86`` allowed), a landline with
  its area code (``0532-88888888``, ``(0532) 8888 8888``), or a 7–8 digit number right after a word
  such as 电话 or "phone";
- ``bank_card``: 13–19 digits passing the Luhn check;
- ``email``: an e-mail address;
- ``name``: the subject's name (spacing and case ignored; for names in parts, each part of two or more
  characters too).

Numbers may be written in groups separated by single spaces, hyphens, dots or dashes; text is compared
after Unicode compatibility normalisation (full-width digits and ``＠`` count) with invisible format
characters ignored. The screen is a safeguard, not a guarantee: a department stays responsible for
what it writes for publication.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ledger.errors import ValidationError
from ledger.format.identifiers import mask_name

KINDS = ("resident_id", "phone", "bank_card", "email", "name")
WORDS = {
    "resident_id": "a resident ID number",
    "phone": "a phone number",
    "bank_card": "a bank card number",
    "email": "an e-mail address",
    "name": "the subject's name",
}
PLACEHOLDERS = {"resident_id": "[ID number]", "phone": "[phone]", "bank_card": "[bank card]", "email": "[e-mail]"}
PUBLIC_TEXT_FIELDS = ("public_reason", "exit_conditions", "remedies")
"""The fields of ``record.disclosed`` written for publication."""

_SEP = r"(?:\) ?|[ \-.\u2010-\u2015])"
_RUN = re.compile(r"(?<![0-9])[0-9]+(?:" + _SEP + r"[0-9]+)*(?:[Xx](?![A-Za-z0-9]))?")
_GROUP = re.compile(r"[0-9]+[Xx]?")
_MOBILE = re.compile(r"(?:86)?1[3-9][0-9]{9}")
_LANDLINE = re.compile(r"(?:0|860?)[1-9][0-9]{8,10}")
_SHORT_PHONE = re.compile(r"[1-9][0-9]{6,7}")
_PHONE_WORD = re.compile(r"(?:电话|手机|座机|联系|致电|传真|热线|tel|phone|mobile|call|fax)[^0-9]{0,6}$", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_NAME_SEP = r"[\s·•.\-]*"
_LATIN = re.compile(r"[A-Za-z]")


class Finding(NamedTuple):
    """One occurrence of personal data: its kind and where it is in the original text."""

    kind: str
    start: int
    end: int


def screen(text: str, subject_name: str | Iterable[str] | None = None) -> list[str]:
    """The kinds of personal data ``text`` holds (in ``KINDS`` order, each once); never the text itself.

    ``subject_name`` is the subject's name, or all the names a record has held."""
    found = {f.kind for f in find(text, subject_name)}
    return [k for k in KINDS if k in found]


def mask(text: str, subject_name: str | Iterable[str] | None = None) -> str:
    """``text`` with every occurrence of personal data replaced: numbers and addresses by a placeholder
    naming their kind (``[phone]``), the subject's name by its masked form (``王*``)."""
    findings = find(text, subject_name)
    if not findings:
        return text
    names = _names(subject_name)
    merged: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if merged and f.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Finding(last.kind, last.start, max(last.end, f.end))
        else:
            merged.append(f)
    out = []
    at = 0
    for f in merged:
        out.append(text[at:f.start])
        out.append(mask_name(names[0]) if f.kind == "name" else PLACEHOLDERS[f.kind])
        at = f.end
    out.append(text[at:])
    return "".join(out)


def refuse_personal_data(values: Mapping[str, Any], subject_name: str | Iterable[str] | None,
                         fields: Iterable[str] = PUBLIC_TEXT_FIELDS) -> None:
    """Raise ValidationError naming the first of ``fields`` whose text holds personal data, and its
    kinds (never the data)."""
    for field in fields:
        value = values.get(field)
        if isinstance(value, str):
            kinds = screen(value, subject_name)
            if kinds:
                raise ValidationError(
                    f"{field} holds personal data ({', '.join(WORDS[k] for k in kinds)}): text written for "
                    "publication may not identify anyone; the list shows only the masked name and ID")


def find(text: str, subject_name: str | Iterable[str] | None = None) -> list[Finding]:
    """Every occurrence of personal data in ``text``, by kind and place (overlaps possible)."""
    norm, origin = _normalise(text)
    spans: list[tuple[str, int, int]] = []
    for run in _RUN.finditer(norm):
        spans += _numbers(norm, run)
    spans += [("email", m.start(), m.end()) for m in _EMAIL.finditer(norm)]
    for pattern in _name_patterns(_names(subject_name)):
        spans += [("name", m.start(), m.end()) for m in pattern.finditer(norm)]
    return sorted((Finding(kind, origin[a], origin[b - 1] + 1) for kind, a, b in spans), key=lambda f: (f.start, f.end))


def luhn(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_resident_id_like(value: str) -> bool:
    """18 characters (17 digits and a digit or X) or 15 digits, with a plausible birth date in place."""
    if len(value) == 18 and value[:17].isdigit() and (value[17].isdigit() or value[17] in "Xx"):
        year, month, day = value[6:10], value[10:12], value[12:14]
        return value[0] != "0" and year[:2] in ("18", "19", "20") and _month_day(month, day)
    if len(value) == 15 and value.isdigit():
        return value[0] != "0" and _month_day(value[8:10], value[10:12])
    return False


def _month_day(month: str, day: str) -> bool:
    return 1 <= int(month) <= 12 and 1 <= int(day) <= 31


def _normalise(text: str) -> tuple[str, list[int]]:
    """Compatibility-normalised text without format characters, and each of its characters' index in
    ``text``."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            chars.append(ch)
            origin.append(i)
            continue
        if unicodedata.category(ch) == "Cf":  # zero-width and other invisible characters
            continue
        for c in unicodedata.normalize("NFKC", ch):
            chars.append(c)
            origin.append(i)
    return "".join(chars), origin


def _classify(digits: str, sizes: list[int], before: str) -> str | None:
    """The kind of a number made of groups of ``sizes`` characters (``before``: the text before it)."""
    if is_resident_id_like(digits):
        return "resident_id"
    if not digits.isdigit():
        return None
    if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
        return "phone"
    if 13 <= len(digits) <= 19 and all(n >= 4 for n in sizes[:-1]) and luhn(digits):
        return "bank_card"  # written whole or in groups of four or more (not, say, a date and a number)
    if _SHORT_PHONE.fullmatch(digits) and _PHONE_WORD.search(before):
        return "phone"
    return None


_PRIORITY = {"resident_id": 0, "phone": 1, "bank_card": 2}


def _numbers(norm: str, run: re.Match[str]) -> list[tuple[str, int, int]]:
    """The personal numbers in one run of digit groups: each a whole number of consecutive groups,
    resident IDs first, then the longest (a phone before a card of the same length), not overlapping."""
    groups = [(run.start() + g.start(), run.start() + g.end(), g.group()) for g in _GROUP.finditer(run.group())]
    candidates = []
    for i in range(len(groups)):
        digits = ""
        for j in range(i, len(groups)):
            if "X" in digits.upper():  # an X ends an ID; nothing follows it
                break
            digits += groups[j][2]
            if len(digits) > 19:
                break
            sizes = [len(g[2]) for g in groups[i:j + 1]]
            kind = _classify(digits, sizes, norm[max(0, groups[i][0] - 16):groups[i][0]])
            if kind is not None:
                candidates.append((kind != "resident_id", -len(digits), _PRIORITY[kind], groups[i][0], groups[j][1],
                                   kind))
    taken: list[tuple[str, int, int]] = []
    for *_, start, end, kind in sorted(candidates):
        if all(end <= a or start >= b for _, a, b in taken):
            if start > 0 and norm[start - 1] in "(+" and kind == "phone":  # "(0532) ...", "+86 ..."
                start -= 1
            taken.append((kind, start, end))
    return taken


def _names(subject_name: str | Iterable[str] | None) -> list[str]:
    if subject_name is None:
        return []
    if isinstance(subject_name, str):
        return [subject_name] if subject_name.strip() else []
    return [n for n in dict.fromkeys(subject_name) if isinstance(n, str) and n.strip()]


def _name_patterns(names: list[str]) -> list[re.Pattern[str]]:
    """Patterns for each name as a whole (any spacing, any case) and for each part of a name in parts."""
    patterns = []
    for name in names:
        norm, _ = _normalise(name)
        parts = [p for p in re.split(r"[\s·•.\-]+", norm) if p]
        whole = "".join(parts)
        wanted = [whole] + (parts if len(parts) > 1 else [])
        for part in dict.fromkeys(wanted):
            if len(part) < 2:
                continue
            body = _NAME_SEP.join(re.escape(c) for c in part)
            head = r"(?<![A-Za-z])" if _LATIN.match(part[0]) else ""
            tail = r"(?![A-Za-z])" if _LATIN.match(part[-1]) else ""
            patterns.append(re.compile(head + body + tail, re.IGNORECASE))
    return patterns
