-- +goose Up
-- See the PostgreSQL migration of the same number.
CREATE TABLE reverifications (
    id             text PRIMARY KEY,
    application_id text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    entity_id      text NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    session_pk     text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    started_at     datetime NOT NULL
);
CREATE INDEX reverifications_entity ON reverifications (entity_id, started_at DESC);
CREATE INDEX sessions_approved ON sessions (entity_id, status_at) WHERE status = 'Approved';

-- +goose Down
DROP INDEX sessions_approved;
DROP TABLE reverifications;
