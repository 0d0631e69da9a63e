-- Privacy and governance: erasure, legal hold, retention.

-- An erased contact stays as a tombstone (so conversations and reports
-- keep their counts) with no personal data and the time it was erased. A
-- contact on legal hold is exempt from retention and cannot be erased.
ALTER TABLE contacts ADD COLUMN erased_at BIGINT;
ALTER TABLE contacts ADD COLUMN legal_hold BIGINT NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN legal_hold_reason TEXT;

-- How long an account keeps each class of data (threadline_domain::retention),
-- optionally per channel. `channel` is '' for every channel, so the key is
-- a plain primary key on both engines.
CREATE TABLE retention_policies (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    data_class TEXT NOT NULL,
    channel TEXT NOT NULL,
    days BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, data_class, channel)
);

-- What a purge removes, oldest first, without scanning the tables. Time
-- leads: an index led by account_id would look, to SQLite's planner, as
-- good as the contact or conversation index for "this contact's latest
-- messages" — and walk the whole account instead.
CREATE INDEX messages_created ON messages(created_at, account_id);
CREATE INDEX attachments_created ON attachments(created_at, account_id);
CREATE INDEX events_occurred ON events(occurred_at, account_id);
