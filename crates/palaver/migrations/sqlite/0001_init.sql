-- Ids are UUIDv7 stored as 16-byte blobs (sorting by id sorts by creation time);
-- times are RFC 3339 text in UTC, written by the server.

CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_seen     TEXT
);
CREATE UNIQUE INDEX users_username_unique ON users (lower(username));
CREATE UNIQUE INDEX users_email_unique ON users (lower(email));

-- Opaque refresh tokens, stored as SHA-256; one family per login, rotated on every use.
CREATE TABLE refresh_tokens (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  BLOB NOT NULL,
    token_hash BLOB NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT
);
CREATE UNIQUE INDEX refresh_tokens_hash_unique ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE rooms (
    id          BLOB PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    visibility  TEXT NOT NULL,
    created_by  BLOB NOT NULL REFERENCES users (id),
    created_at  TEXT NOT NULL,
    -- The seq of the room's latest event; bumped in the transaction that writes the event.
    last_seq    INTEGER NOT NULL DEFAULT 0,
    -- "<smaller user id>:<larger user id>" for DMs, so a pair has exactly one DM room.
    dm_key      TEXT
);
CREATE UNIQUE INDEX rooms_dm_key_unique ON rooms (dm_key);
CREATE INDEX rooms_visibility ON rooms (visibility, id);

CREATE TABLE room_members (
    room_id       BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          TEXT NOT NULL,
    joined_at     TEXT NOT NULL,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user ON room_members (user_id, room_id);

CREATE TABLE messages (
    id            BLOB PRIMARY KEY NOT NULL,
    room_id       BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    updated_seq   INTEGER NOT NULL,
    author_id     BLOB NOT NULL REFERENCES users (id),
    kind          TEXT NOT NULL,
    content       TEXT NOT NULL,
    upload_id     BLOB,
    client_msg_id TEXT,
    created_at    TEXT NOT NULL,
    edited_at     TEXT,
    deleted       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX messages_room_seq ON messages (room_id, seq);
CREATE UNIQUE INDEX messages_client_msg_id_unique
    ON messages (room_id, author_id, client_msg_id) WHERE client_msg_id IS NOT NULL;

-- Edits and deletes: room events that are not a new message. A post's event is its
-- messages row; together the two tables hold every seq of a room exactly once.
CREATE TABLE message_changes (
    room_id    BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    message_id BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    PRIMARY KEY (room_id, seq)
);

CREATE TABLE notifications (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    room_id    BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    message_id BLOB REFERENCES messages (id) ON DELETE CASCADE,
    actor_id   BLOB NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    read_at    TEXT
);
CREATE INDEX notifications_user ON notifications (user_id, id);
