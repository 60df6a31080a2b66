-- +goose Up
-- When the entity entered its current status (Standing's clock); sessions whose upstream
-- time is at or after it are enforced by that status.
ALTER TABLE entities ADD COLUMN status_changed_at timestamptz;
UPDATE entities SET status_changed_at = created_at;
-- The upstream time of the approved session the profile came from.
ALTER TABLE entities ADD COLUMN profile_at timestamptz;
-- For each feature, the upstream time of the session event that set it (unix seconds).
ALTER TABLE entities ADD COLUMN features_at jsonb NOT NULL DEFAULT '{}';

CREATE TABLE sessions (
    id              uuid PRIMARY KEY,
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    entity_id       uuid NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    session_id      text NOT NULL,
    kind            text NOT NULL,
    workflow_id     text NOT NULL DEFAULT '',
    status          text NOT NULL,
    reported_status text NOT NULL,
    status_reason   text NOT NULL DEFAULT '',
    status_at       timestamptz NOT NULL,
    decision        jsonb NOT NULL DEFAULT '{}',
    metadata        jsonb NOT NULL DEFAULT '{}',
    face_id         text,
    url             text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (entity_id, session_id)
);
CREATE INDEX sessions_by_session_id ON sessions (application_id, session_id, created_at DESC);
CREATE INDEX sessions_face ON sessions (application_id, face_id) WHERE face_id IS NOT NULL;

-- Every status event of a session, in the order of upstream time.
CREATE TABLE session_events (
    id              uuid PRIMARY KEY,
    session_pk      uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    inbox_id        uuid,
    reported_status text NOT NULL,
    status          text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    event_at        timestamptz NOT NULL,
    current         boolean NOT NULL,
    received_at     timestamptz NOT NULL
);
CREATE INDEX session_events_session ON session_events (session_pk, event_at, received_at);

CREATE TABLE lists (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    name           text NOT NULL,
    list_type      text NOT NULL CHECK (list_type IN ('blocklist', 'watchlist', 'allowlist')),
    entry_type     text NOT NULL CHECK (entry_type IN ('user', 'business', 'face', 'document', 'email', 'phone', 'name', 'country')),
    system         boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    UNIQUE (application_id, name)
);
CREATE UNIQUE INDEX lists_system ON lists (application_id, list_type, entry_type) WHERE system;

CREATE TABLE list_entries (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    list_id        uuid NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    list_type      text NOT NULL,
    entry_type     text NOT NULL,
    value          text NOT NULL,
    original_value text NOT NULL,
    note           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    UNIQUE (list_id, value)
);
CREATE INDEX list_entries_match ON list_entries (application_id, entry_type, value);

-- +goose Down
DROP TABLE list_entries;
DROP TABLE lists;
DROP TABLE session_events;
DROP TABLE sessions;
ALTER TABLE entities DROP COLUMN features_at;
ALTER TABLE entities DROP COLUMN profile_at;
ALTER TABLE entities DROP COLUMN status_changed_at;
