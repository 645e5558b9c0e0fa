//! Reactions: adding or taking back one user's emoji on a message is a room event, and
//! takes a seq only when something changed.

macro_rules! impl_reactions {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn react_in(
                &self,
                change: &$crate::store::ReactionChange,
            ) -> Result<$crate::store::ReactOutcome, $crate::store::Error> {
                use $crate::store::ReactOutcome as Reacted;
                let mut tx = self.write.begin().await?;
                // The seq first: on PostgreSQL it locks the room row, so the checks below
                // cannot race another writer of the room. Any early return rolls it back.
                let Some(seq) = Self::next_seq(&mut tx, change.room_id).await? else {
                    return Ok(Reacted::Missing);
                };
                let message: Option<(bool,)> =
                    sqlx::query_as("SELECT deleted FROM messages WHERE room_id = $1 AND id = $2")
                        .bind(change.room_id)
                        .bind(change.message_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                match message {
                    None => return Ok(Reacted::Missing),
                    Some((true,)) => return Ok(Reacted::Deleted),
                    Some((false,)) => {}
                }
                let kind = if change.added {
                    let emoji: Vec<(String,)> =
                        sqlx::query_as("SELECT DISTINCT emoji FROM reactions WHERE message_id = $1")
                            .bind(change.message_id)
                            .fetch_all(&mut *tx)
                            .await?;
                    if !emoji.iter().any(|(e,)| *e == change.emoji)
                        && emoji.len() as i64 >= $crate::store::MAX_REACTIONS
                    {
                        return Ok(Reacted::TooMany);
                    }
                    let added = sqlx::query::<$db>(
                        "INSERT INTO reactions (message_id, emoji, user_id, seq) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (message_id, emoji, user_id) DO NOTHING",
                    )
                    .bind(change.message_id)
                    .bind(change.emoji.as_str())
                    .bind(change.user_id)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                    if added.rows_affected() == 0 {
                        return Ok(Reacted::Unchanged);
                    }
                    $crate::store::EventKind::Reacted
                } else {
                    let removed = sqlx::query::<$db>(
                        "DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3",
                    )
                    .bind(change.message_id)
                    .bind(change.emoji.as_str())
                    .bind(change.user_id)
                    .execute(&mut *tx)
                    .await?;
                    if removed.rows_affected() == 0 {
                        return Ok(Reacted::Unchanged);
                    }
                    $crate::store::EventKind::Unreacted
                };
                sqlx::query::<$db>(
                    "INSERT INTO message_changes (room_id, seq, kind, message_id, emoji, user_id)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(change.room_id)
                .bind(seq)
                .bind(kind)
                .bind(change.message_id)
                .bind(change.emoji.as_str())
                .bind(change.user_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Reacted::Changed(seq))
            }
        }
    };
}
pub(crate) use impl_reactions;
