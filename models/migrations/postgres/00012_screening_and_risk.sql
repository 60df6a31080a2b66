-- +goose Up
-- Risk signals (SPEC section 2): the score and the signals behind it, recomputed in the
-- transaction of each change that alters them.
ALTER TABLE entities ADD COLUMN risk_score integer NOT NULL DEFAULT 0;
ALTER TABLE entities ADD COLUMN risk_signals jsonb NOT NULL DEFAULT '[]';
-- A `name` entry's date of birth (YYYY-MM-DD): when set, a hit needs the same date.
-- Issue 11 adds the same column; IF NOT EXISTS lets either migration come first.
ALTER TABLE list_entries ADD COLUMN IF NOT EXISTS date_of_birth text;

-- Ongoing AML monitoring: every hit of a `name` entry on an entity, once per pair.
CREATE TABLE screening_hits (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    entity_id      uuid NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    entry_id       uuid NOT NULL,
    list_id        uuid NOT NULL,
    list_type      text NOT NULL,
    value          text NOT NULL,
    matched_name   text NOT NULL,
    score          double precision NOT NULL,
    created_at     timestamptz NOT NULL,
    UNIQUE (entity_id, entry_id)
);
CREATE INDEX screening_hits_application ON screening_hits (application_id, created_at);
-- The entities ongoing monitoring screens, walked in id order.
CREATE INDEX entities_screened ON entities (application_id, id) WHERE deleted_at IS NULL AND approved_count > 0;
CREATE INDEX list_entries_names ON list_entries (application_id, entry_type, list_type) WHERE entry_type = 'name';

-- +goose Down
DROP INDEX list_entries_names;
DROP INDEX entities_screened;
DROP TABLE screening_hits;
ALTER TABLE entities DROP COLUMN risk_signals;
ALTER TABLE entities DROP COLUMN risk_score;
