"""The transparency log: leaf bytes, RFC 9162 Merkle hashes and proofs, C2SP signed notes and checkpoints.
Pure: bytes in, bytes out."""
