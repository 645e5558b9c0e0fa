//! Assistant conversations and their messages. Every read and write names the owner, so
//! "not yours" is simply "not found".

use time::OffsetDateTime;

use super::Error;
use crate::domain::{ChatMessageId, ChatRole, ChatStatus, ConversationId, UserId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: ConversationId,
    pub owner_id: UserId,
    pub title: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub total_messages: i64,
    pub total_tokens_used: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatMessageRow {
    pub id: ChatMessageId,
    pub conversation_id: ConversationId,
    pub role: ChatRole,
    pub status: ChatStatus,
    pub content: String,
    pub created_at: OffsetDateTime,
    pub model_used: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    /// JSON text: `[{name, arguments, result, is_error}]`.
    pub tool_calls: String,
}

/// How a reply ended, written once with its whole text.
#[derive(Debug, Clone)]
pub struct FinishedReply {
    pub status: ChatStatus,
    pub content: String,
    pub model_used: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub tool_calls: String,
    pub at: OffsetDateTime,
}

#[async_trait::async_trait]
pub trait ConversationStore {
    async fn create_conversation(&self, row: &ConversationRow) -> Result<(), Error>;
    async fn conversation(&self, owner: UserId, id: ConversationId) -> Result<Option<ConversationRow>, Error>;
    /// A page, newest `updated_at` first, and how many there are in all.
    async fn conversations(&self, owner: UserId, offset: i64, limit: i64)
    -> Result<(Vec<ConversationRow>, i64), Error>;
    async fn rename_conversation(
        &self,
        owner: UserId,
        id: ConversationId,
        title: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ConversationRow>, Error>;
    /// Soft delete: `false` if there was nothing to delete.
    async fn delete_conversation(&self, owner: UserId, id: ConversationId, now: OffsetDateTime) -> Result<bool, Error>;
    /// A page of the conversation's messages, oldest first, and how many there are.
    async fn chat_messages(
        &self,
        id: ConversationId,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ChatMessageRow>, i64), Error>;
    /// The newest `limit` messages, newest first (the prompt is built from them).
    async fn recent_chat_messages(&self, id: ConversationId, limit: i64) -> Result<Vec<ChatMessageRow>, Error>;
    async fn chat_message(&self, id: ConversationId, message: ChatMessageId) -> Result<Option<ChatMessageRow>, Error>;
    /// Stores the user's message and the running reply. A reply already running in the
    /// conversation refuses it (a unique violation of `Unique::RunningReply`).
    async fn start_reply(&self, user: &ChatMessageRow, reply: &ChatMessageRow) -> Result<(), Error>;
    /// Ends a running reply; counts its tokens into the conversation. `false` if it was not
    /// running any more.
    async fn finish_reply(
        &self,
        id: ConversationId,
        message: ChatMessageId,
        end: &FinishedReply,
    ) -> Result<bool, Error>;
    /// Marks every reply still running as interrupted (at start: no reply outlives the
    /// process that ran it). Returns how many.
    async fn interrupt_running_replies(&self) -> Result<u64, Error>;
    /// Marks these replies interrupted, those still running (their instance is gone).
    async fn interrupt_replies(&self, ids: &[ChatMessageId]) -> Result<u64, Error>;
    /// Every reply running, on any instance: (conversation, message).
    async fn running_replies(&self) -> Result<Vec<(ConversationId, ChatMessageId)>, Error>;
    /// How many of `owner`'s replies are running, on any instance.
    async fn running_replies_of(&self, owner: UserId) -> Result<i64, Error>;
}

/// A time as microseconds since the epoch: the `activity` column conversations are ordered by.
pub(crate) fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

macro_rules! conversation_sql {
    () => {
        "SELECT id, owner_id, title, created_at, updated_at, total_messages, total_tokens_used FROM conversations"
    };
}
macro_rules! chat_message_sql {
    () => {
        "SELECT id, conversation_id, role, status, content, created_at, model_used, prompt_tokens,
                completion_tokens, tool_calls FROM chat_messages"
    };
}
pub(crate) use {chat_message_sql, conversation_sql};

macro_rules! impl_conversation_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::ConversationStore for $store {
            async fn create_conversation(&self, row: &$crate::store::ConversationRow) -> Result<(), $crate::store::Error> {
                sqlx::query::<$db>(
                    "INSERT INTO conversations (id, owner_id, title, created_at, updated_at, activity)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(row.id)
                .bind(row.owner_id)
                .bind(&row.title)
                .bind(row.created_at)
                .bind(row.updated_at)
                .bind($crate::store::conversations::micros(row.updated_at))
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn conversation(
                &self,
                owner: $crate::domain::UserId,
                id: $crate::domain::ConversationId,
            ) -> Result<Option<$crate::store::ConversationRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::ConversationRow>(concat!(
                    $crate::store::conversations::conversation_sql!(),
                    " WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL"
                ))
                .bind(id)
                .bind(owner)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn conversations(
                &self,
                owner: $crate::domain::UserId,
                offset: i64,
                limit: i64,
            ) -> Result<(Vec<$crate::store::ConversationRow>, i64), $crate::store::Error> {
                let rows = sqlx::query_as::<$db, $crate::store::ConversationRow>(concat!(
                    $crate::store::conversations::conversation_sql!(),
                    " WHERE owner_id = $1 AND deleted_at IS NULL ORDER BY activity DESC, id DESC LIMIT $2 OFFSET $3"
                ))
                .bind(owner)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.read)
                .await?;
                let (total,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM conversations WHERE owner_id = $1 AND deleted_at IS NULL")
                        .bind(owner)
                        .fetch_one(&self.read)
                        .await?;
                Ok((rows, total))
            }

            async fn rename_conversation(
                &self,
                owner: $crate::domain::UserId,
                id: $crate::domain::ConversationId,
                title: &str,
                now: time::OffsetDateTime,
            ) -> Result<Option<$crate::store::ConversationRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::ConversationRow>(
                    "UPDATE conversations SET title = $3, updated_at = $4, activity = $5
                     WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL
                     RETURNING id, owner_id, title, created_at, updated_at, total_messages, total_tokens_used",
                )
                .bind(id)
                .bind(owner)
                .bind(title)
                .bind(now)
                .bind($crate::store::conversations::micros(now))
                .fetch_optional(&self.write)
                .await?)
            }

            async fn delete_conversation(
                &self,
                owner: $crate::domain::UserId,
                id: $crate::domain::ConversationId,
                now: time::OffsetDateTime,
            ) -> Result<bool, $crate::store::Error> {
                let done = sqlx::query::<$db>(
                    "UPDATE conversations SET deleted_at = $3 WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL",
                )
                .bind(id)
                .bind(owner)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn chat_messages(
                &self,
                id: $crate::domain::ConversationId,
                offset: i64,
                limit: i64,
            ) -> Result<(Vec<$crate::store::ChatMessageRow>, i64), $crate::store::Error> {
                let rows = sqlx::query_as::<$db, $crate::store::ChatMessageRow>(concat!(
                    $crate::store::conversations::chat_message_sql!(),
                    " WHERE conversation_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
                ))
                .bind(id)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.read)
                .await?;
                let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM chat_messages WHERE conversation_id = $1")
                    .bind(id)
                    .fetch_one(&self.read)
                    .await?;
                Ok((rows, total))
            }

            async fn recent_chat_messages(
                &self,
                id: $crate::domain::ConversationId,
                limit: i64,
            ) -> Result<Vec<$crate::store::ChatMessageRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::ChatMessageRow>(concat!(
                    $crate::store::conversations::chat_message_sql!(),
                    " WHERE conversation_id = $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(id)
                .bind(limit)
                .fetch_all(&self.read)
                .await?)
            }

            async fn chat_message(
                &self,
                id: $crate::domain::ConversationId,
                message: $crate::domain::ChatMessageId,
            ) -> Result<Option<$crate::store::ChatMessageRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::ChatMessageRow>(concat!(
                    $crate::store::conversations::chat_message_sql!(),
                    " WHERE conversation_id = $1 AND id = $2"
                ))
                .bind(id)
                .bind(message)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn start_reply(
                &self,
                user: &$crate::store::ChatMessageRow,
                reply: &$crate::store::ChatMessageRow,
            ) -> Result<(), $crate::store::Error> {
                // One statement for both rows: every statement is a round trip (a thread
                // hand-off on SQLite) on the way to the reply's first chunk.
                let mut tx = self.write.begin().await?;
                let mut insert = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO chat_messages (id, conversation_id, role, status, content, created_at, model_used) ",
                );
                insert.push_values([user, reply], |mut values, row| {
                    values
                        .push_bind(row.id)
                        .push_bind(row.conversation_id)
                        .push_bind(row.role)
                        .push_bind(row.status)
                        .push_bind(row.content.clone())
                        .push_bind(row.created_at)
                        .push_bind(row.model_used.clone());
                });
                insert.build().execute(&mut *tx).await?;
                sqlx::query::<$db>(
                    "UPDATE conversations SET total_messages = total_messages + 2, updated_at = $2, activity = $3 WHERE id = $1",
                )
                .bind(user.conversation_id)
                .bind(user.created_at)
                .bind($crate::store::conversations::micros(user.created_at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn finish_reply(
                &self,
                id: $crate::domain::ConversationId,
                message: $crate::domain::ChatMessageId,
                end: &$crate::store::FinishedReply,
            ) -> Result<bool, $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                let done = sqlx::query::<$db>(
                    "UPDATE chat_messages SET status = $3, content = $4, model_used = $5, prompt_tokens = $6,
                            completion_tokens = $7, tool_calls = $8
                     WHERE conversation_id = $1 AND id = $2 AND status = 'running'",
                )
                .bind(id)
                .bind(message)
                .bind(end.status)
                .bind(&end.content)
                .bind(&end.model_used)
                .bind(end.prompt_tokens)
                .bind(end.completion_tokens)
                .bind(&end.tool_calls)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                let tokens = end.prompt_tokens.unwrap_or(0) + end.completion_tokens.unwrap_or(0);
                sqlx::query::<$db>(
                    "UPDATE conversations SET total_tokens_used = total_tokens_used + $2, updated_at = $3, activity = $4
                     WHERE id = $1",
                )
                .bind(id)
                .bind(tokens)
                .bind(end.at)
                .bind($crate::store::conversations::micros(end.at))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn interrupt_running_replies(&self) -> Result<u64, $crate::store::Error> {
                let done = sqlx::query::<$db>("UPDATE chat_messages SET status = 'interrupted' WHERE status = 'running'")
                    .execute(&self.write)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn interrupt_replies(
                &self,
                ids: &[$crate::domain::ChatMessageId],
            ) -> Result<u64, $crate::store::Error> {
                if ids.is_empty() {
                    return Ok(0);
                }
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "UPDATE chat_messages SET status = 'interrupted' WHERE status = 'running' AND id IN (",
                );
                let mut list = query.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                query.push(")");
                Ok(query.build().execute(&self.write).await?.rows_affected())
            }

            async fn running_replies(
                &self,
            ) -> Result<Vec<($crate::domain::ConversationId, $crate::domain::ChatMessageId)>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, ($crate::domain::ConversationId, $crate::domain::ChatMessageId)>(
                    "SELECT conversation_id, id FROM chat_messages WHERE status = 'running'",
                )
                .fetch_all(&self.read)
                .await?)
            }

            async fn running_replies_of(&self, owner: $crate::domain::UserId) -> Result<i64, $crate::store::Error> {
                let (count,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "SELECT count(*) FROM chat_messages m JOIN conversations c ON c.id = m.conversation_id
                     WHERE c.owner_id = $1 AND m.status = 'running'",
                )
                .bind(owner)
                .fetch_one(&self.read)
                .await?;
                Ok(count)
            }
        }
    };
}
pub(crate) use impl_conversation_store;
