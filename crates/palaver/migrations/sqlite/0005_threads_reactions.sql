-- Threads: a reply names its root. The root's summary (count, last reply) is kept by the
-- transaction that stores a reply, so reading a root costs no count.
ALTER TABLE messages ADD COLUMN thread_root_id BLOB REFERENCES messages (id) ON DELETE CASCADE;
ALTER TABLE messages ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN last_reply_at TEXT;
-- The latest reply's id (UUIDv7, so it sorts by time): followed threads are listed by it.
ALTER TABLE messages ADD COLUMN last_reply_id BLOB;
-- A thread's replies by seq; the room timeline (top-level messages only) by seq.
CREATE INDEX messages_thread ON messages (thread_root_id, seq) WHERE thread_root_id IS NOT NULL;
CREATE INDEX messages_timeline ON messages (room_id, seq) WHERE thread_root_id IS NULL;

-- Who follows a thread (started it, replied in it, or was mentioned in it), with their
-- read marker there (a room seq) and the seq of their latest reply, if any: the latest
-- repliers are the root's participants.
CREATE TABLE thread_follows (
    root_id       BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id       BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    replied_seq   INTEGER,
    PRIMARY KEY (root_id, user_id)
);
CREATE INDEX thread_follows_user ON thread_follows (user_id);
CREATE INDEX thread_follows_repliers ON thread_follows (root_id, replied_seq) WHERE replied_seq IS NOT NULL;

-- One row per (message, emoji, user); `seq` is the room event that added it, so the
-- first use of an emoji is its lowest seq.
CREATE TABLE reactions (
    message_id BLOB NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);

-- A reaction's room event says which emoji and whose.
ALTER TABLE message_changes ADD COLUMN emoji TEXT;
ALTER TABLE message_changes ADD COLUMN user_id BLOB;

-- The thread a notification's message is in.
ALTER TABLE notifications ADD COLUMN thread_root_id BLOB;
