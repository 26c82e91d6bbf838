"""Errors of the keys layer. Each carries a short problem slug used by the API."""


class KeyError_(Exception):
    """Base of the keys layer's errors (the trailing underscore avoids the builtin)."""

    slug = "key-error"


class KeyFileError(KeyError_):
    """A private key file is missing, malformed or readable by others."""

    slug = "key-file"


class SignatureError(KeyError_):
    """A signature does not verify against the statement's canonical bytes."""

    slug = "bad-signature"


class UnknownKeyError(KeyError_):
    """The key id is not in the registry."""

    slug = "unknown-key"


class KeyNotValidError(KeyError_):
    """The key exists but may not sign this statement (other department, not yet valid, revoked)."""

    slug = "key-not-valid"


class KeyRevokedError(KeyNotValidError):
    """The key's revocation is in the ledger: it signs nothing new."""

    slug = "key-revoked"
