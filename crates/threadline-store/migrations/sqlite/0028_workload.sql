-- When agents were available: one row per stretch of one status, extended
-- by each heartbeat that finds it still fresh (see PRESENCE_TTL); a gap or
-- a change of status starts a new one. Occupancy reads the online ones.
CREATE TABLE presence_spans (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    status TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX presence_spans_user ON presence_spans(user_id, last_seen_at);
CREATE INDEX presence_spans_account ON presence_spans(account_id, last_seen_at);

-- The account's unit prices per channel (JSON, threadline_domain::workload::UnitCosts).
ALTER TABLE accounts ADD COLUMN unit_costs TEXT;
