-- The assistant's conversations: private to their owner, soft deleted.
CREATE TABLE conversations (
    id                BLOB PRIMARY KEY NOT NULL,
    owner_id          BLOB NOT NULL REFERENCES users (id),
    title             TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    deleted_at        TEXT,
    total_messages    INTEGER NOT NULL DEFAULT 0,
    total_tokens_used INTEGER NOT NULL DEFAULT 0,
    -- updated_at in microseconds since the epoch, for ordering: SQLite keeps times as text,
    -- whose order is not the times' order when their fractions differ in length.
    activity          INTEGER NOT NULL
);
-- Listed newest first per owner.
CREATE INDEX conversations_owner_activity ON conversations (owner_id, activity) WHERE deleted_at IS NULL;

-- A reply's row is written when it starts (`running`) and once more when it ends, with
-- the whole text: never a row per token.
CREATE TABLE chat_messages (
    id                BLOB PRIMARY KEY NOT NULL,
    conversation_id   BLOB NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role              TEXT NOT NULL,
    status            TEXT NOT NULL,
    content           TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    model_used        TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    -- JSON: [{name, arguments, result, is_error}]
    tool_calls        TEXT NOT NULL DEFAULT '[]'
);
-- Oldest first by id: v7 ids sort by creation (the same process makes a send's two).
CREATE INDEX chat_messages_conversation ON chat_messages (conversation_id, id);
-- One running reply per conversation: a second send while one runs is refused (409).
CREATE UNIQUE INDEX chat_messages_one_running ON chat_messages (conversation_id) WHERE status = 'running';
