-- Proof that an account controls an email address before mail for it is
-- routed to the account: either the operator assigned the address's domain
-- to the account, or someone who reads the mailbox typed in the code
-- Threadline mailed to it.

-- Domains the operator assigned to an account: any address at them is the
-- account's. A domain belongs to one account.
CREATE TABLE account_domains (
    domain TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX account_domains_account ON account_domains(account_id);

-- An email inbox's address and how it was proven: `pending` while a code
-- is out (only its hash is kept), `verified` once confirmed. A verified
-- address belongs to one inbox in the whole installation.
CREATE TABLE mail_addresses (
    inbox_id TEXT PRIMARY KEY REFERENCES inboxes(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    address TEXT NOT NULL,
    status TEXT NOT NULL,
    code_hash TEXT,
    code_expires_at BIGINT,
    attempts BIGINT NOT NULL,
    sends BIGINT NOT NULL,
    last_sent_at BIGINT,
    verified_at BIGINT
);
CREATE UNIQUE INDEX mail_addresses_verified ON mail_addresses(address) WHERE status = 'verified';
