-- Who is responsible for an organisation (responsibility.recorded / responsibility.ended): the archive shows an
-- organisation's serious records in the archive of each person responsible at the time of the behaviour.
CREATE TABLE view_responsibilities (
    id TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    person TEXT NOT NULL,
    until TEXT,
    doc TEXT NOT NULL,
    position BIGINT NOT NULL
);
CREATE INDEX view_responsibilities_person ON view_responsibilities (person);
