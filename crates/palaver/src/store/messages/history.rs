//! Reading a room: one message, pages of history (the timeline or one thread), what
//! messages show beyond their row (thread participants, reactions), the events a resume
//! replays, the threads a user follows, and read markers.

use super::{EventKind, MessageRow, RoomEvent};
use crate::domain::{Seq, UserId};

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub event_seq: Seq,
    pub event_kind: EventKind,
    pub event_emoji: Option<String>,
    pub event_user_id: Option<UserId>,
    #[sqlx(flatten)]
    pub message: MessageRow,
}

impl From<EventRow> for RoomEvent {
    fn from(row: EventRow) -> Self {
        let reaction = row.event_emoji.zip(row.event_user_id);
        RoomEvent { seq: row.event_seq, kind: row.event_kind, message: row.message, reaction }
    }
}

macro_rules! impl_history_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::HistoryStore for $store {
            async fn message(
                &self,
                room_id: $crate::domain::RoomId,
                message_id: $crate::domain::MessageId,
            ) -> Result<Option<$crate::store::MessageRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::MessageRow>(concat!(
                    $crate::store::messages::message_sql!(),
                    " WHERE m.room_id = $1 AND m.id = $2"
                ))
                .bind(room_id)
                .bind(message_id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn message_by_client_msg_id(
                &self,
                room_id: $crate::domain::RoomId,
                author: $crate::domain::UserId,
                client_msg_id: &str,
            ) -> Result<Option<$crate::store::MessageRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::MessageRow>(concat!(
                    $crate::store::messages::message_sql!(),
                    " WHERE m.room_id = $1 AND m.author_id = $2 AND m.client_msg_id = $3"
                ))
                .bind(room_id)
                .bind(author)
                .bind(client_msg_id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn history(
                &self,
                room_id: $crate::domain::RoomId,
                viewer: $crate::domain::UserId,
                timeline: $crate::store::Timeline,
                range: $crate::store::HistoryRange,
                limit: i64,
            ) -> Result<(Vec<$crate::store::MessageRow>, bool), $crate::store::Error> {
                use $crate::store::{HistoryRange, Timeline};
                let fetch = $crate::store::fetch_limit(limit);
                let mut query = sqlx::QueryBuilder::<$db>::new(concat!(
                    $crate::store::messages::message_sql!(),
                    " WHERE m.room_id = "
                ));
                query.push_bind(room_id);
                // Spelled as the partial indexes are, so each page is a range scan of one.
                match timeline {
                    Timeline::Room => query.push(" AND m.thread_root_id IS NULL"),
                    Timeline::Thread(root) => query.push(" AND m.thread_root_id = ").push_bind(root),
                };
                let order = match range {
                    HistoryRange::Latest => " DESC",
                    HistoryRange::Before(seq) => {
                        query.push(" AND m.seq < ").push_bind(seq);
                        " DESC"
                    }
                    HistoryRange::After(seq) => {
                        query.push(" AND m.seq > ").push_bind(seq);
                        " ASC"
                    }
                };
                // The membership check and the page in one query.
                query.push(" AND EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = m.room_id AND rm.user_id = ");
                query.push_bind(viewer).push(") ORDER BY m.seq").push(order).push(" LIMIT ").push_bind(fetch);
                let mut rows = query.build_query_as::<$crate::store::MessageRow>().fetch_all(&self.read).await?;
                let has_more = rows.len() as i64 > limit;
                rows.truncate(limit as usize);
                if !matches!(range, HistoryRange::After(_)) {
                    rows.reverse();
                }
                Ok((rows, has_more))
            }

            async fn decorations(
                &self,
                messages: &[$crate::domain::MessageId],
                roots: &[$crate::domain::MessageId],
            ) -> Result<(Vec<$crate::store::ParticipantRow>, Vec<$crate::store::ReactionRow>), $crate::store::Error>
            {
                let mut participants = Vec::new();
                if !roots.is_empty() {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT root_id, user_id, username FROM (
                             SELECT f.root_id, f.user_id, u.username, f.replied_seq,
                                    row_number() OVER (PARTITION BY f.root_id ORDER BY f.replied_seq DESC) AS n
                             FROM thread_follows f JOIN users u ON u.id = f.user_id
                             WHERE f.replied_seq IS NOT NULL AND f.root_id IN (",
                    );
                    let mut ids = query.separated(", ");
                    for id in roots {
                        ids.push_bind(*id);
                    }
                    query.push(")) p WHERE n <= 5 ORDER BY root_id, replied_seq DESC");
                    participants =
                        query.build_query_as::<$crate::store::ParticipantRow>().fetch_all(&self.read).await?;
                }
                let mut reactions = Vec::new();
                if !messages.is_empty() {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT message_id, emoji, user_id, count FROM (
                             SELECT message_id, emoji, user_id, seq,
                                    count(*) OVER (PARTITION BY message_id, emoji) AS count,
                                    min(seq) OVER (PARTITION BY message_id, emoji) AS first_seq,
                                    row_number() OVER (PARTITION BY message_id, emoji ORDER BY seq) AS n
                             FROM reactions WHERE message_id IN (",
                    );
                    let mut ids = query.separated(", ");
                    for id in messages {
                        ids.push_bind(*id);
                    }
                    query.push(")) r WHERE n <= 20 ORDER BY message_id, first_seq, seq");
                    reactions = query.build_query_as::<$crate::store::ReactionRow>().fetch_all(&self.read).await?;
                }
                Ok((participants, reactions))
            }

            async fn followed_threads(
                &self,
                user_id: $crate::domain::UserId,
                after: Option<$crate::domain::MessageId>,
                limit: i64,
            ) -> Result<Vec<$crate::store::FollowedRow>, $crate::store::Error> {
                // The page of roots first (ordered by their latest reply, a UUIDv7), then
                // the unread counts of those only.
                let mut query = sqlx::QueryBuilder::<$db>::new(
                    "SELECT p.follow_read_seq, p.last_reply_id,
                            (SELECT count(*) FROM messages r
                             WHERE r.thread_root_id = p.root_id AND r.seq > p.follow_read_seq
                               AND r.author_id <> p.user_id AND r.deleted = FALSE) AS unread_count,
                            m.id, m.room_id, m.seq, m.updated_seq, m.author_id, COALESCE(m.author_name, u.username) AS author_username,
                            m.kind, m.content, m.upload_id, up.mime AS upload_mime, up.size AS upload_size,
                            up.width AS upload_width, up.height AS upload_height,
                            m.client_msg_id, m.created_at, m.edited_at, m.deleted,
                            m.thread_root_id, m.reply_count, m.last_reply_at, m.via
                     FROM (SELECT f.root_id, f.user_id, f.last_read_seq AS follow_read_seq, t.last_reply_id
                           FROM thread_follows f JOIN messages t ON t.id = f.root_id
                           WHERE f.user_id = "
                );
                query.push_bind(user_id);
                query.push(
                    " AND t.last_reply_id IS NOT NULL
                      AND EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = f.room_id AND rm.user_id = f.user_id)",
                );
                if let Some(after) = after {
                    query.push(" AND t.last_reply_id < ").push_bind(after);
                }
                query.push(" ORDER BY t.last_reply_id DESC LIMIT ").push_bind($crate::store::fetch_limit(limit));
                query.push(
                    ") p JOIN messages m ON m.id = p.root_id JOIN users u ON u.id = m.author_id
                     LEFT JOIN uploads up ON up.id = m.upload_id
                     ORDER BY p.last_reply_id DESC",
                );
                Ok(query.build_query_as::<$crate::store::FollowedRow>().fetch_all(&self.read).await?)
            }

            async fn mark_thread_read(
                &self,
                root_id: $crate::domain::MessageId,
                user_id: $crate::domain::UserId,
                seq: $crate::domain::Seq,
            ) -> Result<bool, $crate::store::Error> {
                let done = sqlx::query::<$db>(
                    "UPDATE thread_follows SET last_read_seq = $3
                     WHERE root_id = $1 AND user_id = $2 AND last_read_seq < $3",
                )
                .bind(root_id)
                .bind(user_id)
                .bind(seq)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn events_since(
                &self,
                room_id: $crate::domain::RoomId,
                since: $crate::domain::Seq,
                limit: i64,
            ) -> Result<Vec<$crate::store::RoomEvent>, $crate::store::Error> {
                // Each branch limited on its own, so each is an index range scan of `limit`
                // rows however much follows `since` (a resume reads a large gap in chunks).
                let rows = sqlx::query_as::<$db, $crate::store::messages::EventRow>(
                    "SELECT e.seq AS event_seq, e.kind AS event_kind, e.emoji AS event_emoji,
                            e.user_id AS event_user_id,
                            m.id, m.room_id, m.seq, m.updated_seq, m.author_id, COALESCE(m.author_name, u.username) AS author_username,
                            m.kind, m.content, m.upload_id, up.mime AS upload_mime, up.size AS upload_size,
                            up.width AS upload_width, up.height AS upload_height,
                            m.client_msg_id, m.created_at, m.edited_at, m.deleted,
                            m.thread_root_id, m.reply_count, m.last_reply_at, m.via
                     FROM (SELECT * FROM (SELECT seq, 'posted' AS kind, id AS message_id,
                                                 -- typed nulls (PostgreSQL types a bare NULL as text)
                                                 CASE WHEN FALSE THEN content END AS emoji,
                                                 CASE WHEN FALSE THEN author_id END AS user_id FROM messages
                                          WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) p
                           UNION ALL
                           SELECT * FROM (SELECT seq, kind, message_id, emoji, user_id FROM message_changes
                                          WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) c) e
                     JOIN messages m ON m.id = e.message_id
                     JOIN users u ON u.id = m.author_id
                     LEFT JOIN uploads up ON up.id = m.upload_id
                     ORDER BY e.seq LIMIT $3",
                )
                .bind(room_id)
                .bind(since)
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn mark_read(
                &self,
                room_id: $crate::domain::RoomId,
                user_id: $crate::domain::UserId,
                seq: $crate::domain::Seq,
            ) -> Result<bool, $crate::store::Error> {
                let done = sqlx::query::<$db>(
                    "UPDATE room_members SET last_read_seq = $3
                     WHERE room_id = $1 AND user_id = $2 AND last_read_seq < $3",
                )
                .bind(room_id)
                .bind(user_id)
                .bind(seq)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use impl_history_store;
