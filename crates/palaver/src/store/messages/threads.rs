//! What a new message does to threads, in the transaction that stores it: a reply sums
//! itself into its root, notifies the thread's followers and makes its author one; a
//! mention makes the mentioned member follow the thread (the message's own, if top-level).

macro_rules! impl_thread_writes {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn thread_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                msg: &$crate::store::NewMessage,
                seq: i64,
                notify: &$crate::store::NotifyPlan,
                notified: &mut Vec<$crate::store::Notified>,
            ) -> Result<(), $crate::store::Error> {
                if let Some(root) = msg.thread_root_id {
                    Self::reply_in(tx, msg, root, seq, notified).await?;
                }
                let root = msg.thread_root_id.unwrap_or(msg.id);
                for name in &notify.mentions {
                    sqlx::query::<$db>(
                        "INSERT INTO thread_follows (root_id, user_id, room_id)
                         SELECT $1, m.user_id, $2 FROM room_members m JOIN users u ON u.id = m.user_id
                         WHERE m.room_id = $2 AND m.user_id <> $3 AND lower(u.username) = lower($4)
                         ON CONFLICT (root_id, user_id) DO NOTHING",
                    )
                    .bind(root)
                    .bind(msg.room_id)
                    .bind(msg.author_id)
                    .bind(name.as_str())
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            async fn reply_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                msg: &$crate::store::NewMessage,
                root: $crate::domain::MessageId,
                seq: i64,
                notified: &mut Vec<$crate::store::Notified>,
            ) -> Result<(), $crate::store::Error> {
                use $crate::domain::{NotificationKind, UserId};
                sqlx::query::<$db>(
                    "UPDATE messages SET reply_count = reply_count + 1, last_reply_at = $2, last_reply_id = $3
                     WHERE id = $1",
                )
                .bind(root)
                .bind(msg.created_at)
                .bind(msg.id)
                .execute(&mut **tx)
                .await?;
                // The root's author follows from the first reply on, with nothing read.
                sqlx::query::<$db>(
                    "INSERT INTO thread_follows (root_id, user_id, room_id)
                     SELECT id, author_id, room_id FROM messages WHERE id = $1
                     ON CONFLICT (root_id, user_id) DO NOTHING",
                )
                .bind(root)
                .execute(&mut **tx)
                .await?;
                // Followers still in the room, but the replier and whoever this message
                // notified already (a mention says more than a reply).
                let followers: Vec<(UserId,)> = sqlx::query_as(
                    "SELECT f.user_id FROM thread_follows f
                     JOIN room_members rm ON rm.room_id = f.room_id AND rm.user_id = f.user_id
                     WHERE f.root_id = $1 AND f.user_id <> $2",
                )
                .bind(root)
                .bind(msg.author_id)
                .fetch_all(&mut **tx)
                .await?;
                let fresh: Vec<$crate::store::Notified> = followers
                    .into_iter()
                    .filter(|(user_id,)| notified.iter().all(|n| n.user_id != *user_id))
                    .map(|(user_id,)| $crate::store::Notified {
                        id: uuid::Uuid::now_v7(),
                        user_id,
                        kind: NotificationKind::Reply,
                    })
                    .collect();
                if !fresh.is_empty() {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO notifications (id, user_id, kind, room_id, message_id, actor_id, created_at,
                                                    thread_root_id) ",
                    );
                    insert.push_values(&fresh, |mut row, n| {
                        row.push_bind(n.id)
                            .push_bind(n.user_id)
                            .push_bind(n.kind)
                            .push_bind(msg.room_id)
                            .push_bind(msg.id)
                            .push_bind(msg.author_id)
                            .push_bind(msg.created_at)
                            .push_bind(root);
                    });
                    insert.build().execute(&mut **tx).await?;
                    notified.extend(fresh);
                }
                // The replier follows, has read the thread up to this reply, and is its
                // latest participant.
                sqlx::query::<$db>(
                    "INSERT INTO thread_follows (root_id, user_id, room_id, last_read_seq, replied_seq)
                     VALUES ($1, $2, $3, $4, $4)
                     ON CONFLICT (root_id, user_id) DO UPDATE SET replied_seq = excluded.replied_seq,
                         last_read_seq = CASE WHEN thread_follows.last_read_seq > excluded.last_read_seq
                                              THEN thread_follows.last_read_seq ELSE excluded.last_read_seq END",
                )
                .bind(root)
                .bind(msg.author_id)
                .bind(msg.room_id)
                .bind(seq)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_thread_writes;
