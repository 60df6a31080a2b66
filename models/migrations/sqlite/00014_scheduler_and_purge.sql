-- +goose Up
-- See the PostgreSQL migration of the same number.
CREATE TABLE job_runs (
    id          text PRIMARY KEY,
    job         text NOT NULL,
    bucket      text NOT NULL,
    "trigger"   text NOT NULL,
    attempts    integer NOT NULL DEFAULT 1,
    counts      text NOT NULL DEFAULT '{}',
    error       text NOT NULL DEFAULT '',
    started_at  datetime NOT NULL,
    lease_until datetime NOT NULL,
    finished_at datetime,
    UNIQUE (job, bucket)
);
CREATE INDEX job_runs_recent ON job_runs (job, started_at DESC);

CREATE TABLE purge_leftovers (
    entity_id      text PRIMARY KEY,
    application_id text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    purged_at      datetime NOT NULL
);

CREATE INDEX entities_deleted ON entities (application_id, deleted_at) WHERE deleted_at IS NOT NULL;

-- Audit records outlive their entity (tombstones, SPEC section 2): SQLite cannot drop a
-- foreign key, so the table is rebuilt without the cascade from entities. No table
-- references status_changes, so dropping it is safe with foreign keys on.
CREATE TABLE status_changes_new (
    id             text PRIMARY KEY,
    application_id text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    entity_id      text NOT NULL,
    from_status    text,
    to_status      text NOT NULL,
    reason         text NOT NULL DEFAULT '',
    actor          text NOT NULL DEFAULT '',
    rule           text NOT NULL DEFAULT '',
    created_at     datetime NOT NULL
);
INSERT INTO status_changes_new (id, application_id, entity_id, from_status, to_status, reason, actor, rule, created_at)
    SELECT id, application_id, entity_id, from_status, to_status, reason, actor, rule, created_at FROM status_changes;
DROP TABLE status_changes;
ALTER TABLE status_changes_new RENAME TO status_changes;
CREATE INDEX status_changes_entity ON status_changes (entity_id, created_at);

-- +goose Down
DROP INDEX entities_deleted;
DROP TABLE purge_leftovers;
DROP TABLE job_runs;
