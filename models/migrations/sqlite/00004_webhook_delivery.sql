-- +goose Up
-- When the next attempt is due, until when an attempt in flight owns the delivery, and
-- when the current cycle of attempts began (a resend starts a new one).
ALTER TABLE deliveries ADD COLUMN next_attempt_at datetime;
ALTER TABLE deliveries ADD COLUMN attempting_until datetime;
ALTER TABLE deliveries ADD COLUMN cycle_started_at datetime;
UPDATE deliveries SET next_attempt_at = created_at, cycle_started_at = created_at;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_failed ON deliveries (destination_id, created_at) WHERE state = 'failed';

ALTER TABLE delivery_attempts ADD COLUMN event_id text;
ALTER TABLE delivery_attempts ADD COLUMN webhook_type text NOT NULL DEFAULT '';
ALTER TABLE delivery_attempts ADD COLUMN attempt integer NOT NULL DEFAULT 1;

CREATE INDEX outbox_events_type ON outbox_events (application_id, type, created_at);

-- +goose Down
DROP INDEX outbox_events_type;
ALTER TABLE delivery_attempts DROP COLUMN attempt;
ALTER TABLE delivery_attempts DROP COLUMN webhook_type;
ALTER TABLE delivery_attempts DROP COLUMN event_id;
DROP INDEX deliveries_failed;
DROP INDEX deliveries_due;
ALTER TABLE deliveries DROP COLUMN cycle_started_at;
ALTER TABLE deliveries DROP COLUMN attempting_until;
ALTER TABLE deliveries DROP COLUMN next_attempt_at;
