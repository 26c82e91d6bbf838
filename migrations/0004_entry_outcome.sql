-- A query's entry keeps the ledger's decision (accepted, or refused with the reason) as JSON text.
ALTER TABLE ledger_entries ADD COLUMN outcome text;
