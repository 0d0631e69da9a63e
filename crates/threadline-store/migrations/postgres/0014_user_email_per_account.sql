-- A user's e-mail is unique within their account, not across the
-- installation: a global constraint told one account's admin that another
-- account has that user.
ALTER TABLE users DROP CONSTRAINT users_email_key;
ALTER TABLE users ADD CONSTRAINT users_account_email_unique UNIQUE (account_id, email);
CREATE INDEX users_email ON users(email);
