-- Surveys (threadline_domain::survey): what an account asks after a
-- conversation, and each survey sent with its answer.
CREATE TABLE surveys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    active BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX surveys_account ON surveys(account_id, active);

-- One row per survey sent: at most one per survey and conversation. The
-- answer page's token is kept as a hash only.
CREATE TABLE survey_requests (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    survey_id TEXT NOT NULL REFERENCES surveys(id),
    kind TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    channel TEXT NOT NULL,
    agent_id TEXT,
    team_id TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    message_id TEXT,
    status TEXT NOT NULL,
    failure TEXT,
    sent_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    answered_at BIGINT,
    score BIGINT,
    answer_message_id TEXT,
    CONSTRAINT survey_requests_once UNIQUE (survey_id, conversation_id)
);
CREATE INDEX survey_requests_contact ON survey_requests(contact_id, sent_at);
CREATE INDEX survey_requests_account ON survey_requests(account_id, sent_at);
CREATE INDEX survey_requests_answer ON survey_requests(answer_message_id);
