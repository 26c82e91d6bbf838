"""The signed format: strict JSON and canonical bytes, statements and envelopes, identifiers, timestamps.
Pure: no I/O, no clock."""
