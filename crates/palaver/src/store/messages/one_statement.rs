//! A batch of posts to one room in a single statement (PostgreSQL): the seq bump, the
//! lookup of retries and the insert in one round trip and one implicit transaction, where
//! the general path (`write.rs`) takes five (begin, bump, lookup, insert, commit). Every
//! round trip wakes the database's backend and then our task; on a busy machine those
//! waits are most of a message's latency, and a post that arrives while a batch is being
//! stored waits for all of them. SQLite cannot modify rows inside a `WITH`, so it keeps the
//! general path (its round trips are thread hand-offs, not the network).
//!
//! Only the common batch goes this way: one room, no notification to write, no item that
//! retries another item of the same batch. Anything else, and any row error (a retry that
//! another instance committed while this statement waited for the room's lock, a bad
//! author or upload), takes the general path, which sorts it out under the lock.

use super::{MessageRow, NewMessage, NotifyPlan, Slot};
use crate::domain::{MessageId, RoomId};

/// `$1` the room; `$2`..`$8` one array per column of the items, in batch order. Returns,
/// per item in order: its new seq, or the id of the message an earlier send stored under
/// its key, and the room's last seq (NULL when the room does not exist).
pub(crate) const SQL: &str = "
WITH input AS (
    SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::timestamptz[])
        WITH ORDINALITY AS t(id, author_id, kind, content, upload_id, client_msg_id, created_at, ord)
),
earlier AS (
    SELECT i.ord, m.id FROM input i
    JOIN messages m ON m.room_id = $1 AND m.author_id = i.author_id AND m.client_msg_id = i.client_msg_id
),
fresh AS (
    SELECT i.*, row_number() OVER (ORDER BY i.ord) AS k, count(*) OVER () AS n
    FROM input i WHERE i.ord NOT IN (SELECT ord FROM earlier)
),
bump AS (
    UPDATE rooms SET last_seq = last_seq + (SELECT count(*) FROM fresh) WHERE id = $1 RETURNING last_seq
),
stored AS (
    INSERT INTO messages (id, room_id, seq, updated_seq, author_id, kind, content, upload_id, client_msg_id, created_at)
    SELECT f.id, $1, b.last_seq - f.n + f.k, b.last_seq - f.n + f.k, f.author_id, f.kind, f.content, f.upload_id,
           f.client_msg_id, f.created_at
    FROM fresh f CROSS JOIN bump b
    RETURNING id, seq
)
SELECT s.seq, e.id AS earlier, (SELECT last_seq FROM bump) AS last_seq
FROM input i LEFT JOIN stored s ON s.id = i.id LEFT JOIN earlier e ON e.ord = i.ord
ORDER BY i.ord";

/// What the statement said of one item.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub(crate) struct ItemRow {
    pub seq: Option<i64>,
    pub earlier: Option<MessageId>,
    pub last_seq: Option<i64>,
}

/// The room of a batch the statement can store, or `None` for the general path.
pub(crate) fn eligible(items: &[(NewMessage, NotifyPlan)]) -> Option<RoomId> {
    let room = items.first()?.0.room_id;
    let plain = items.iter().all(|(msg, notify)| msg.room_id == room && notify.mentions.is_empty() && !notify.dm);
    let keys_distinct = items.iter().enumerate().all(|(i, (msg, _))| {
        msg.client_msg_id.as_ref().is_none_or(|key| {
            !items[..i]
                .iter()
                .any(|(other, _)| other.author_id == msg.author_id && other.client_msg_id.as_ref() == Some(key))
        })
    });
    (plain && keys_distinct).then_some(room)
}

/// Each item's slot from the statement's rows (one per item, in order) and the messages
/// the retries found (read after the statement). `None` if the rows do not match the batch.
pub(crate) fn slots(rows: &[ItemRow], earlier: Vec<MessageRow>) -> Option<Vec<Slot>> {
    let mut earlier: Vec<Option<MessageRow>> = earlier.into_iter().map(Some).collect();
    rows.iter()
        .map(|row| match (row.last_seq, row.seq, row.earlier) {
            (None, _, _) => Some(Slot::Missing),
            (Some(_), Some(seq), None) => Some(Slot::New(seq)),
            (Some(_), None, Some(id)) => {
                let found = earlier.iter_mut().find(|m| m.as_ref().is_some_and(|m| m.id == id))?;
                // A message is found once per item that retries it (keys are distinct here).
                found.take().map(|m| Slot::Existing(Box::new(m)))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::domain::{MessageKind, UserId};
    use crate::store::messages::plan::stored;

    fn post(room_id: RoomId, author: u128, key: Option<&str>) -> (NewMessage, NotifyPlan) {
        let msg = NewMessage {
            id: MessageId::generate(),
            room_id,
            author_id: UserId::from_uuid(Uuid::from_u128(author)),
            author_username: format!("user{author}"),
            kind: MessageKind::Text,
            content: "hi".into(),
            attachment: None,
            client_msg_id: key.map(str::to_owned),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        (msg, NotifyPlan::default())
    }

    #[test]
    fn only_plain_batches_to_one_room_with_distinct_keys_go_in_one_statement() {
        let (room, other) = (RoomId::generate(), RoomId::generate());
        let plain = vec![post(room, 1, Some("a")), post(room, 2, Some("a")), post(room, 1, None), post(room, 1, None)];
        assert_eq!(eligible(&plain), Some(room), "the same key from two authors is two messages");
        assert_eq!(eligible(&[]), None);
        assert_eq!(eligible(&[post(room, 1, None), post(other, 1, None)]), None, "two rooms");
        assert_eq!(eligible(&[post(room, 1, Some("a")), post(room, 1, Some("a"))]), None, "a retry in the batch");
        let mut mention = post(room, 1, None);
        mention.1.mentions.push("bob".into());
        assert_eq!(eligible(&[mention]), None, "a notification to write");
        let mut dm = post(room, 1, None);
        dm.1.dm = true;
        assert_eq!(eligible(&[dm]), None, "a DM notifies");
    }

    #[test]
    fn rows_become_new_existing_or_missing_slots() {
        let room = RoomId::generate();
        let (old, _) = post(room, 1, Some("k"));
        let old = stored(old, 3);
        let row = |seq, earlier| ItemRow { seq, earlier, last_seq: Some(9) };
        let rows = [row(Some(8), None), row(None, Some(old.id)), row(Some(9), None)];
        let slots = slots(&rows, vec![old.clone()]).expect("the rows match");
        assert!(matches!(slots[0], Slot::New(8)));
        assert!(matches!(&slots[1], Slot::Existing(m) if m.id == old.id && m.seq == 3));
        assert!(matches!(slots[2], Slot::New(9)));

        let gone = [ItemRow { seq: None, earlier: None, last_seq: None }];
        assert!(matches!(super::slots(&gone, vec![]).expect("a missing room")[..], [Slot::Missing]));
        // A retry whose message could not be read back, or a row that is neither: no slots.
        assert!(super::slots(&[row(None, Some(old.id))], vec![]).is_none());
        assert!(super::slots(&[row(None, None)], vec![]).is_none());
    }
}
