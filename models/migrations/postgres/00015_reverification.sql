-- +goose Up
-- Every re-verification session Standing started, so that an entity gets at most one per
-- reverification_interval_days whatever its session's status becomes.
CREATE TABLE reverifications (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    entity_id      uuid NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    session_pk     uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    started_at     timestamptz NOT NULL
);
CREATE INDEX reverifications_entity ON reverifications (entity_id, started_at DESC);
-- The re-verification scan: an entity's approved sessions by time.
CREATE INDEX sessions_approved ON sessions (entity_id, status_at) WHERE status = 'Approved';

-- +goose Down
DROP INDEX sessions_approved;
DROP TABLE reverifications;
