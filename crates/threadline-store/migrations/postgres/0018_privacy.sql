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

-- What a purge removes, oldest first, without scanning the tables.
CREATE INDEX messages_account_created ON messages(account_id, created_at);
CREATE INDEX attachments_account_created ON attachments(account_id, created_at);
CREATE INDEX events_account_occurred ON events(account_id, occurred_at);
