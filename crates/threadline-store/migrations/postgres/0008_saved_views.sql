-- Inbox views each agent saves: a name and the inbox's filters as a URL
-- query (`status=open&assignee=mine&priority=urgent`), normalised by the API.
CREATE TABLE saved_views (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT saved_views_name_unique UNIQUE (user_id, name)
);
