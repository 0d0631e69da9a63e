-- The agent workspace: canned responses, answers agents reuse. `shortcut`
-- is how an agent finds one (unique in the account); `body` may use the
-- variables of threadline_domain::canned.
CREATE TABLE canned_responses (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    shortcut TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT canned_responses_shortcut_unique UNIQUE (account_id, shortcut)
);
