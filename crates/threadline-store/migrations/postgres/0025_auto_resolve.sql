-- Pending conversations (waiting on the customer) with no message for
-- this many days are resolved automatically; NULL: never.
ALTER TABLE accounts ADD COLUMN auto_resolve_pending_days BIGINT;
