-- The language a user chose for the workspace (`en`, `it`); NULL follows
-- the browser's preference.
ALTER TABLE users ADD COLUMN language TEXT;
