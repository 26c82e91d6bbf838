"""Identifiers: resident ID numbers (GB 11643-1999) and unified social credit codes (GB 32100-2015).

Pure functions. Validation raises ``IdentifierError`` with a message that says what is wrong.
"""

from __future__ import annotations

from datetime import date

RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_CHECK = "10X98765432"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


class IdentifierError(ValueError):
    """An identifier is malformed or its check character is wrong."""


_DIGIT_OFFSET = ord("0") * sum(RESIDENT_WEIGHTS)  # the weighted sum of the digits' character codes, less this


def resident_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character over the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("a resident ID's check digit is computed over 17 ASCII digits")
    total = sum(map(int.__mul__, first17.encode("ascii"), RESIDENT_WEIGHTS)) - _DIGIT_OFFSET
    return RESIDENT_CHECK[total % 11]


def birth_date(resident_id: str) -> date:
    """Birth date encoded in positions 7-14 of an 18-character resident ID."""
    text = resident_id[6:14]
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise IdentifierError(f"resident ID {mask_resident_id(resident_id)}: {text} is not a real birth date") from None


def validate_resident_id(value: str, *, today: date | None = None) -> str:
    """Return the normalised (upper-case X) 18-character resident ID, or raise IdentifierError."""
    if not isinstance(value, str):
        raise IdentifierError("resident ID must be a string")
    rid = value.upper()
    if len(rid) != 18 or not rid[:17].isdigit() or not (rid[17].isdigit() or rid[17] == "X"):
        raise IdentifierError("resident ID must be 17 digits followed by a digit or X")
    if not rid.isascii():
        raise IdentifierError("resident ID must be ASCII digits")
    born = birth_date(rid)
    if born.year < 1900 or (today is not None and born > today):
        raise IdentifierError(f"resident ID {mask_resident_id(rid)}: birth date {born.isoformat()} is out of range")
    expected = resident_check_digit(rid[:17])
    if rid[17] != expected:
        raise IdentifierError(f"resident ID {mask_resident_id(rid)}: wrong check digit (expected {expected})")
    return rid


def upgrade_legacy_resident_id(value: str) -> str:
    """Turn a legacy 15-digit ID into its 18-character form ("19" before the year, check digit added)."""
    if len(value) != 15 or not value.isdigit() or not value.isascii():
        raise IdentifierError("a legacy resident ID is 15 digits")
    first17 = value[:6] + "19" + value[6:]
    rid = first17 + resident_check_digit(first17)
    birth_date(rid)
    return rid


def mask_resident_id(value: str) -> str:
    """First 4 and last 4 characters kept, the rest starred (e.g. 3702**********123X)."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_name(name: str) -> str:
    """First character kept, the rest replaced by one star."""
    return (name[:1] + "*") if name else ""


_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character over the first 17 characters."""
    if len(first17) != 17:
        raise ValueError("a unified social credit code's check character is computed over 17 characters")
    try:
        total = sum(map(int.__mul__, map(_USCC_VALUE.__getitem__, first17), USCC_WEIGHTS))
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not in the code alphabet") from None
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str, *, overrides: frozenset[str] = frozenset()) -> str:
    """Return a valid unified social credit code, or raise IdentifierError.

    ``overrides`` lists codes the authority admitted in spite of a failing check character
    (real registries hold a few); a code is never passed silently otherwise.
    """
    if not isinstance(value, str):
        raise IdentifierError("unified social credit code must be a string")
    code = value.upper()
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        raise IdentifierError(
            "unified social credit code must be 18 characters from 0-9 and A-Y without I, O, S, V, Z"
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected and code not in overrides:
        raise IdentifierError(f"unified social credit code {code}: wrong check character (expected {expected})")
    return code


def age_on(resident_id: str, when: date) -> int:
    """Age in whole years on ``when`` from the ID's birth date."""
    born = birth_date(resident_id)
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))
