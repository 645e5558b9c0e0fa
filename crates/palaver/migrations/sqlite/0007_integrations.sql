-- Bots: accounts of kind 'bot', owned by the user who made them, with no password (they
-- cannot log in) and one API token, stored as SHA-256 (NULL once the bot is deleted).
-- A deleted bot keeps its row (its messages stay), disabled. Incoming webhooks post as a
-- bot of their own ('hook' owner: the hook's creator).
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN owner_id BLOB REFERENCES users (id);
ALTER TABLE users ADD COLUMN token_hash BLOB;
-- One indexed lookup per request authenticated by an API token.
CREATE UNIQUE INDEX users_token_hash_unique ON users (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX users_owner ON users (owner_id, id) WHERE owner_id IS NOT NULL;

-- How a message came: NULL for people, 'bot' or 'webhook'; `author_name` is the name a
-- webhook post chose for itself (shown instead of its bot's username).
ALTER TABLE messages ADD COLUMN via TEXT;
ALTER TABLE messages ADD COLUMN author_name TEXT;

-- Incoming webhooks. The secret is in the URL the room's admins copy, so it is kept; the
-- lookup goes by its SHA-256, so a probe's time says nothing about stored secrets.
CREATE TABLE webhooks (
    id          BLOB PRIMARY KEY NOT NULL,
    room_id     BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    secret      TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    author_id   BLOB NOT NULL REFERENCES users (id),
    created_by  BLOB NOT NULL REFERENCES users (id),
    created_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX webhooks_secret_hash_unique ON webhooks (secret_hash);
CREATE INDEX webhooks_room ON webhooks (room_id, id);
