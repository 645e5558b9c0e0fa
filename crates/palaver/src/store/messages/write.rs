//! Writing room events: posts (in batches, planned by `plan`), edits and deletes (and
//! reactions, in `reactions`). Each takes its seq from the room row in the same
//! transaction, so seqs are gapless.

macro_rules! impl_message_writes {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Bumps the room's seq inside `tx`; on PostgreSQL this also locks the room row,
            /// which serializes writers of one room until commit.
            async fn next_seq(
                tx: &mut sqlx::Transaction<'_, $db>,
                room_id: $crate::domain::RoomId,
            ) -> Result<Option<$crate::domain::Seq>, $crate::store::Error> {
                let row: Option<($crate::domain::Seq,)> =
                    sqlx::query_as("UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
                        .bind(room_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                Ok(row.map(|(seq,)| seq))
            }

            /// The messages earlier sends stored under the keys (`client_msg_id`) of
            /// `items[i]` for each `i` in `lookups`, each with its `i`: one query for the
            /// whole batch, not a round trip per keyed post.
            async fn retried(
                tx: &mut sqlx::Transaction<'_, $db>,
                items: &[($crate::store::NewMessage, $crate::store::NotifyPlan)],
                lookups: &[usize],
            ) -> Result<Vec<(usize, $crate::store::MessageRow)>, $crate::store::Error> {
                let keyed: Vec<(usize, &$crate::store::NewMessage, &str)> = lookups
                    .iter()
                    .filter_map(|&i| items[i].0.client_msg_id.as_deref().map(|key| (i, &items[i].0, key)))
                    .collect();
                if keyed.is_empty() {
                    return Ok(Vec::new());
                }
                let mut query =
                    sqlx::QueryBuilder::<$db>::new(concat!($crate::store::messages::message_sql!(), " WHERE "));
                for (n, (_, msg, key)) in keyed.iter().enumerate() {
                    query.push(if n == 0 { "(m.room_id = " } else { " OR (m.room_id = " });
                    query.push_bind(msg.room_id).push(" AND m.author_id = ").push_bind(msg.author_id);
                    query.push(" AND m.client_msg_id = ").push_bind(key.to_string()).push(")");
                }
                let rows = query.build_query_as::<$crate::store::MessageRow>().fetch_all(&mut **tx).await?;
                Ok(rows
                    .into_iter()
                    .filter_map(|row| {
                        let (i, _, _) = keyed.iter().find(|(_, msg, key)| {
                            row.room_id == msg.room_id
                                && row.author_id == msg.author_id
                                && row.client_msg_id.as_deref() == Some(*key)
                        })?;
                        Some((*i, row))
                    })
                    .collect())
            }

            /// Writes the notifications a new message causes.
            async fn notify_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                msg: &$crate::store::NewMessage,
                notify: &$crate::store::NotifyPlan,
            ) -> Result<Vec<$crate::store::Notified>, $crate::store::Error> {
                use $crate::domain::NotificationKind;
                let mut notified = Vec::new();
                let targets = notify
                    .mentions
                    .iter()
                    .map(|name| (NotificationKind::Mention, Some(name.as_str())))
                    .chain(notify.dm.then_some((NotificationKind::Dm, None)));
                for (kind, username) in targets {
                    let id = uuid::Uuid::now_v7();
                    let row: Option<($crate::domain::UserId,)> = sqlx::query_as(
                        "INSERT INTO notifications (id, user_id, kind, room_id, message_id, actor_id, created_at, thread_root_id)
                         SELECT $1, m.user_id, $2, $3, $4, $5, $6, $8
                         FROM room_members m JOIN users u ON u.id = m.user_id
                         WHERE m.room_id = $3 AND m.user_id <> $5
                           AND ($7 = '' OR lower(u.username) = lower($7))
                         LIMIT 1
                         RETURNING user_id",
                    )
                    .bind(id)
                    .bind(kind)
                    .bind(msg.room_id)
                    .bind(msg.id)
                    .bind(msg.author_id)
                    .bind(msg.created_at)
                    .bind(username.unwrap_or(""))
                    .bind(msg.thread_root_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if let Some((user_id,)) = row {
                        notified.push($crate::store::Notified { id, user_id, kind });
                    }
                }
                Ok(notified)
            }

            /// Logs an edit or delete as the room event `seq`; returns the message as it is now.
            async fn record_change(
                tx: &mut sqlx::Transaction<'_, $db>,
                room_id: $crate::domain::RoomId,
                seq: $crate::domain::Seq,
                kind: $crate::store::EventKind,
                message_id: $crate::domain::MessageId,
            ) -> Result<$crate::store::MessageRow, $crate::store::Error> {
                sqlx::query::<$db>(
                    "INSERT INTO message_changes (room_id, seq, kind, message_id) VALUES ($1, $2, $3, $4)",
                )
                .bind(room_id)
                .bind(seq)
                .bind(kind)
                .bind(message_id)
                .execute(&mut **tx)
                .await?;
                Self::message_in(tx, message_id).await
            }

            async fn message_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                message_id: $crate::domain::MessageId,
            ) -> Result<$crate::store::MessageRow, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::MessageRow>(concat!(
                    $crate::store::messages::message_sql!(),
                    " WHERE m.id = $1"
                ))
                .bind(message_id)
                .fetch_one(&mut **tx)
                .await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::MessageStore for $store {
            async fn post_batch(
                &self,
                items: &[($crate::store::NewMessage, $crate::store::NotifyPlan)],
            ) -> Result<Vec<Option<$crate::store::Posted>>, $crate::store::Error> {
                use $crate::store::messages::{BatchPlan, Slot};
                let plan = BatchPlan::new(items);
                let mut tx = self.write.begin().await?;
                // One bump per room for all its candidates. It locks the room row
                // (PostgreSQL) until commit, so the retry lookups below cannot race another
                // writer of the room.
                let mut last: Vec<Option<i64>> = Vec::with_capacity(plan.bumps().len());
                for &(room_id, count) in plan.bumps() {
                    let row: Option<(i64,)> =
                        sqlx::query_as("UPDATE rooms SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq")
                            .bind(room_id)
                            .bind(count)
                            .fetch_optional(&mut *tx)
                            .await?;
                    last.push(row.map(|(seq,)| seq));
                }
                let stored_before = Self::retried(&mut tx, items, &plan.lookups(&last)).await?;
                let assigned = plan.assign(&last, stored_before);
                for (room_id, unused) in &assigned.give_back {
                    sqlx::query::<$db>("UPDATE rooms SET last_seq = last_seq - $2 WHERE id = $1")
                        .bind(room_id)
                        .bind(unused)
                        .execute(&mut *tx)
                        .await?;
                }
                let new: Vec<(&$crate::store::NewMessage, $crate::domain::Seq)> = items
                    .iter()
                    .zip(&assigned.slots)
                    .filter_map(|((msg, _), slot)| match slot {
                        Slot::New(seq) => Some((msg, *seq)),
                        _ => None,
                    })
                    .collect();
                if !new.is_empty() {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO messages (id, room_id, seq, updated_seq, author_id, kind, content,
                                               upload_id, client_msg_id, created_at, thread_root_id, search_text,
                                               via, author_name) ",
                    );
                    insert.push_values(new, |mut row, (msg, seq)| {
                        row.push_bind(msg.id)
                            .push_bind(msg.room_id)
                            .push_bind(seq)
                            .push_bind(seq)
                            .push_bind(msg.author_id)
                            .push_bind(msg.kind)
                            .push_bind(msg.content.clone())
                            .push_bind(msg.attachment.map(|a| a.upload_id))
                            .push_bind(msg.client_msg_id.clone())
                            .push_bind(msg.created_at)
                            .push_bind(msg.thread_root_id)
                            // Indexed in the transaction that stores it: findable once acked.
                            .push_bind($crate::search::index_text(&msg.content))
                            .push_bind(msg.via)
                            .push_bind(msg.author_name.clone());
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                let mut notified = Vec::with_capacity(items.len());
                for ((msg, notify), slot) in items.iter().zip(&assigned.slots) {
                    notified.push(match slot {
                        Slot::New(seq) => {
                            let mut notified = Self::notify_in(&mut tx, msg, notify).await?;
                            Self::thread_in(&mut tx, msg, *seq, notify, &mut notified).await?;
                            notified
                        }
                        _ => vec![],
                    });
                }
                tx.commit().await?;
                Ok($crate::store::messages::outcomes(items, assigned.slots, notified))
            }

            async fn edit_message(
                &self,
                room_id: $crate::domain::RoomId,
                message_id: $crate::domain::MessageId,
                content: String,
                now: time::OffsetDateTime,
            ) -> Result<Option<$crate::store::MessageRow>, $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                let Some(seq) = Self::next_seq(&mut tx, room_id).await? else {
                    return Ok(None);
                };
                let changed = sqlx::query::<$db>(
                    "UPDATE messages SET content = $3, edited_at = $4, updated_seq = $5, search_text = $6
                     WHERE room_id = $1 AND id = $2 AND deleted = FALSE",
                )
                .bind(room_id)
                .bind(message_id)
                .bind(&content)
                .bind(now)
                .bind(seq)
                .bind($crate::search::index_text(&content))
                .execute(&mut *tx)
                .await?;
                if changed.rows_affected() != 1 {
                    return Ok(None);
                }
                let message =
                    Self::record_change(&mut tx, room_id, seq, $crate::store::EventKind::Edited, message_id).await?;
                tx.commit().await?;
                Ok(Some(message))
            }

            async fn delete_message(
                &self,
                room_id: $crate::domain::RoomId,
                message_id: $crate::domain::MessageId,
            ) -> Result<Option<$crate::store::MessageRow>, $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                let Some(seq) = Self::next_seq(&mut tx, room_id).await? else {
                    return Ok(None);
                };
                // The content goes for good: a soft delete keeps the seq, not the words. The
                // upload stays linked, hidden from all but its uploader, so it cannot be
                // attached again.
                let changed = sqlx::query::<$db>(
                    "UPDATE messages SET deleted = TRUE, content = '', search_text = '', updated_seq = $3
                     WHERE room_id = $1 AND id = $2 AND deleted = FALSE",
                )
                .bind(room_id)
                .bind(message_id)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                if changed.rows_affected() != 1 {
                    return Ok(None);
                }
                let message =
                    Self::record_change(&mut tx, room_id, seq, $crate::store::EventKind::Deleted, message_id).await?;
                tx.commit().await?;
                Ok(Some(message))
            }

            async fn react(
                &self,
                change: &$crate::store::ReactionChange,
            ) -> Result<$crate::store::ReactOutcome, $crate::store::Error> {
                self.react_in(change).await
            }
        }
    };
}
pub(crate) use impl_message_writes;
