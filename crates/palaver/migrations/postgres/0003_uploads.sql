-- Uploaded images. The bytes live in a blob store (`blobs` below, or files in the data
-- dir); a row is written only after its blobs, so a row never lacks its bytes.
CREATE TABLE uploads (
    id               UUID PRIMARY KEY,
    owner_id         UUID NOT NULL REFERENCES users (id),
    mime             TEXT NOT NULL,
    size             BIGINT NOT NULL,
    width            INTEGER NOT NULL,
    height           INTEGER NOT NULL,
    etag             TEXT NOT NULL,
    thumbnail_mime   TEXT NOT NULL,
    thumbnail_size   BIGINT NOT NULL,
    thumbnail_etag   TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);
-- The per-user byte budget sums a day of a user's uploads; cleanup scans by age.
CREATE INDEX uploads_owner_created ON uploads (owner_id, created_at);
CREATE INDEX uploads_created ON uploads (created_at);

-- An upload is attached to one message at most, and stays attached once its message is
-- deleted (the uploader still sees it; nobody can attach it again).
CREATE UNIQUE INDEX messages_upload_unique ON messages (upload_id) WHERE upload_id IS NOT NULL;
-- Checked against a concurrent cleanup: the key-share lock keeps a row being attached.
ALTER TABLE messages ADD CONSTRAINT messages_upload_fk FOREIGN KEY (upload_id) REFERENCES uploads (id);

-- The blob store of a PostgreSQL deployment, so every instance reaches every file.
CREATE TABLE blobs (
    upload_id  UUID NOT NULL,
    variant    TEXT NOT NULL,
    data       BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (upload_id, variant)
);
CREATE INDEX blobs_created ON blobs (created_at);
-- Images are compressed already: storing them out of line without trying to compress them
-- again saves the CPU of a futile attempt on every write.
ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;
