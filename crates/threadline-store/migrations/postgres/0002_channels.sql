-- Messaging channels: the outbound outbox and message templates.

-- One row per outbound message Threadline sends through a provider, written
-- in the same transaction as the message. The dispatcher claims due rows
-- (queued → sending), and records the outcome (sent, or queued again with a
-- later next_attempt_at, or dead after the last attempt). A row found still
-- `sending` after its lease expired was interrupted mid-request: it is not
-- sent again (the provider may have it) but failed with that reason.
CREATE TABLE outbound_jobs (
    message_id TEXT PRIMARY KEY REFERENCES messages(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    inbox_id TEXT NOT NULL REFERENCES inboxes(id),
    recipient TEXT NOT NULL,
    -- JSON: {"template": {...}, "human_agent_tag": bool}
    options TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX outbound_jobs_due ON outbound_jobs(status, next_attempt_at);
CREATE INDEX outbound_jobs_account ON outbound_jobs(account_id, status, updated_at);

-- Approved message templates (WhatsApp): what may be sent outside the
-- customer-service window. `body` uses {{1}}, {{2}}… for its variables.
CREATE TABLE message_templates (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    channel TEXT NOT NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT NOT NULL,
    body TEXT NOT NULL,
    variables BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT message_templates_unique UNIQUE (account_id, channel, name, language)
);

-- Whether an agent is available: set by the agent (or their workspace's
-- heartbeat). `online` counts only while updated_at is recent.
CREATE TABLE agent_presence (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    status TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX agent_presence_account ON agent_presence(account_id, status, updated_at);

-- Delivery reports that arrived before the send they report on was recorded
-- (a provider may call back before its own answer to the send is read).
-- Applied when the send is recorded; forgotten after a day.
CREATE TABLE early_delivery_reports (
    inbox_id TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (inbox_id, provider_message_id, status)
);
CREATE INDEX early_delivery_reports_received ON early_delivery_reports(received_at);
