-- +goose Up
-- The vendor's optional members of a created session (callback, callback_method, language,
-- contact_details, expected_details), returned as they were given.
ALTER TABLE sessions ADD COLUMN options text NOT NULL DEFAULT '{}';
-- Members of an upstream session event that Standing does not read, kept as sent.
ALTER TABLE sessions ADD COLUMN upstream text NOT NULL DEFAULT '{}';
-- A replaced ingest secret stays valid until previous_ingest_secret_expires_at.
ALTER TABLE applications ADD COLUMN previous_ingest_secret text;
ALTER TABLE applications ADD COLUMN previous_ingest_secret_expires_at datetime;

-- +goose Down
ALTER TABLE applications DROP COLUMN previous_ingest_secret_expires_at;
ALTER TABLE applications DROP COLUMN previous_ingest_secret;
ALTER TABLE sessions DROP COLUMN upstream;
ALTER TABLE sessions DROP COLUMN options;
