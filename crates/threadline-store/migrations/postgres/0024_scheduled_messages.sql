-- Messages an agent wrote to be sent later ("tomorrow at 9:00 on
-- WhatsApp"): sent by a job at `send_at` under the channel's rules then.
CREATE TABLE scheduled_messages (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    author_id TEXT NOT NULL REFERENCES users(id),
    channel TEXT,
    inbox_id TEXT,
    text TEXT NOT NULL,
    send_at BIGINT NOT NULL,
    -- scheduled, sent, failed (with failure), cancelled
    status TEXT NOT NULL,
    message_id TEXT,
    failure TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX scheduled_messages_conversation ON scheduled_messages(conversation_id, send_at);
