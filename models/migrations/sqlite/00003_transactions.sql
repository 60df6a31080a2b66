-- +goose Up
CREATE TABLE transactions (
    id                        text PRIMARY KEY,
    application_id            text NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    transaction_id            text NOT NULL,
    subject_kind              text NOT NULL,
    subject_vendor_data       text NOT NULL,
    subject_id                text REFERENCES entities (id) ON DELETE CASCADE,
    counterparty_kind         text,
    counterparty_vendor_data  text,
    counterparty_id           text REFERENCES entities (id) ON DELETE SET NULL,
    -- The amount exactly as sent, its currency, and its value in the default currency in
    -- whole millionths (exact integer sums for the volume rule).
    amount                    text NOT NULL,
    currency                  text NOT NULL,
    default_currency          text NOT NULL,
    amount_default_micros     integer NOT NULL,
    direction                 text NOT NULL,
    transaction_at            datetime NOT NULL,
    metadata                  text NOT NULL DEFAULT '{}',
    status                    text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'IN_REVIEW', 'DECLINED')),
    score                     integer NOT NULL DEFAULT 0,
    matched_rules             text NOT NULL DEFAULT '[]',
    status_reason             text NOT NULL DEFAULT '',
    reviewed_by               text NOT NULL DEFAULT '',
    review_reason             text NOT NULL DEFAULT '',
    evaluated_at              datetime,
    created_at                datetime NOT NULL,
    updated_at                datetime NOT NULL,
    UNIQUE (application_id, transaction_id)
);
-- The velocity and volume windows: a subject's transactions by time.
CREATE INDEX transactions_window ON transactions (application_id, subject_kind, subject_vendor_data, transaction_at);
CREATE INDEX transactions_listing ON transactions (application_id, created_at, id);

-- +goose Down
DROP TABLE transactions;
