-- Contacts with the same name, whatever the case, accents, spacing or word
-- order, share a `name_key` (threadline_domain::contact::name_match_key),
-- so the conversation page finds them through an index. Existing contacts
-- get theirs when the store starts (Store::migrate).
ALTER TABLE contacts ADD COLUMN name_key TEXT;
CREATE INDEX contacts_name_key ON contacts(account_id, name_key);
