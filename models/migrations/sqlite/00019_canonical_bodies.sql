-- +goose Up
-- See the PostgreSQL migration of the same number: event bodies written in canonical
-- form are marked so, and a delivery attempt signs them as they are.
ALTER TABLE outbox_events ADD COLUMN body_canonical boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE outbox_events DROP COLUMN body_canonical;
