-- Email: what a message carries beyond its body, and where IMAP polling is.

-- The subject (email), the quoted history separated from the new text, why
-- a message was written by a machine (an out-of-office, a mailing list,
-- a bounce: Threadline never answers those automatically), and what could
-- not be read in it (JSON list; the raw message is then kept as an
-- attachment).
ALTER TABLE messages ADD COLUMN subject TEXT;
ALTER TABLE messages ADD COLUMN quoted_text TEXT;
ALTER TABLE messages ADD COLUMN automated TEXT;
ALTER TABLE messages ADD COLUMN problems TEXT;

-- An email's inline image: the Content-ID its HTML refers to as `cid:…`.
ALTER TABLE attachments ADD COLUMN content_id TEXT;

-- How far an inbox's IMAP mailbox has been read: every message with a UID
-- up to last_uid under this UIDVALIDITY is stored. A new UIDVALIDITY (the
-- mailbox was rebuilt) starts again from the beginning; messages seen
-- before are recognised by their Message-ID.
CREATE TABLE imap_cursors (
    inbox_id TEXT PRIMARY KEY REFERENCES inboxes(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    mailbox TEXT NOT NULL,
    uid_validity BIGINT NOT NULL,
    last_uid BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
