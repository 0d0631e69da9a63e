-- A conversation's messages by time, with what measuring reads of each
-- (kind, direction, sender, channel, inbox, automation, account): the
-- metrics refresh and the roll-up's day marks read a conversation's
-- history from this index alone instead of visiting every message's row
-- (rows scattered across the table: one page read per message). It
-- replaces the index of the same name, whose columns it starts with.
DROP INDEX messages_conversation;
CREATE INDEX messages_conversation ON messages(conversation_id, created_at, id, kind, direction, sender_kind, channel, inbox_id, automated, account_id);
