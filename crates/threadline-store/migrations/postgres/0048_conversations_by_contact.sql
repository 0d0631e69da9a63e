-- A customer's conversations by time, found by the customer alone (the
-- account is checked on each row found): the batch ingest looks up each
-- returning customer's latest conversation, and with the account leading
-- this index PostgreSQL could take an equality on the account alone for
-- an account newer than its statistics and walk every conversation of
-- the account. Replaces the index of the same name.
DROP INDEX conversations_contact;
CREATE INDEX conversations_contact ON conversations(contact_id, last_activity_at);
