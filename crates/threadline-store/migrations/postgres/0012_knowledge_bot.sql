-- The knowledge base and the bot.

-- Articles and FAQs (`kind`), in one language each. Deleting one keeps its
-- row (deleted_at) so every node's search index learns it is gone.
CREATE TABLE kb_articles (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    language TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    keywords TEXT NOT NULL,
    published BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX kb_articles_account ON kb_articles(account_id, language, title);
CREATE INDEX kb_articles_changes ON kb_articles(updated_at, id);

-- The bot of an inbox (JSON: mode `builtin` or `external`, the agent bot,
-- thresholds); none: conversations go straight to people.
ALTER TABLE inboxes ADD COLUMN bot TEXT;

-- External bots (Rasa, Botpress, a custom service) plugged in through the
-- Agent Bot API: where Threadline posts, the signing secret (sealed), and
-- the hash of the token the bot answers with.
CREATE TABLE agent_bots (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX agent_bots_account ON agent_bots(account_id);

-- A bot's part in a conversation: what it remembers (JSON), and how it
-- ended — `resolved` by the bot or `handed_off` to people, with why and a
-- summary for the agent. The input of the bot deflection rate.
CREATE TABLE bot_sessions (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    inbox_id TEXT,
    bot TEXT NOT NULL,
    status TEXT NOT NULL,
    memory TEXT NOT NULL,
    category TEXT,
    handoff_reason TEXT,
    summary TEXT,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_answer_at BIGINT,
    ended_at BIGINT
);
CREATE INDEX bot_sessions_account ON bot_sessions(account_id, status, started_at);
CREATE INDEX bot_sessions_open ON bot_sessions(status, last_answer_at);

-- Customer messages a bot must answer, written with the message (so none
-- is lost to a crash) and claimed by the bot worker like the outbox.
CREATE TABLE bot_jobs (
    message_id TEXT PRIMARY KEY REFERENCES messages(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX bot_jobs_due ON bot_jobs(status, next_attempt_at);
