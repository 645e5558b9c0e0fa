use time::OffsetDateTime;
use uuid::Uuid;

use super::Error;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub room_id: Uuid,
    pub seq: i64,
    pub updated_seq: i64,
    pub author_id: Uuid,
    pub author_username: String,
    pub kind: String,
    pub content: String,
    pub upload_id: Option<Uuid>,
    pub client_msg_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub edited_at: Option<OffsetDateTime>,
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: Uuid,
    pub room_id: Uuid,
    pub author_id: Uuid,
    pub author_username: String,
    pub kind: &'static str,
    pub content: String,
    pub upload_id: Option<Uuid>,
    pub client_msg_id: Option<String>,
    pub created_at: OffsetDateTime,
}

/// Who a new message notifies, decided by the service; written in the message's transaction.
#[derive(Debug, Clone, Default)]
pub struct NotifyPlan {
    /// Usernames mentioned; only members other than the author are notified.
    pub mentions: Vec<String>,
    /// Notify the other member of a DM.
    pub dm: bool,
}

pub struct Posted {
    pub message: MessageRow,
    /// `false` when `client_msg_id` matched an earlier message, which is returned instead.
    pub created: bool,
    /// `(notification id, user id, kind)` of the notifications written.
    pub notified: Vec<(Uuid, Uuid, String)>,
}

#[derive(Debug, Clone, Copy)]
pub enum HistoryRange {
    Latest,
    Before(i64),
    After(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Posted,
    Edited,
    Deleted,
}

/// One room event: a post, an edit or a delete, with the message as it is now.
#[derive(Debug, Clone)]
pub struct RoomEvent {
    pub seq: i64,
    pub kind: EventKind,
    pub message: MessageRow,
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub event_seq: i64,
    pub event_kind: String,
    #[sqlx(flatten)]
    pub message: MessageRow,
}

impl From<EventRow> for RoomEvent {
    fn from(row: EventRow) -> Self {
        let kind = match row.event_kind.as_str() {
            "edited" => EventKind::Edited,
            "deleted" => EventKind::Deleted,
            _ => EventKind::Posted,
        };
        RoomEvent { seq: row.event_seq, kind, message: row.message }
    }
}

#[async_trait::async_trait]
pub trait MessageStore {
    /// Stores messages (and their notifications) in one transaction, with one seq bump per
    /// room and one multi-row insert; a retry with a stored `client_msg_id` returns the first
    /// message and takes no seq. Per item: `None` if its room does not exist. Any database
    /// error fails the whole batch, storing nothing; the caller then posts the items one by
    /// one to isolate the bad one.
    async fn post_batch(&self, items: &[(NewMessage, NotifyPlan)]) -> Result<Vec<Option<Posted>>, Error>;
    async fn message(&self, room_id: Uuid, message_id: Uuid) -> Result<Option<MessageRow>, Error>;
    /// Takes the next seq for the edit. `None` if the message is missing or deleted.
    async fn edit_message(
        &self,
        room_id: Uuid,
        message_id: Uuid,
        content: String,
        now: OffsetDateTime,
    ) -> Result<Option<MessageRow>, Error>;
    /// Takes the next seq for the delete. `None` if the message is missing or already deleted.
    async fn delete_message(&self, room_id: Uuid, message_id: Uuid) -> Result<Option<MessageRow>, Error>;
    /// At most `limit` messages in ascending seq, and whether more lie beyond them.
    /// Only if `viewer` is a member (one query for the check and the page): a non-member,
    /// like an empty range, gets no rows.
    async fn history(
        &self,
        room_id: Uuid,
        viewer: Uuid,
        range: HistoryRange,
        limit: i64,
    ) -> Result<(Vec<MessageRow>, bool), Error>;
    /// Room events with a seq above `since`, ascending, at most `limit`.
    async fn events_since(&self, room_id: Uuid, since: i64, limit: i64) -> Result<Vec<RoomEvent>, Error>;
    /// Moves the read marker forward only. Returns whether it moved.
    async fn mark_read(&self, room_id: Uuid, user_id: Uuid, seq: i64) -> Result<bool, Error>;
}

/// What the batch did with one item.
pub(crate) enum Slot {
    /// Stored with this seq.
    New(i64),
    /// A retry of a message stored earlier.
    Existing(Box<MessageRow>),
    /// A retry of item `.0` of the same batch.
    SameAs(usize),
    /// Its room does not exist.
    Missing,
}

/// The row a new message became, built from what was inserted (no read back).
pub(crate) fn stored(msg: NewMessage, seq: i64) -> MessageRow {
    MessageRow {
        id: msg.id,
        room_id: msg.room_id,
        seq,
        updated_seq: seq,
        author_id: msg.author_id,
        author_username: msg.author_username,
        kind: msg.kind.to_owned(),
        content: msg.content,
        upload_id: msg.upload_id,
        client_msg_id: msg.client_msg_id,
        created_at: msg.created_at,
        edited_at: None,
        deleted: false,
    }
}

pub(crate) fn outcomes(
    items: &[(NewMessage, NotifyPlan)],
    slots: Vec<Slot>,
    notified: Vec<Vec<(Uuid, Uuid, String)>>,
) -> Vec<Option<Posted>> {
    let mut out: Vec<Option<Posted>> = Vec::with_capacity(items.len());
    for (((msg, _), slot), notified) in items.iter().zip(slots).zip(notified) {
        let posted = match slot {
            Slot::New(seq) => Some(Posted { message: stored(msg.clone(), seq), created: true, notified }),
            Slot::Existing(message) => Some(Posted { message: *message, created: false, notified: vec![] }),
            Slot::SameAs(j) => {
                out[j].as_ref().map(|p| Posted { message: p.message.clone(), created: false, notified: vec![] })
            }
            Slot::Missing => None,
        };
        out.push(posted);
    }
    out
}

macro_rules! message_sql {
    () => {
        "SELECT m.id, m.room_id, m.seq, m.updated_seq, m.author_id, u.username AS author_username,
                m.kind, m.content, m.upload_id, m.client_msg_id, m.created_at, m.edited_at, m.deleted
         FROM messages m JOIN users u ON u.id = m.author_id"
    };
}
pub(crate) use message_sql;

macro_rules! impl_message_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Bumps the room's seq inside `tx`; on PostgreSQL this also locks the room row,
            /// which serializes writers of one room until commit.
            async fn next_seq(
                tx: &mut sqlx::Transaction<'_, $db>,
                room_id: uuid::Uuid,
            ) -> Result<Option<i64>, $crate::store::Error> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
                )
                .bind(room_id)
                .fetch_optional(&mut **tx)
                .await?;
                Ok(row.map(|(seq,)| seq))
            }

            /// The message an earlier send with the same `client_msg_id` stored, if any.
            async fn retried(
                tx: &mut sqlx::Transaction<'_, $db>,
                msg: &$crate::store::NewMessage,
            ) -> Result<Option<$crate::store::MessageRow>, $crate::store::Error> {
                let Some(client_msg_id) = &msg.client_msg_id else { return Ok(None) };
                Ok(sqlx::query_as::<$db, $crate::store::MessageRow>(concat!(
                    $crate::store::messages::message_sql!(),
                    " WHERE m.room_id = $1 AND m.author_id = $2 AND m.client_msg_id = $3"
                ))
                .bind(msg.room_id)
                .bind(msg.author_id)
                .bind(client_msg_id)
                .fetch_optional(&mut **tx)
                .await?)
            }

            /// Writes the notifications a new message causes; returns `(id, user, kind)` of each.
            async fn notify_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                msg: &$crate::store::NewMessage,
                notify: &$crate::store::NotifyPlan,
            ) -> Result<Vec<(uuid::Uuid, uuid::Uuid, String)>, $crate::store::Error> {
                let mut notified = Vec::new();
                let targets = notify
                    .mentions
                    .iter()
                    .map(|name| ("mention", Some(name.as_str())))
                    .chain(notify.dm.then_some(("dm", None)));
                for (kind, username) in targets {
                    let id = uuid::Uuid::now_v7();
                    let row: Option<(uuid::Uuid,)> = sqlx::query_as(
                        "INSERT INTO notifications (id, user_id, kind, room_id, message_id, actor_id, created_at)
                         SELECT $1, m.user_id, $2, $3, $4, $5, $6
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
                    .fetch_optional(&mut **tx)
                    .await?;
                    if let Some((user_id,)) = row {
                        notified.push((id, user_id, kind.to_owned()));
                    }
                }
                Ok(notified)
            }

            /// Logs an edit or delete as the room event `seq`; returns the message as it is now.
            async fn record_change(
                tx: &mut sqlx::Transaction<'_, $db>,
                room_id: uuid::Uuid,
                seq: i64,
                kind: &str,
                message_id: uuid::Uuid,
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
                message_id: uuid::Uuid,
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
                use $crate::store::messages::Slot;
                let mut tx = self.write.begin().await?;
                // A retry of an earlier item of this batch is known without asking.
                let mut slots: Vec<Slot> = items
                    .iter()
                    .enumerate()
                    .map(|(i, (msg, _))| {
                        let earlier = msg.client_msg_id.as_ref().and_then(|id| {
                            items[..i].iter().position(|(m, _)| {
                                m.room_id == msg.room_id
                                    && m.author_id == msg.author_id
                                    && m.client_msg_id.as_ref() == Some(id)
                            })
                        });
                        earlier.map_or(Slot::New(0), Slot::SameAs)
                    })
                    .collect();
                // Bump each room once for all its candidates. The bump locks the room row
                // (PostgreSQL) until commit, so the retry check below cannot race another
                // writer of the room. Rooms are locked in id order, so batches of two
                // instances cannot deadlock.
                let mut rooms: Vec<(uuid::Uuid, i64)> = Vec::new();
                for ((msg, _), slot) in items.iter().zip(&slots) {
                    if matches!(slot, Slot::New(_)) {
                        match rooms.iter_mut().find(|(room, _)| *room == msg.room_id) {
                            Some((_, count)) => *count += 1,
                            None => rooms.push((msg.room_id, 1)),
                        }
                    }
                }
                rooms.sort_unstable();
                // Room → (last seq after the bump, seqs used, seqs given back); `None` if
                // the room is gone.
                let mut bumped: Vec<(uuid::Uuid, Option<(i64, i64, i64)>)> = Vec::with_capacity(rooms.len());
                for (room_id, count) in rooms {
                    let last: Option<(i64,)> = sqlx::query_as(
                        "UPDATE rooms SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq",
                    )
                    .bind(room_id)
                    .bind(count)
                    .fetch_optional(&mut *tx)
                    .await?;
                    bumped.push((room_id, last.map(|(last,)| (last, count, 0))));
                }
                // Retries of messages stored earlier take no seq: give those back.
                for ((msg, _), slot) in items.iter().zip(slots.iter_mut()) {
                    let Some((_, Some((last, used, returned)))) =
                        bumped.iter_mut().find(|(room, _)| *room == msg.room_id)
                    else {
                        if matches!(slot, Slot::New(_)) {
                            *slot = Slot::Missing;
                        }
                        continue;
                    };
                    if matches!(slot, Slot::New(_))
                        && let Some(row) = Self::retried(&mut tx, msg).await?
                    {
                        *slot = Slot::Existing(Box::new(row));
                        *last -= 1;
                        *used -= 1;
                        *returned += 1;
                    }
                }
                let mut next: Vec<(uuid::Uuid, i64)> = Vec::with_capacity(bumped.len());
                for (room_id, bump) in &bumped {
                    let Some((last, used, returned)) = *bump else { continue };
                    if returned > 0 {
                        sqlx::query::<$db>("UPDATE rooms SET last_seq = last_seq - $2 WHERE id = $1")
                            .bind(room_id)
                            .bind(returned)
                            .execute(&mut *tx)
                            .await?;
                    }
                    next.push((*room_id, last - used + 1));
                }
                for ((msg, _), slot) in items.iter().zip(slots.iter_mut()) {
                    if let Slot::New(seq) = slot
                        && let Some((_, n)) = next.iter_mut().find(|(room, _)| *room == msg.room_id)
                    {
                        *seq = *n;
                        *n += 1;
                    }
                }
                let new: Vec<(&$crate::store::NewMessage, i64)> = items
                    .iter()
                    .zip(&slots)
                    .filter_map(|((msg, _), slot)| match slot {
                        Slot::New(seq) => Some((msg, *seq)),
                        _ => None,
                    })
                    .collect();
                if !new.is_empty() {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO messages (id, room_id, seq, updated_seq, author_id, kind, content,
                                               upload_id, client_msg_id, created_at) ",
                    );
                    insert.push_values(new, |mut row, (msg, seq)| {
                        row.push_bind(msg.id)
                            .push_bind(msg.room_id)
                            .push_bind(seq)
                            .push_bind(seq)
                            .push_bind(msg.author_id)
                            .push_bind(msg.kind)
                            .push_bind(msg.content.clone())
                            .push_bind(msg.upload_id)
                            .push_bind(msg.client_msg_id.clone())
                            .push_bind(msg.created_at);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                let mut notified = Vec::with_capacity(items.len());
                for ((msg, plan), slot) in items.iter().zip(&slots) {
                    notified.push(match slot {
                        Slot::New(_) => Self::notify_in(&mut tx, msg, plan).await?,
                        _ => vec![],
                    });
                }
                tx.commit().await?;
                Ok($crate::store::messages::outcomes(items, slots, notified))
            }

            async fn message(
                &self,
                room_id: uuid::Uuid,
                message_id: uuid::Uuid,
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

            async fn edit_message(
                &self,
                room_id: uuid::Uuid,
                message_id: uuid::Uuid,
                content: String,
                now: time::OffsetDateTime,
            ) -> Result<Option<$crate::store::MessageRow>, $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                let Some(seq) = Self::next_seq(&mut tx, room_id).await? else {
                    return Ok(None);
                };
                let changed = sqlx::query::<$db>(
                    "UPDATE messages SET content = $3, edited_at = $4, updated_seq = $5
                     WHERE room_id = $1 AND id = $2 AND deleted = FALSE",
                )
                .bind(room_id)
                .bind(message_id)
                .bind(content)
                .bind(now)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                if changed.rows_affected() != 1 {
                    return Ok(None);
                }
                let message = Self::record_change(&mut tx, room_id, seq, "edited", message_id).await?;
                tx.commit().await?;
                Ok(Some(message))
            }

            async fn delete_message(
                &self,
                room_id: uuid::Uuid,
                message_id: uuid::Uuid,
            ) -> Result<Option<$crate::store::MessageRow>, $crate::store::Error> {
                let mut tx = self.write.begin().await?;
                let Some(seq) = Self::next_seq(&mut tx, room_id).await? else {
                    return Ok(None);
                };
                // The content goes for good: a soft delete keeps the seq, not the words.
                let changed = sqlx::query::<$db>(
                    "UPDATE messages SET deleted = TRUE, content = '', upload_id = NULL, updated_seq = $3
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
                let message = Self::record_change(&mut tx, room_id, seq, "deleted", message_id).await?;
                tx.commit().await?;
                Ok(Some(message))
            }

            async fn history(
                &self,
                room_id: uuid::Uuid,
                viewer: uuid::Uuid,
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
                room_id: uuid::Uuid,
                since: i64,
                limit: i64,
            ) -> Result<Vec<$crate::store::RoomEvent>, $crate::store::Error> {
                // Each branch limited on its own, so each is an index range scan of `limit`
                // rows however much follows `since` (a resume reads a large gap in chunks).
                let rows = sqlx::query_as::<$db, $crate::store::messages::EventRow>(
                    "SELECT e.seq AS event_seq, e.kind AS event_kind,
                            m.id, m.room_id, m.seq, m.updated_seq, m.author_id, u.username AS author_username,
                            m.kind, m.content, m.upload_id, m.client_msg_id, m.created_at, m.edited_at, m.deleted
                     FROM (SELECT * FROM (SELECT seq, 'posted' AS kind, id AS message_id FROM messages
                                          WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) p
                           UNION ALL
                           SELECT * FROM (SELECT seq, kind, message_id FROM message_changes
                                          WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) c) e
                     JOIN messages m ON m.id = e.message_id
                     JOIN users u ON u.id = m.author_id
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
                room_id: uuid::Uuid,
                user_id: uuid::Uuid,
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
pub(crate) use impl_message_store;
