-- Customer events in: what customers do on a site or in an app, received
-- through the Segment-compatible tracking API (threadline_domain::tracking).

-- A source of tracking calls: one write key (stored hashed) per site or app.
-- `kind` is 'browser' (a key published in web pages: its identify traits
-- only enrich) or 'server' (a secret key: traits may identify a customer).
CREATE TABLE tracking_sources (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX tracking_sources_account ON tracking_sources(account_id);

-- One row per call. `message_id` deduplicates for as long as the event is
-- kept; `kind` is the call type, `name` the event or page name.
CREATE TABLE customer_events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    kind TEXT NOT NULL,
    name TEXT,
    properties TEXT NOT NULL,
    context TEXT NOT NULL,
    message_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    CONSTRAINT customer_events_message_unique UNIQUE (account_id, message_id)
);
CREATE INDEX customer_events_contact ON customer_events(contact_id, occurred_at);
CREATE INDEX customer_events_name ON customer_events(account_id, name, occurred_at);
