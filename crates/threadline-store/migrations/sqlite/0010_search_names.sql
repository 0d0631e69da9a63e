-- Searching customers by any part of their name or of an identity
-- ("rossi", "3471112233", "@example.com") through an index: FTS5 trigram
-- tables kept in step with `contacts` and `identities` by triggers, which
-- answer `LIKE '%…%'` for three characters or more.
CREATE VIRTUAL TABLE contacts_fts USING fts5(name, content = 'contacts', content_rowid = 'rowid', tokenize = 'trigram');
INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild');
CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN
    INSERT INTO contacts_fts(rowid, name) VALUES (new.rowid, new.name);
END;
CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN
    INSERT INTO contacts_fts(contacts_fts, rowid, name) VALUES ('delete', old.rowid, old.name);
END;
CREATE TRIGGER contacts_fts_update AFTER UPDATE OF name ON contacts BEGIN
    INSERT INTO contacts_fts(contacts_fts, rowid, name) VALUES ('delete', old.rowid, old.name);
    INSERT INTO contacts_fts(rowid, name) VALUES (new.rowid, new.name);
END;

CREATE VIRTUAL TABLE identities_fts USING fts5(value, content = 'identities', content_rowid = 'rowid', tokenize = 'trigram');
INSERT INTO identities_fts(identities_fts) VALUES ('rebuild');
CREATE TRIGGER identities_fts_insert AFTER INSERT ON identities BEGIN
    INSERT INTO identities_fts(rowid, value) VALUES (new.rowid, new.value);
END;
CREATE TRIGGER identities_fts_delete AFTER DELETE ON identities BEGIN
    INSERT INTO identities_fts(identities_fts, rowid, value) VALUES ('delete', old.rowid, old.value);
END;
CREATE TRIGGER identities_fts_update AFTER UPDATE OF value ON identities BEGIN
    INSERT INTO identities_fts(identities_fts, rowid, value) VALUES ('delete', old.rowid, old.value);
    INSERT INTO identities_fts(rowid, value) VALUES (new.rowid, new.value);
END;
