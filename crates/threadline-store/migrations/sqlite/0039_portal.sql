-- The customer's self-service portal on the help pages
-- (threadline_domain::portal). A sign-in code is kept as a hash, for one
-- identity the account knows, with its tries; a session is kept as the
-- hash of its cookie, with the token its forms repeat against CSRF.
CREATE TABLE portal_codes (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    identity_kind TEXT NOT NULL,
    identity_value TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    tries BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at BIGINT
);
CREATE INDEX portal_codes_identity ON portal_codes(account_id, identity_kind, identity_value, created_at);
CREATE INDEX portal_codes_contact ON portal_codes(contact_id);

CREATE TABLE portal_sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    identity_kind TEXT NOT NULL,
    identity_value TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX portal_sessions_contact ON portal_sessions(contact_id);
