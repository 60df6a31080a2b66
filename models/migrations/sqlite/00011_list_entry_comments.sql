-- +goose Up
-- A list entry carries who added it and why (SPEC section 6); both go into the audit
-- record of any status change the entry causes. Name entries may carry a date of birth,
-- which a screening hit must then match.
ALTER TABLE list_entries RENAME COLUMN note TO comment;
ALTER TABLE list_entries ADD COLUMN actor text NOT NULL DEFAULT '';
ALTER TABLE list_entries ADD COLUMN date_of_birth text;

-- +goose Down
ALTER TABLE list_entries DROP COLUMN date_of_birth;
ALTER TABLE list_entries DROP COLUMN actor;
ALTER TABLE list_entries RENAME COLUMN comment TO note;
