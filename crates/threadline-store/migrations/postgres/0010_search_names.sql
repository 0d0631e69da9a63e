-- Searching customers by any part of their name or of an identity
-- ("rossi", "3471112233", "@example.com") through an index: trigram GIN
-- indexes (pg_trgm, shipped with PostgreSQL and a trusted extension since
-- version 13) over the same expressions the search uses.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX contacts_name_trgm ON contacts USING GIN (lower(coalesce(name, '')) gin_trgm_ops);
CREATE INDEX identities_value_trgm ON identities USING GIN (lower(value) gin_trgm_ops);
