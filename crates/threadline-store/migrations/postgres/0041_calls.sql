-- Phone calls through a voice inbox (threadline_domain::voice): one row per
-- call, keyed by the provider's call id, following the call through the
-- IVR and the queue; ended once, when the call's final status arrives (a
-- `call` interaction then joins the customer's timeline).
CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    inbox_id TEXT NOT NULL REFERENCES inboxes(id),
    call_sid TEXT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    direction TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    language TEXT,
    team_id TEXT,
    misses BIGINT NOT NULL DEFAULT 0,
    enqueued_at BIGINT,
    queue_secs BIGINT,
    voicemail BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    duration_secs BIGINT,
    recording_sid TEXT,
    agent_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE UNIQUE INDEX calls_sid ON calls(inbox_id, call_sid);
CREATE INDEX calls_contact ON calls(contact_id);
CREATE INDEX calls_conversation ON calls(conversation_id);
