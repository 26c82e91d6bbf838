-- Every subject whose data a query concerns: the subject it names, and, for an accepted query, every
-- subject whose data its answer returned (an auditor's ledger entries, a page of the access log).
-- The subject's own access log reads through it, newest first.
CREATE TABLE access_log_subjects (
    position bigint NOT NULL,
    subject text NOT NULL,
    PRIMARY KEY (position, subject)
);
CREATE INDEX access_log_subjects_subject ON access_log_subjects (subject, position);

-- The access log is rebuilt from the first event, so that the queries already in it get their links.
DELETE FROM access_log;
DELETE FROM projection_positions WHERE name = 'access_log';
