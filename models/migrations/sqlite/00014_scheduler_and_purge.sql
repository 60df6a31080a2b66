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

-- The audit records' foreign key to entities is dropped by migration 00010 (the audit
-- chain, which rebuilds status_changes): a purge tombstones them, then deletes the entity.

-- +goose Down
DROP INDEX entities_deleted;
DROP TABLE purge_leftovers;
DROP TABLE job_runs;
