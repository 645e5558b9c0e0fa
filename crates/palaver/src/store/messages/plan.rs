//! Planning a batch of posts: what the SQL of `post_batch` must do, worked out without a
//! database. Which items retry an earlier item of the same batch, how many seqs each room
//! gives, and which seq each new message takes once retries of stored messages have given
//! theirs back.

use super::{MessageRow, NewMessage, Notified, NotifyPlan, Posted};
use crate::domain::{RoomId, Seq};

/// What the batch did with one item.
#[derive(Debug)]
pub(crate) enum Slot {
    /// Stored with this seq.
    New(Seq),
    /// A retry of a message stored earlier.
    Existing(Box<MessageRow>),
    /// A retry of item `.0` of the same batch.
    SameAs(usize),
    /// Its room does not exist.
    Missing,
}

/// The plan of one batch, before any SQL runs.
#[derive(Debug)]
pub(crate) struct BatchPlan {
    /// Per item: the earlier item of the batch it retries (same room, author and
    /// `client_msg_id`). Such an item takes no seq and needs no lookup.
    same_as: Vec<Option<usize>>,
    /// Per item: whether it has a `client_msg_id`, so may retry a message stored earlier.
    keyed: Vec<bool>,
    /// Per item: its room's index in `rooms`.
    room_of: Vec<usize>,
    /// Each room of the batch with how many of its items may take a seq, in id order: rooms
    /// are locked in that order, so batches of two instances cannot deadlock.
    rooms: Vec<(RoomId, i64)>,
}

/// The seqs of a batch, once the rooms are bumped and retries are known.
#[derive(Debug)]
pub(crate) struct Assignment {
    /// Per item.
    pub slots: Vec<Slot>,
    /// Rooms whose bump took more seqs than new messages use, with how many to give back.
    pub give_back: Vec<(RoomId, i64)>,
}

impl BatchPlan {
    pub fn new(items: &[(NewMessage, NotifyPlan)]) -> Self {
        let same_as: Vec<Option<usize>> = items
            .iter()
            .enumerate()
            .map(|(i, (msg, _))| {
                let key = msg.client_msg_id.as_ref()?;
                items[..i].iter().position(|(earlier, _)| {
                    earlier.room_id == msg.room_id
                        && earlier.author_id == msg.author_id
                        && earlier.client_msg_id.as_ref() == Some(key)
                })
            })
            .collect();
        let mut rooms: Vec<(RoomId, i64)> = Vec::new();
        for ((msg, _), same) in items.iter().zip(&same_as) {
            let takes_seq = i64::from(same.is_none());
            match rooms.iter_mut().find(|(room, _)| *room == msg.room_id) {
                Some((_, count)) => *count += takes_seq,
                None => rooms.push((msg.room_id, takes_seq)),
            }
        }
        rooms.sort_unstable();
        let room_of = items.iter().map(|(msg, _)| rooms.partition_point(|(room, _)| *room < msg.room_id)).collect();
        let keyed = items.iter().map(|(msg, _)| msg.client_msg_id.is_some()).collect();
        Self { same_as, keyed, room_of, rooms }
    }

    /// The rooms to bump, in lock order, each with the seqs to take. Every room of the
    /// batch is listed (an item that retries an earlier one still needs its room to exist).
    pub fn bumps(&self) -> &[(RoomId, i64)] {
        &self.rooms
    }

    /// The items to look up as possible retries of messages stored earlier, given each
    /// room's last seq after its bump (aligned with [`bumps`](Self::bumps); `None`: the
    /// room does not exist). Looking up after the bump means the room row is locked, so a
    /// concurrent retry cannot slip in between.
    pub fn lookups(&self, last: &[Option<i64>]) -> Vec<usize> {
        (0..self.same_as.len())
            .filter(|&i| self.same_as[i].is_none() && self.keyed[i] && last[self.room_of[i]].is_some())
            .collect()
    }

    /// Gives each item its slot. `last` is each room's last seq after its bump (as for
    /// [`lookups`](Self::lookups)); `stored_before` the items found to retry a stored
    /// message, with that message. A room's new messages take the seqs right after its
    /// previous last seq, in batch order; the seqs retries did not use are given back.
    pub fn assign(self, last: &[Option<i64>], stored_before: Vec<(usize, MessageRow)>) -> Assignment {
        let mut existing: Vec<Option<MessageRow>> = (0..self.same_as.len()).map(|_| None).collect();
        for (i, row) in stored_before {
            existing[i] = Some(row);
        }
        // Per room: the next seq to hand out, and how many seqs went unused.
        let mut next: Vec<Option<(i64, i64)>> =
            self.rooms.iter().zip(last).map(|((_, count), last)| last.map(|last| (last - count + 1, 0))).collect();
        let slots = self
            .same_as
            .iter()
            .zip(&self.room_of)
            .zip(existing)
            .map(|((same, &room), existing)| match (same, &mut next[room], existing) {
                (Some(j), _, _) => Slot::SameAs(*j),
                (None, None, _) => Slot::Missing,
                (None, Some((_, unused)), Some(row)) => {
                    *unused += 1;
                    Slot::Existing(Box::new(row))
                }
                (None, Some((seq, _)), None) => {
                    *seq += 1;
                    Slot::New(Seq::new(*seq - 1))
                }
            })
            .collect();
        let give_back = self
            .rooms
            .iter()
            .zip(next)
            .filter_map(|((room, _), next)| next.and_then(|(_, unused)| (unused > 0).then_some((*room, unused))))
            .collect();
        Assignment { slots, give_back }
    }
}

/// The row a new message became, built from what was inserted (no read back).
pub(crate) fn stored(msg: NewMessage, seq: Seq) -> MessageRow {
    MessageRow {
        id: msg.id,
        room_id: msg.room_id,
        seq,
        updated_seq: seq,
        author_id: msg.author_id,
        author_username: msg.author_username,
        kind: msg.kind,
        content: msg.content,
        upload_id: msg.attachment.map(|a| a.upload_id),
        upload_mime: msg.attachment.map(|a| a.mime),
        upload_size: msg.attachment.map(|a| a.size),
        upload_width: msg.attachment.map(|a| a.width),
        upload_height: msg.attachment.map(|a| a.height),
        client_msg_id: msg.client_msg_id,
        created_at: msg.created_at,
        edited_at: None,
        deleted: false,
        thread_root_id: msg.thread_root_id,
        reply_count: 0,
        last_reply_at: None,
        via: msg.via,
    }
}

/// What each item of the batch became; `notified` holds the notifications each new
/// message wrote (empty for the others).
pub(crate) fn outcomes(
    items: &[(NewMessage, NotifyPlan)],
    slots: Vec<Slot>,
    notified: Vec<Vec<Notified>>,
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

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::domain::{MessageId, MessageKind, UserId};

    fn room(n: u128) -> RoomId {
        RoomId::from_uuid(Uuid::from_u128(n))
    }

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
            thread_root_id: None,
            via: None,
            author_name: None,
        };
        (msg, NotifyPlan::default())
    }

    fn seqs(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|slot| match slot {
                Slot::New(seq) => format!("new {seq}"),
                Slot::Existing(row) => format!("existing {}", row.seq),
                Slot::SameAs(j) => format!("same as {j}"),
                Slot::Missing => "missing".into(),
            })
            .collect()
    }

    #[test]
    fn rooms_are_bumped_once_each_in_id_order() {
        let items = [post(room(2), 1, None), post(room(1), 1, None), post(room(2), 2, None)];
        let plan = BatchPlan::new(&items);
        assert_eq!(plan.bumps(), &[(room(1), 1), (room(2), 2)]);
    }

    #[test]
    fn new_messages_take_the_seqs_after_the_rooms_last_in_batch_order() {
        let items = [post(room(2), 1, None), post(room(1), 1, None), post(room(2), 2, None)];
        let plan = BatchPlan::new(&items);
        // Room 1 was at seq 4 (now 5), room 2 at 9 (now 11).
        let assigned = plan.assign(&[Some(5), Some(11)], vec![]);
        assert_eq!(seqs(&assigned.slots), ["new 10", "new 5", "new 11"]);
        assert!(assigned.give_back.is_empty());
    }

    #[test]
    fn a_retry_within_the_batch_takes_no_seq_and_is_not_looked_up() {
        let items = [
            post(room(1), 1, Some("a")),
            post(room(1), 1, Some("a")),
            // The same key from another author, or in another room, is another message.
            post(room(1), 2, Some("a")),
            post(room(2), 1, Some("a")),
        ];
        let plan = BatchPlan::new(&items);
        assert_eq!(plan.bumps(), &[(room(1), 2), (room(2), 1)]);
        let last = [Some(2), Some(1)];
        assert_eq!(plan.lookups(&last), [0, 2, 3]);
        let assigned = plan.assign(&last, vec![]);
        assert_eq!(seqs(&assigned.slots), ["new 1", "same as 0", "new 2", "new 1"]);
    }

    #[test]
    fn retries_of_stored_messages_give_their_seqs_back_and_later_posts_close_the_gap() {
        let items = [post(room(1), 1, None), post(room(1), 1, Some("old")), post(room(1), 1, None)];
        let plan = BatchPlan::new(&items);
        assert_eq!(plan.bumps(), &[(room(1), 3)]);
        // The room was at seq 7; the bump took 8, 9 and 10.
        let last = [Some(10)];
        assert_eq!(plan.lookups(&last), [1]);
        let earlier = stored(items[1].0.clone(), Seq::new(3));
        let assigned = plan.assign(&last, vec![(1, earlier)]);
        assert_eq!(seqs(&assigned.slots), ["new 8", "existing 3", "new 9"]);
        assert_eq!(assigned.give_back, [(room(1), 1)]);
    }

    #[test]
    fn items_of_a_missing_room_are_missing_and_not_looked_up() {
        let items = [post(room(1), 1, Some("a")), post(room(1), 1, Some("a")), post(room(2), 1, None)];
        let plan = BatchPlan::new(&items);
        let last = [None, Some(1)];
        assert!(plan.lookups(&last).is_empty());
        let assigned = plan.assign(&last, vec![]);
        assert_eq!(seqs(&assigned.slots), ["missing", "same as 0", "new 1"]);
        assert!(assigned.give_back.is_empty());
        let outcomes = outcomes(&items, assigned.slots, vec![vec![], vec![], vec![]]);
        assert!(outcomes[0].is_none() && outcomes[1].is_none(), "a retry of a missing item is missing too");
        assert!(outcomes[2].as_ref().is_some_and(|p| p.created && p.message.seq == Seq::new(1)));
    }

    #[test]
    fn a_retry_within_the_batch_returns_what_its_first_became() {
        let items = [post(room(1), 1, Some("a")), post(room(1), 1, Some("a"))];
        let plan = BatchPlan::new(&items);
        let earlier = stored(items[0].0.clone(), Seq::new(3));
        let assigned = plan.assign(&[Some(2)], vec![(0, earlier)]);
        assert_eq!(assigned.give_back, [(room(1), 1)]);
        let outcomes = outcomes(&items, assigned.slots, vec![vec![], vec![]]);
        for posted in &outcomes {
            let posted = posted.as_ref().expect("both are answered");
            assert!(!posted.created);
            assert_eq!(posted.message.seq, Seq::new(3));
        }
    }
}
