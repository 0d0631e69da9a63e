-- A user's e-mail is unique within their account, not across the
-- installation: a global constraint told one account's admin that another
-- account has that user. SQLite cannot drop a column constraint and the
-- table must be rebuilt with foreign keys switched off, which is only
-- possible outside a transaction: `Store::migrate` does it in code just
-- before this migration (see `rebuild_users_table`). What is left here is
-- the index sign-in looks users up by.
CREATE INDEX IF NOT EXISTS users_email ON users(email);
