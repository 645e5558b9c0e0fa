//! Where each room a session subscribed to stands (room -> last seq sent, catching up or
//! live): the logic of "no gap, no duplicate", with no I/O. The writer asks it what to do
//! with each live room event and tells it what each read of the store returned.
//!
//! A subscription is registered live first, then its resume point is read: from there it
//! is live at once, or it catches up from the store a chunk at a time. While a room catches
//! up its live events are dropped: they are published after their commit, so a read that
//! starts after the drop has them. The room goes live after a read that returned less than
//! a chunk, and only if nothing beyond what that read returned was dropped since it
//! started; from then on nothing of it is dropped, so every later event reaches the client
//! live. A live event at or below the last seq sent is a duplicate; one beyond the next seq
//! means a gap, which the writer fills from the store before sending it.

use std::collections::HashMap;

use crate::domain::{RoomId, Seq};

/// Room events read from the store at a time while a subscription catches up.
pub const REPLAY_CHUNK: i64 = 256;

/// Where a subscribed room's stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    /// In the hub, its resume point not read yet.
    Pending,
    /// Reading the missed events after `sent` from the store; live events are dropped, and
    /// `dropped` is the highest seq dropped since the current read started.
    CatchingUp { sent: Seq, dropped: Seq },
    /// Live: `sent` is the last seq the client has been sent.
    Live { sent: Seq },
}

/// One subscription to a room: `started` tells it from a later one to the same room.
#[derive(Debug, Clone, Copy)]
struct Entry {
    started: u64,
    stream: Stream,
}

/// A read of the store under way for a room that catches up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// The read is of the events after this seq.
    pub after: Seq,
    /// The subscription it is for: one started later makes this read stale.
    started: u64,
}

/// What to do with a live room event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sent already, not subscribed, or caught up by a read.
    Skip,
    Send,
    /// The events between `after` and this one are missing: send them first.
    FillThenSend {
        after: Seq,
    },
}

#[derive(Debug, Default)]
pub struct Subscriptions {
    rooms: HashMap<RoomId, Entry>,
    /// Subscriptions started so far.
    started: u64,
}

impl Subscriptions {
    /// A subscription whose resume point is not read yet (replacing an earlier one to the
    /// room): its live events are skipped until [`placed`](Self::placed).
    pub fn start(&mut self, room_id: RoomId) {
        self.started += 1;
        self.rooms.insert(room_id, Entry { started: self.started, stream: Stream::Pending });
    }

    /// The resume point is read: the room catches up after `replay_after`, or is live from
    /// `last_seq`.
    pub fn placed(&mut self, room_id: RoomId, replay_after: Option<Seq>, last_seq: Seq) {
        let stream = match replay_after {
            Some(after) => Stream::CatchingUp { sent: after, dropped: after },
            None => Stream::Live { sent: last_seq },
        };
        self.set(room_id, stream);
    }

    pub fn end(&mut self, room_id: RoomId) {
        self.rooms.remove(&room_id);
    }

    pub fn clear(&mut self) {
        self.rooms.clear();
    }

    pub fn rooms(&self) -> impl Iterator<Item = RoomId> + '_ {
        self.rooms.keys().copied()
    }

    /// A room still catching up.
    pub fn catching_up(&self) -> Option<RoomId> {
        self.rooms
            .iter()
            .find_map(|(room_id, entry)| matches!(entry.stream, Stream::CatchingUp { .. }).then_some(*room_id))
    }

    /// The next read of a room that catches up; what is dropped is counted from here.
    pub fn start_read(&mut self, room_id: RoomId) -> Option<Read> {
        let entry = self.rooms.get_mut(&room_id)?;
        let Stream::CatchingUp { sent, .. } = entry.stream else { return None };
        entry.stream = Stream::CatchingUp { sent, dropped: sent };
        Some(Read { after: sent, started: entry.started })
    }

    /// What `read` returned, the seqs of its events in order. `false` if the read is stale
    /// (unsubscribed or subscribed anew meanwhile): its events must not be sent.
    pub fn read_returned(&mut self, room_id: RoomId, read: Read, seqs: impl IntoIterator<Item = Option<Seq>>) -> bool {
        let Some(entry) = self.rooms.get_mut(&room_id).filter(|entry| entry.started == read.started) else {
            return false;
        };
        let Stream::CatchingUp { dropped, .. } = entry.stream else { return false };
        let (mut count, mut last) = (0, read.after);
        for seq in seqs {
            count += 1;
            last = last.max(seq.unwrap_or(last));
        }
        // A short read: the store had nothing more as of this read, and whatever is
        // committed after it is published after it too, so it is queued or still to come;
        // unless something beyond the read was dropped while it ran.
        let caught_up = count < REPLAY_CHUNK && dropped <= last;
        entry.stream =
            if caught_up { Stream::Live { sent: last } } else { Stream::CatchingUp { sent: last, dropped: last } };
        true
    }

    /// A live room event of seq `seq`.
    pub fn live_event(&mut self, room_id: RoomId, seq: Seq) -> Verdict {
        let Some(entry) = self.rooms.get_mut(&room_id) else { return Verdict::Skip };
        let sent = match entry.stream {
            Stream::Live { sent } => sent,
            // A read that starts after this has the event; `read_returned` checks the one
            // running.
            Stream::CatchingUp { sent, dropped } => {
                entry.stream = Stream::CatchingUp { sent, dropped: dropped.max(seq) };
                return Verdict::Skip;
            }
            Stream::Pending => return Verdict::Skip,
        };
        if seq <= sent {
            return Verdict::Skip;
        }
        entry.stream = Stream::Live { sent: seq };
        if seq > sent.after(1) { Verdict::FillThenSend { after: sent } } else { Verdict::Send }
    }

    fn set(&mut self, room_id: RoomId, stream: Stream) {
        if let Some(entry) = self.rooms.get_mut(&room_id) {
            entry.stream = stream;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(range: std::ops::RangeInclusive<i64>) -> impl Iterator<Item = Option<Seq>> {
        range.map(|n| Some(Seq::new(n)))
    }

    fn live_at(last_seq: i64) -> (Subscriptions, RoomId) {
        let room = RoomId::generate();
        let mut subscriptions = Subscriptions::default();
        subscriptions.start(room);
        subscriptions.placed(room, None, Seq::new(last_seq));
        (subscriptions, room)
    }

    fn catching_up_after(after: i64) -> (Subscriptions, RoomId) {
        let room = RoomId::generate();
        let mut subscriptions = Subscriptions::default();
        subscriptions.start(room);
        subscriptions.placed(room, Some(Seq::new(after)), Seq::new(after + 1000));
        (subscriptions, room)
    }

    #[test]
    fn a_live_room_sends_the_next_seq_and_drops_duplicates() {
        let (mut subscriptions, room) = live_at(5);
        assert_eq!(subscriptions.live_event(room, Seq::new(6)), Verdict::Send);
        assert_eq!(subscriptions.live_event(room, Seq::new(6)), Verdict::Skip, "sent already");
        assert_eq!(subscriptions.live_event(room, Seq::new(3)), Verdict::Skip, "older than what was sent");
        assert_eq!(subscriptions.live_event(room, Seq::new(7)), Verdict::Send);
        assert_eq!(subscriptions.catching_up(), None);
    }

    #[test]
    fn a_gap_is_filled_from_the_last_seq_sent_then_the_stream_goes_on() {
        let (mut subscriptions, room) = live_at(5);
        assert_eq!(subscriptions.live_event(room, Seq::new(9)), Verdict::FillThenSend { after: Seq::new(5) });
        assert_eq!(subscriptions.live_event(room, Seq::new(7)), Verdict::Skip, "filled in already");
        assert_eq!(subscriptions.live_event(room, Seq::new(10)), Verdict::Send);
    }

    #[test]
    fn nothing_is_sent_before_the_resume_point_nor_after_unsubscribing() {
        let room = RoomId::generate();
        let mut subscriptions = Subscriptions::default();
        assert_eq!(subscriptions.live_event(room, Seq::new(1)), Verdict::Skip, "not subscribed");
        subscriptions.start(room);
        assert_eq!(subscriptions.live_event(room, Seq::new(1)), Verdict::Skip, "its resume point is not read yet");
        subscriptions.placed(room, None, Seq::new(1));
        assert_eq!(subscriptions.live_event(room, Seq::new(2)), Verdict::Send);
        subscriptions.end(room);
        assert_eq!(subscriptions.live_event(room, Seq::new(3)), Verdict::Skip);
        assert_eq!(subscriptions.rooms().count(), 0);
    }

    #[test]
    fn a_catching_up_room_drops_live_events_and_goes_live_after_a_short_read() {
        let (mut subscriptions, room) = catching_up_after(10);
        assert_eq!(subscriptions.catching_up(), Some(room));
        let read = subscriptions.start_read(room).unwrap();
        assert_eq!(read.after, Seq::new(10));
        assert_eq!(subscriptions.live_event(room, Seq::new(12)), Verdict::Skip, "the read has it");
        assert!(subscriptions.read_returned(room, read, seqs(11..=12)));
        assert_eq!(subscriptions.catching_up(), None);
        assert_eq!(subscriptions.live_event(room, Seq::new(12)), Verdict::Skip, "sent by the read");
        assert_eq!(subscriptions.live_event(room, Seq::new(13)), Verdict::Send);
    }

    #[test]
    fn a_full_read_is_followed_by_another() {
        let (mut subscriptions, room) = catching_up_after(0);
        let read = subscriptions.start_read(room).unwrap();
        assert!(subscriptions.read_returned(room, read, seqs(1..=REPLAY_CHUNK)));
        assert_eq!(subscriptions.catching_up(), Some(room), "the store may have more");
        let read = subscriptions.start_read(room).unwrap();
        assert_eq!(read.after, Seq::new(REPLAY_CHUNK));
        assert!(subscriptions.read_returned(room, read, std::iter::empty()));
        assert_eq!(subscriptions.live_event(room, Seq::new(REPLAY_CHUNK + 1)), Verdict::Send);
    }

    #[test]
    fn a_short_read_does_not_go_live_if_something_beyond_it_was_dropped_meanwhile() {
        let (mut subscriptions, room) = catching_up_after(10);
        let read = subscriptions.start_read(room).unwrap();
        // Committed and published after the read took its snapshot: dropped, and not in it.
        assert_eq!(subscriptions.live_event(room, Seq::new(13)), Verdict::Skip);
        assert!(subscriptions.read_returned(room, read, seqs(11..=12)));
        assert_eq!(subscriptions.catching_up(), Some(room), "13 would be lost if it went live");
        let read = subscriptions.start_read(room).unwrap();
        assert_eq!(read.after, Seq::new(12));
        assert!(subscriptions.read_returned(room, read, seqs(13..=13)));
        assert_eq!(subscriptions.catching_up(), None);
        assert_eq!(subscriptions.live_event(room, Seq::new(14)), Verdict::Send);
    }

    #[test]
    fn what_was_dropped_before_a_read_started_does_not_hold_it_back() {
        let (mut subscriptions, room) = catching_up_after(10);
        let read = subscriptions.start_read(room).unwrap();
        assert_eq!(subscriptions.live_event(room, Seq::new(30)), Verdict::Skip);
        assert!(subscriptions.read_returned(room, read, seqs(11..=12)));
        // The next read starts after the drop of 30, so it has it.
        let read = subscriptions.start_read(room).unwrap();
        assert!(subscriptions.read_returned(room, read, seqs(13..=30)));
        assert_eq!(subscriptions.catching_up(), None);
    }

    #[test]
    fn a_read_is_stale_once_the_room_is_unsubscribed_or_subscribed_anew() {
        let (mut subscriptions, room) = catching_up_after(10);
        let read = subscriptions.start_read(room).unwrap();
        subscriptions.end(room);
        assert!(!subscriptions.read_returned(room, read, seqs(11..=12)), "unsubscribed");

        subscriptions.start(room);
        subscriptions.placed(room, Some(Seq::new(10)), Seq::new(20));
        let stale = subscriptions.start_read(room).unwrap();
        subscriptions.start(room);
        subscriptions.placed(room, Some(Seq::new(15)), Seq::new(20));
        assert!(!subscriptions.read_returned(room, stale, seqs(11..=12)), "subscribed anew");
        let read = subscriptions.start_read(room).unwrap();
        assert_eq!(read.after, Seq::new(15), "the new subscription's point, untouched by the stale read");
    }

    #[test]
    fn events_without_a_seq_count_toward_the_chunk_but_not_the_position() {
        let (mut subscriptions, room) = catching_up_after(10);
        let read = subscriptions.start_read(room).unwrap();
        assert!(subscriptions.read_returned(room, read, [Some(Seq::new(11)), None]));
        assert_eq!(subscriptions.live_event(room, Seq::new(12)), Verdict::Send);
    }

    #[test]
    fn only_a_catching_up_room_is_read() {
        let (mut subscriptions, room) = live_at(5);
        assert_eq!(subscriptions.start_read(room), None);
        assert_eq!(subscriptions.start_read(RoomId::generate()), None);
        subscriptions.clear();
        assert_eq!(subscriptions.rooms().count(), 0);
    }
}
