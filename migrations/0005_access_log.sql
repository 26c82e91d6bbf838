-- The access log: one row per query, accepted or refused, in ledger order.
CREATE TABLE access_log (
    position bigint PRIMARY KEY,
    query_id text NOT NULL UNIQUE,
    issued_at text NOT NULL,
    recorded_at text NOT NULL,
    department text NOT NULL,
    operator text NOT NULL,
    subject text,
    purpose text NOT NULL,
    scope text NOT NULL,
    legal_basis text NOT NULL,
    authorisation_ref text,
    justification text,
    status text NOT NULL,
    reason text
);
CREATE INDEX access_log_subject ON access_log (subject, position);
CREATE INDEX access_log_department ON access_log (department, position);
CREATE INDEX access_log_operator ON access_log (operator, position);
CREATE INDEX access_log_purpose ON access_log (purpose, position);
CREATE INDEX access_log_issued_at ON access_log (issued_at);
