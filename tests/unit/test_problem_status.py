"""Refusals carry their reason (slug, title); the API alone decides their HTTP status."""

from __future__ import annotations

import inspect

import pytest

import keys.errors
import ledger.errors
from api.problems import (
    STATUS,
    PayloadTooLargeError,
    RangeError,
    UnsupportedMediaTypeError,
    problem_of,
    status_of,
)
from ledger.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    IntegrityFailure,
    LedgerError,
    MalformedError,
    NotFoundError,
    QueryExpiredError,
    QueryRefusedError,
    RuleError,
    UnavailableError,
    ValidationError,
    WrongLedgerError,
)

ANSWERS = [
    (LedgerError("x"), 400), (MalformedError("x"), 400), (ValidationError("x"), 422),
    (AuthenticationError("x"), 401), (ForbiddenError("x"), 403), (RuleError("x"), 422), (NotFoundError("x"), 404),
    (ConflictError("x"), 409), (UnavailableError("x"), 503), (QueryExpiredError("x", None), 403),
    (IntegrityFailure("x"), 500), (QueryRefusedError("x"), 403), (WrongLedgerError("x"), 403),
    (PayloadTooLargeError("x"), 413), (UnsupportedMediaTypeError("x"), 415), (RangeError("x"), 400),
]


@pytest.mark.parametrize("exc,status", ANSWERS, ids=[type(e).__name__ for e, _ in ANSWERS])
def test_each_refusal_answers_with_its_status(exc, status):
    assert status_of(exc) == status
    assert problem_of(exc) == {"type": "urn:credit-ledger:problem:" + exc.slug, "title": exc.title,
                               "status": status, "detail": "x"}


def test_errors_of_the_ledger_and_keys_carry_no_status():
    for module in (ledger.errors, keys.errors):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Exception) and cls.__module__ == module.__name__:
                assert not hasattr(cls, "status"), cls
                assert isinstance(cls.slug, str)


def test_subclasses_come_before_their_parents_and_unlisted_ones_answer_as_their_parent():
    order = list(STATUS)
    for i, cls in enumerate(order):
        assert not any(issubclass(later, cls) and later is not cls for later in order[i + 1:]), cls

    class Unlisted(ConflictError):
        slug = "unlisted"

    assert status_of(Unlisted("x")) == 409


def test_a_key_refusal_keeps_its_own_slug_and_its_class_status():
    err = AuthenticationError("key ed25519:00 is not registered")
    err.slug = "unknown-key"
    assert problem_of(err)["type"].endswith(":unknown-key") and problem_of(err)["status"] == 401
