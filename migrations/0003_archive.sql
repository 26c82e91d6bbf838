-- Read models of the archive projection: one document per record, departments, catalogues.

CREATE TABLE archive_records (
    record_id text PRIMARY KEY,
    subject text NOT NULL,
    issuer text NOT NULL,
    field text,
    kind text NOT NULL,
    list text,
    public_until text,
    decision_date text NOT NULL,
    minor smallint NOT NULL,
    repaired smallint NOT NULL,
    revoked smallint NOT NULL,
    doc text NOT NULL,
    position bigint NOT NULL
);
CREATE INDEX archive_records_subject ON archive_records (subject);
CREATE INDEX archive_records_list ON archive_records (list, decision_date, record_id);

CREATE TABLE view_departments (
    code text PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE view_catalogues (
    version integer PRIMARY KEY,
    doc text NOT NULL
);
