use time::OffsetDateTime;
use uuid::Uuid;

use super::Error;
use crate::domain::{MessageId, NotificationKind, RoomId, UserId};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: Uuid,
    pub kind: NotificationKind,
    pub room_id: RoomId,
    pub message_id: Option<MessageId>,
    pub thread_root_id: Option<MessageId>,
    pub actor_id: UserId,
    pub actor_username: String,
    pub created_at: OffsetDateTime,
    pub read_at: Option<OffsetDateTime>,
}

pub struct NewNotification {
    pub id: Uuid,
    pub user_id: UserId,
    pub kind: NotificationKind,
    pub room_id: RoomId,
    pub message_id: Option<MessageId>,
    pub actor_id: UserId,
    pub created_at: OffsetDateTime,
}

#[async_trait::async_trait]
pub trait NotificationStore {
    async fn insert_notification(&self, n: NewNotification) -> Result<(), Error>;
    /// The user's notifications with an id below `before`, newest first, at most `limit + 1`.
    async fn notifications(
        &self,
        user_id: UserId,
        unread_only: bool,
        before: Uuid,
        limit: i64,
    ) -> Result<Vec<NotificationRow>, Error>;
    /// Marks the given ids of `user_id` (others' ids are ignored), or all of them.
    async fn mark_notifications_read(
        &self,
        user_id: UserId,
        ids: Option<&[Uuid]>,
        now: OffsetDateTime,
    ) -> Result<u64, Error>;
}

macro_rules! notification_sql {
    () => {
        "SELECT n.id, n.kind, n.room_id, n.message_id, n.thread_root_id, n.actor_id, u.username AS actor_username,
                n.created_at, n.read_at
         FROM notifications n JOIN users u ON u.id = n.actor_id"
    };
}
pub(crate) use notification_sql;

macro_rules! impl_notification_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::NotificationStore for $store {
            async fn insert_notification(&self, n: $crate::store::NewNotification) -> Result<(), $crate::store::Error> {
                sqlx::query::<$db>(
                    "INSERT INTO notifications (id, user_id, kind, room_id, message_id, actor_id, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(n.id)
                .bind(n.user_id)
                .bind(n.kind)
                .bind(n.room_id)
                .bind(n.message_id)
                .bind(n.actor_id)
                .bind(n.created_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn notifications(
                &self,
                user_id: $crate::domain::UserId,
                unread_only: bool,
                before: uuid::Uuid,
                limit: i64,
            ) -> Result<Vec<$crate::store::NotificationRow>, $crate::store::Error> {
                let sql = if unread_only {
                    concat!(
                        $crate::store::notifications::notification_sql!(),
                        " WHERE n.user_id = $1 AND n.id < $2 AND n.read_at IS NULL ORDER BY n.id DESC LIMIT $3"
                    )
                } else {
                    concat!(
                        $crate::store::notifications::notification_sql!(),
                        " WHERE n.user_id = $1 AND n.id < $2 ORDER BY n.id DESC LIMIT $3"
                    )
                };
                Ok(sqlx::query_as::<$db, $crate::store::NotificationRow>(sql)
                    .bind(user_id)
                    .bind(before)
                    .bind($crate::store::fetch_limit(limit))
                    .fetch_all(&self.read)
                    .await?)
            }

            async fn mark_notifications_read(
                &self,
                user_id: $crate::domain::UserId,
                ids: Option<&[uuid::Uuid]>,
                now: time::OffsetDateTime,
            ) -> Result<u64, $crate::store::Error> {
                // One statement either way; ids of other users match nothing.
                let mut update = sqlx::QueryBuilder::<$db>::new("UPDATE notifications SET read_at = ");
                update.push_bind(now).push(" WHERE read_at IS NULL AND user_id = ").push_bind(user_id);
                if let Some(ids) = ids {
                    if ids.is_empty() {
                        return Ok(0);
                    }
                    update.push(" AND id IN (");
                    let mut list = update.separated(", ");
                    for id in ids {
                        list.push_bind(*id);
                    }
                    update.push(")");
                }
                Ok(update.build().execute(&self.write).await?.rows_affected())
            }
        }
    };
}
pub(crate) use impl_notification_store;
