-- Each entry names the key that signed it, so the entries of a key's compromise window (from its
-- revocation's effective_at until the revocation) are found without decoding the whole history.
ALTER TABLE ledger_entries ADD COLUMN key_id text;

-- Entries already in the ledger: the key id from their event's stored JSON (an encrypted or compressed
-- state is left without it). The append-only trigger is lifted for this one filling-in.
ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;
UPDATE ledger_entries n
   SET key_id = convert_from(e.state, 'UTF8')::jsonb ->> 'key_id'
  FROM ledger_events e
 WHERE e.notification_id = n.notification_id AND get_byte(e.state, 0) = 123;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only;

CREATE INDEX ledger_entries_key_id ON ledger_entries (key_id, notification_id);
