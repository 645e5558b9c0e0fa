-- Search. A message is found by its terms (src/search/terms.rs: words folded to lower case
-- without accents, Chinese and Japanese as overlapping pairs), written by the server in
-- `search_text`, space-separated, in the transaction that writes the message (and again on
-- an edit; '' once deleted). NULL: not indexed yet (rows from before this migration are
-- indexed by the server when it starts).
ALTER TABLE messages ADD COLUMN search_text TEXT;
CREATE INDEX messages_unindexed ON messages (id) WHERE search_text IS NULL;

-- The terms as a tsvector, each at its position, taken as they are: no text search parser
-- or dictionary runs, so PostgreSQL keeps exactly the server's terms (as SQLite does).
CREATE FUNCTION palaver_search_vector(terms TEXT) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(quote_literal(term) || ':' || least(n, 16383), ' ' ORDER BY n), '')::tsvector
    FROM unnest(string_to_array(terms, ' ')) WITH ORDINALITY AS t (term, n)
    WHERE term <> ''
$$;
ALTER TABLE messages ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (palaver_search_vector(search_text)) STORED;
CREATE INDEX messages_search ON messages USING GIN (search_vector);

-- Insertion order, newest first for `sort=recent` (SQLite's rowid plays this part there).
ALTER TABLE messages ADD COLUMN pos BIGSERIAL;
CREATE INDEX messages_pos ON messages (pos);
