-- The audit log becomes a hash chain per account (threadline_domain::audit):
-- each entry is numbered (`seq`) and carries the hash of the entry before
-- it (`prev_hash`) and its own (`hash`). `audit_heads` holds each chain's
-- last number and hash, so appending is one read and one write. Entries
-- from before are chained when the store starts (Store::migrate); once
-- chained, an entry cannot be changed.
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_seq ON audit_log(account_id, seq);

CREATE TABLE audit_heads (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log WHEN old.hash IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
