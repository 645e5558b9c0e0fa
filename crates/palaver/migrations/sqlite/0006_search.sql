-- Search. A message is found by its terms (src/search/terms.rs: words folded to lower case
-- without accents, Chinese and Japanese as overlapping pairs), written by the server in
-- `search_text`, space-separated, in the transaction that writes the message (and again on
-- an edit; '' once deleted). NULL: not indexed yet (rows from before this migration are
-- indexed by the server when it starts).
ALTER TABLE messages ADD COLUMN search_text TEXT;
CREATE INDEX messages_unindexed ON messages (id) WHERE search_text IS NULL;

-- FTS5 over it, external content (the text lives once, in `messages`), kept in step by
-- triggers. The `ascii` tokenizer splits on ASCII spaces and punctuation only, and the
-- terms hold letters and digits only, so it keeps exactly the server's terms.
CREATE VIRTUAL TABLE message_search USING fts5(
    search_text, content='messages', content_rowid='rowid', tokenize='ascii'
);
CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO message_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
END;
CREATE TRIGGER message_search_update AFTER UPDATE OF search_text ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);
    INSERT INTO message_search (rowid, search_text) VALUES (new.rowid, new.search_text);
END;
