-- +goose Up
-- One row per run of a periodic job (purge, reverify, …) and period: the unique
-- (job, bucket) makes a period's run happen once whatever the number of work processes;
-- a run that died (its lease ran out before it finished) is taken over and redone.
-- `standing purge` records its one-off passes here too (trigger 'command').
CREATE TABLE job_runs (
    id          uuid PRIMARY KEY,
    job         text NOT NULL,
    bucket      text NOT NULL,
    trigger     text NOT NULL,
    attempts    integer NOT NULL DEFAULT 1,
    counts      jsonb NOT NULL DEFAULT '{}',
    error       text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    lease_until timestamptz NOT NULL,
    finished_at timestamptz,
    UNIQUE (job, bucket)
);
CREATE INDEX job_runs_recent ON job_runs (job, started_at DESC);

-- Entities purged while some of their webhook events still had pending deliveries: a
-- later pass removes those events once they are no longer pending.
CREATE TABLE purge_leftovers (
    entity_id      uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    purged_at      timestamptz NOT NULL
);

-- The purge's scan of deleted entities.
CREATE INDEX entities_deleted ON entities (application_id, deleted_at) WHERE deleted_at IS NOT NULL;

-- Audit records outlive their entity: a purge turns them into tombstones (SPEC section
-- 2) instead of deleting them, so deleting the entity must not cascade to them.
-- Migration 00010 (the audit chain) drops this foreign key too; IF EXISTS makes the two
-- agree in either order of merging. (On SQLite only 00010 can: it rebuilds the table.)
ALTER TABLE status_changes DROP CONSTRAINT IF EXISTS status_changes_entity_id_fkey;

-- +goose Down
DROP INDEX entities_deleted;
DROP TABLE purge_leftovers;
DROP TABLE job_runs;
