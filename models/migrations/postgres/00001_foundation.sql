-- +goose Up
CREATE TABLE applications (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    ingest_secret text NOT NULL,
    settings      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    prefix         text NOT NULL,
    hash           text NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL,
    revoked_at     timestamptz
);
CREATE INDEX api_keys_application ON api_keys (application_id);

CREATE TABLE entities (
    id                  uuid PRIMARY KEY,
    application_id      uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('user', 'business')),
    vendor_data         text NOT NULL,
    status              text NOT NULL CHECK (status IN ('ACTIVE', 'FLAGGED', 'BLOCKED')),
    status_reason       text,
    session_count       integer NOT NULL DEFAULT 0,
    approved_count      integer NOT NULL DEFAULT 0,
    declined_count      integer NOT NULL DEFAULT 0,
    in_review_count     integer NOT NULL DEFAULT 0,
    features            jsonb NOT NULL DEFAULT '{}',
    metadata            jsonb NOT NULL DEFAULT '{}',
    full_name           text,
    display_name        text,
    date_of_birth       text,
    portrait_image      text,
    nationality         text,
    document_number     text,
    email               text,
    phone               text,
    legal_name          text,
    registration_number text,
    country_code        text,
    region              text,
    event_sequence      bigint NOT NULL DEFAULT 0,
    first_session_at    timestamptz,
    last_session_at     timestamptz,
    last_activity_at    timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    deleted_at          timestamptz
);
-- One live entity per (application, kind, vendor_data); deleted ones are kept until purged.
CREATE UNIQUE INDEX entities_live_vendor_data ON entities (application_id, kind, vendor_data) WHERE deleted_at IS NULL;
CREATE INDEX entities_vendor_data ON entities (application_id, kind, vendor_data, created_at DESC);
CREATE INDEX entities_listing ON entities (application_id, kind, created_at DESC, id DESC) WHERE deleted_at IS NULL;

CREATE TABLE status_changes (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    entity_id      uuid NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    from_status    text,
    to_status      text NOT NULL,
    reason         text NOT NULL DEFAULT '',
    actor          text NOT NULL DEFAULT '',
    rule           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL
);
CREATE INDEX status_changes_entity ON status_changes (entity_id, created_at);

CREATE TABLE activities (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    entity_id      uuid NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    type           text NOT NULL,
    details        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL
);
CREATE INDEX activities_entity ON activities (entity_id, created_at DESC, id DESC);

-- The inbox: every acknowledged request that a worker applies later.
CREATE TABLE inbox (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    task_type      text NOT NULL,
    dedup_key      text,
    payload        jsonb NOT NULL,
    state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'applied', 'failed')),
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    enqueued_at    timestamptz NOT NULL,
    applied_at     timestamptz
);
CREATE UNIQUE INDEX inbox_dedup ON inbox (application_id, task_type, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX inbox_pending ON inbox (enqueued_at) WHERE state = 'pending';

-- The outbox: every webhook event, with the exact body that is signed and sent.
CREATE TABLE outbox_events (
    id             uuid PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    entity_id      uuid,
    type           text NOT NULL,
    sequence       bigint NOT NULL DEFAULT 0,
    body           text NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX outbox_events_listing ON outbox_events (application_id, created_at, id);
CREATE INDEX outbox_events_entity ON outbox_events (entity_id, sequence);

CREATE TABLE webhook_destinations (
    id                          uuid PRIMARY KEY,
    application_id              uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    url                         text NOT NULL,
    label                       text NOT NULL DEFAULT '',
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    subscribed_events           jsonb NOT NULL DEFAULT '[]',
    enabled                     boolean NOT NULL DEFAULT true,
    failing_since               timestamptz,
    disabled_reason             text NOT NULL DEFAULT '',
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL,
    UNIQUE (application_id, url)
);

CREATE TABLE deliveries (
    id              uuid PRIMARY KEY,
    application_id  uuid NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    event_id        uuid NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
    destination_id  uuid NOT NULL REFERENCES webhook_destinations (id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_status     integer,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    enqueued_at     timestamptz NOT NULL,
    delivered_at    timestamptz,
    UNIQUE (event_id, destination_id)
);
CREATE INDEX deliveries_pending ON deliveries (enqueued_at) WHERE state = 'pending';
CREATE INDEX deliveries_destination ON deliveries (destination_id, created_at DESC);

CREATE TABLE delivery_attempts (
    id               uuid PRIMARY KEY,
    delivery_id      uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    destination_id   uuid NOT NULL REFERENCES webhook_destinations (id) ON DELETE CASCADE,
    request_url      text NOT NULL,
    request_headers  jsonb NOT NULL DEFAULT '{}',
    response_status  integer,
    response_body    text NOT NULL DEFAULT '',
    response_time_ms integer NOT NULL DEFAULT 0,
    error            text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL
);
CREATE INDEX delivery_attempts_destination ON delivery_attempts (destination_id, created_at DESC);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, created_at);

-- +goose Down
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE webhook_destinations;
DROP TABLE outbox_events;
DROP TABLE inbox;
DROP TABLE activities;
DROP TABLE status_changes;
DROP TABLE entities;
DROP TABLE api_keys;
DROP TABLE applications;
