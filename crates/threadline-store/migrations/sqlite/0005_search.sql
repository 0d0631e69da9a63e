-- Full-text search of messages. This is the one place where the two engines
-- differ: SQLite uses an FTS5 index kept in step with `messages` by
-- triggers, PostgreSQL a GIN index over the same text (see search.rs).
-- Diacritics are folded ("perché" finds "perche"); no stemming, so Italian
-- and English are searched alike.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    subject, body_text,
    content = 'messages', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, subject, body_text) VALUES (new.rowid, new.subject, new.body_text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, body_text) VALUES ('delete', old.rowid, old.subject, old.body_text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF subject, body_text ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, subject, body_text) VALUES ('delete', old.rowid, old.subject, old.body_text);
    INSERT INTO messages_fts(rowid, subject, body_text) VALUES (new.rowid, new.subject, new.body_text);
END;
