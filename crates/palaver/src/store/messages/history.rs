//! Reading a room: one message, pages of history, the events a resume replays, and the
//! members' read markers.

use super::{EventKind, MessageRow, RoomEvent};

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub event_seq: i64,
    pub event_kind: EventKind,
    #[sqlx(flatten)]
    pub message: MessageRow,
}

impl From<EventRow> for RoomEvent {
    fn from(row: EventRow) -> Self {
        RoomEvent { seq: row.event_seq, kind: row.event_kind, message: row.message }
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
                range: $crate::store::HistoryRange,
                limit: i64,
            ) -> Result<(Vec<$crate::store::MessageRow>, bool), $crate::store::Error> {
                use $crate::store::HistoryRange;
                let fetch = $crate::store::fetch_limit(limit);
                let mut rows = match range {
                    HistoryRange::Latest => {
                        sqlx::query_as::<$db, $crate::store::MessageRow>(concat!(
                            $crate::store::messages::message_sql!(),
                            " WHERE m.room_id = $1 AND EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = $1 AND rm.user_id = $3) ORDER BY m.seq DESC LIMIT $2"
                        ))
                        .bind(room_id)
                        .bind(fetch)
                        .bind(viewer)
                        .fetch_all(&self.read)
                        .await?
                    }
                    HistoryRange::Before(seq) => {
                        sqlx::query_as::<$db, $crate::store::MessageRow>(concat!(
                            $crate::store::messages::message_sql!(),
                            " WHERE m.room_id = $1 AND m.seq < $2 AND EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = $1 AND rm.user_id = $4) ORDER BY m.seq DESC LIMIT $3"
                        ))
                        .bind(room_id)
                        .bind(seq)
                        .bind(fetch)
                        .bind(viewer)
                        .fetch_all(&self.read)
                        .await?
                    }
                    HistoryRange::After(seq) => {
                        sqlx::query_as::<$db, $crate::store::MessageRow>(concat!(
                            $crate::store::messages::message_sql!(),
                            " WHERE m.room_id = $1 AND m.seq > $2 AND EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = $1 AND rm.user_id = $4) ORDER BY m.seq ASC LIMIT $3"
                        ))
                        .bind(room_id)
                        .bind(seq)
                        .bind(fetch)
                        .bind(viewer)
                        .fetch_all(&self.read)
                        .await?
                    }
                };
                let has_more = rows.len() as i64 > limit;
                rows.truncate(limit as usize);
                if !matches!(range, HistoryRange::After(_)) {
                    rows.reverse();
                }
                Ok((rows, has_more))
            }

            async fn events_since(
                &self,
                room_id: $crate::domain::RoomId,
                since: i64,
                limit: i64,
            ) -> Result<Vec<$crate::store::RoomEvent>, $crate::store::Error> {
                // Each branch limited on its own, so each is an index range scan of `limit`
                // rows however much follows `since` (a resume reads a large gap in chunks).
                let rows = sqlx::query_as::<$db, $crate::store::messages::EventRow>(
                    "SELECT e.seq AS event_seq, e.kind AS event_kind,
                            m.id, m.room_id, m.seq, m.updated_seq, m.author_id, u.username AS author_username,
                            m.kind, m.content, m.upload_id, up.mime AS upload_mime, up.size AS upload_size,
                            up.width AS upload_width, up.height AS upload_height,
                            m.client_msg_id, m.created_at, m.edited_at, m.deleted
                     FROM (SELECT * FROM (SELECT seq, 'posted' AS kind, id AS message_id FROM messages
                                          WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) p
                           UNION ALL
                           SELECT * FROM (SELECT seq, kind, message_id FROM message_changes
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
                seq: i64,
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
