-- Full-text search of messages. This is the one place where the two engines
-- differ: SQLite uses an FTS5 index kept in step with `messages` by
-- triggers, PostgreSQL a GIN index over the same text (see search.rs).
-- The `simple` configuration: no stemming, so Italian and English are
-- searched alike; unaccent is not assumed to be installed. Hyphens become
-- spaces so "A-1042" is the words "a" and "1042", as on SQLite (PostgreSQL's
-- parser would read "-1042" as a negative number).
CREATE INDEX messages_search ON messages
    USING GIN (to_tsvector('simple', translate(coalesce(subject, '') || ' ' || body_text, '-', ' ')));
