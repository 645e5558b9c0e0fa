-- Uploaded images. The bytes live in files under the data dir; a row is written only
-- after its files, so a row never lacks its bytes.
CREATE TABLE uploads (
    id               BLOB PRIMARY KEY NOT NULL,
    owner_id         BLOB NOT NULL REFERENCES users (id),
    mime             TEXT NOT NULL,
    size             INTEGER NOT NULL,
    width            INTEGER NOT NULL,
    height           INTEGER NOT NULL,
    etag             TEXT NOT NULL,
    thumbnail_mime   TEXT NOT NULL,
    thumbnail_size   INTEGER NOT NULL,
    thumbnail_etag   TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
-- The per-user byte budget sums a day of a user's uploads; cleanup scans by age.
CREATE INDEX uploads_owner_created ON uploads (owner_id, created_at);
CREATE INDEX uploads_created ON uploads (created_at);

-- An upload is attached to one message at most, and stays attached once its message is
-- deleted (the uploader still sees it; nobody can attach it again). SQLite cannot add a
-- foreign key to an existing table; its single writer orders attach and cleanup instead.
CREATE UNIQUE INDEX messages_upload_unique ON messages (upload_id) WHERE upload_id IS NOT NULL;
