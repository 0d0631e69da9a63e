-- The answers a message offers to tap (a survey's scores), as a JSON list
-- of {id, title, description}: the web and in-app chat show them as buttons.
ALTER TABLE messages ADD COLUMN choices TEXT;
