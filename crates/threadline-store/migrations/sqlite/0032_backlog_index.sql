-- The backlog (unresolved conversations by status and age) is counted
-- from this index alone: creation time joins the status index, which
-- stays one index to write.
DROP INDEX conversations_account_status;
CREATE INDEX conversations_account_status ON conversations(account_id, status, last_activity_at, created_at);
