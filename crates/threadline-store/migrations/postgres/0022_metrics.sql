-- Measurement (threadline_domain::metrics, docs/metrics.md).

-- What happened to a conversation's status that its current row no longer
-- shows: each resolution, reopening and bot handoff, and who did it.
CREATE TABLE conversation_changes (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    change TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX conversation_changes_conversation ON conversation_changes(conversation_id, at);

-- One row per conversation with what its history says (first response,
-- resolution, reopenings, channels, bot, SLA), rebuilt after each change.
CREATE TABLE conversation_metrics (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    contact_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    priority TEXT NOT NULL,
    team_id TEXT,
    assignee_id TEXT,
    category TEXT,
    inbox_id TEXT,
    first_channel TEXT,
    answer_channel TEXT,
    first_customer_at BIGINT,
    first_response_at BIGINT,
    first_response_secs BIGINT,
    first_response_business_secs BIGINT,
    reply_waits BIGINT NOT NULL,
    reply_secs BIGINT NOT NULL,
    reply_business_secs BIGINT NOT NULL,
    customer_messages BIGINT NOT NULL,
    agent_messages BIGINT NOT NULL,
    bot_messages BIGINT NOT NULL,
    automatic_messages BIGINT NOT NULL,
    channel_switches BIGINT NOT NULL,
    resolved_at BIGINT,
    resolution_secs BIGINT,
    resolution_business_secs BIGINT,
    first_resolved_at BIGINT,
    resolutions BIGINT NOT NULL,
    reopens BIGINT NOT NULL,
    customer_after_resolution BIGINT NOT NULL,
    bot_involved BIGINT NOT NULL,
    handed_off BIGINT NOT NULL,
    resolved_by_bot BIGINT NOT NULL,
    sla_clocks BIGINT NOT NULL,
    sla_met BIGINT NOT NULL,
    refreshed_at BIGINT NOT NULL
);
CREATE INDEX conversation_metrics_created ON conversation_metrics(account_id, created_at);
CREATE INDEX conversation_metrics_resolved ON conversation_metrics(account_id, first_resolved_at);
CREATE INDEX conversation_metrics_contact ON conversation_metrics(account_id, contact_id, first_customer_at);

-- Conversations whose metrics row is out of date: written with the change.
CREATE TABLE metrics_dirty (
    conversation_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    since BIGINT NOT NULL
);

-- What came before: resolutions and handoffs the current rows still show,
-- and every conversation to measure.
INSERT INTO conversation_changes (id, account_id, conversation_id, change, actor_kind, at)
SELECT 'resolved:' || c.id, c.account_id, c.id, 'resolved',
       CASE WHEN EXISTS (SELECT 1 FROM bot_sessions b WHERE b.conversation_id = c.id AND b.status = 'resolved') THEN 'bot' ELSE 'user' END,
       c.resolved_at
FROM conversations c WHERE c.status = 'resolved' AND c.resolved_at IS NOT NULL;
INSERT INTO conversation_changes (id, account_id, conversation_id, change, actor_kind, at)
SELECT 'handed_off:' || b.conversation_id, b.account_id, b.conversation_id, 'handed_off', 'bot', COALESCE(b.ended_at, b.updated_at)
FROM bot_sessions b WHERE b.status = 'handed_off';
INSERT INTO metrics_dirty (conversation_id, account_id, since) SELECT id, account_id, updated_at FROM conversations;
