//! What a publisher's frames are when it does more than post: top-level messages, replies in
//! threads it started, and reactions toggled on its own recent messages. Each reaction flips
//! the publisher's own emoji on a message only it reacts to, so every `react` frame changes
//! something and takes exactly one seq (adding one already there, or removing one that is
//! not, takes none, and the run could no longer say which seqs to expect).

use std::collections::VecDeque;

use palaver_protocol::Message;
use uuid::Uuid;

/// The emoji a publisher toggles: pictographs of one and two code points and a shortcode, so
/// the run covers each form the server accepts.
pub const EMOJI: [&str; 4] = ["👍", "🎉", "❤️", ":loadgen:"];

/// Recent acked messages a publisher keeps as reply roots and reaction targets.
const RECENT: usize = 64;

/// The share of a publisher's frames that are replies and reactions (the rest are top-level
/// messages), in percent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mix {
    pub replies_percent: u8,
    pub reactions_percent: u8,
}

impl Mix {
    pub fn new(replies_percent: u8, reactions_percent: u8) -> anyhow::Result<Mix> {
        anyhow::ensure!(
            u16::from(replies_percent) + u16::from(reactions_percent) <= 100,
            "--replies-percent + --reactions-percent must be at most 100"
        );
        Ok(Mix { replies_percent, reactions_percent })
    }

    /// What a frame should be for a roll in `0..100`.
    pub fn kind(&self, roll: u8) -> Kind {
        if roll < self.replies_percent {
            Kind::Reply
        } else if roll < self.replies_percent.saturating_add(self.reactions_percent) {
            Kind::Reaction
        } else {
            Kind::TopLevel
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TopLevel,
    Reply,
    Reaction,
}

/// One reaction frame in flight: on which message, which of [`EMOJI`], added or taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toggle {
    pub message_id: Uuid,
    pub emoji: usize,
    pub added: bool,
}

impl Toggle {
    pub fn emoji(&self) -> &'static str {
        EMOJI[self.emoji]
    }

    /// Whether the message of an ack shows `user_id`'s reaction as this toggle left it.
    pub fn shown_in(&self, message: &Message, user_id: Uuid) -> bool {
        let has = message.reactions.iter().any(|r| r.emoji == self.emoji() && r.user_ids.contains(&user_id));
        message.id == self.message_id && has == self.added
    }
}

#[derive(Debug)]
struct Entry {
    id: Uuid,
    top_level: bool,
    /// Bit k: the publisher's reaction with `EMOJI[k]` is on the message (as of the last ack).
    reacted: u8,
    /// A reaction frame on it is unanswered: its state is unknown until the answer.
    busy: bool,
}

/// The publisher's most recent acked messages (bounded), with its own reactions on them.
#[derive(Debug, Default)]
pub struct Recent {
    entries: VecDeque<Entry>,
}

impl Recent {
    /// A message of this publisher was acked.
    pub fn push(&mut self, id: Uuid, top_level: bool) {
        if self.entries.len() == RECENT {
            // A toggle in flight on it is still answered and counted; it just takes no more.
            self.entries.pop_front();
        }
        self.entries.push_back(Entry { id, top_level, reacted: 0, busy: false });
    }

    /// A top-level message to reply to, the `pick`-th (modulo) of those held.
    pub fn root(&self, pick: usize) -> Option<Uuid> {
        let roots = self.entries.iter().filter(|e| e.top_level).count();
        if roots == 0 {
            return None;
        }
        self.entries.iter().filter(|e| e.top_level).nth(pick % roots).map(|e| e.id)
    }

    /// Starts a toggle of one emoji on a message with no toggle in flight (the `pick`-th,
    /// modulo): adds it if it is not there, else takes it back.
    pub fn start_toggle(&mut self, pick: usize) -> Option<Toggle> {
        let idle = self.entries.iter().filter(|e| !e.busy).count();
        if idle == 0 {
            return None;
        }
        let entry = self.entries.iter_mut().filter(|e| !e.busy).nth(pick % idle)?;
        entry.busy = true;
        let emoji = (pick / idle) % EMOJI.len();
        Some(Toggle { message_id: entry.id, emoji, added: entry.reacted & (1 << emoji) == 0 })
    }

    /// The answer to a toggle: `changed` when it was acked (the server did it), not when it
    /// was refused (nothing changed).
    pub fn finish_toggle(&mut self, toggle: Toggle, changed: bool) {
        let Some(entry) = self.entries.iter_mut().find(|e| e.id == toggle.message_id) else { return };
        entry.busy = false;
        if changed {
            entry.reacted ^= 1 << toggle.emoji;
        }
    }
}

#[cfg(test)]
mod tests {
    use palaver_protocol::{MessageKind, Reaction, UserRef};

    use super::*;

    #[test]
    fn rolls_split_by_percent() {
        let mix = Mix::new(20, 30).unwrap();
        let kinds: Vec<Kind> = (0..100).map(|roll| mix.kind(roll)).collect();
        let count = |k| kinds.iter().filter(|&&x| x == k).count();
        assert_eq!((count(Kind::Reply), count(Kind::Reaction), count(Kind::TopLevel)), (20, 30, 50));
        assert!(Mix::default().kind(0) == Kind::TopLevel, "no mix: only top-level messages");
        assert!(Mix::new(60, 41).is_err());
        assert_eq!(Mix::new(0, 100).unwrap().kind(99), Kind::Reaction);
    }

    #[test]
    fn replies_go_to_top_level_messages_only() {
        let mut recent = Recent::default();
        assert_eq!(recent.root(0), None);
        let (root, reply) = (Uuid::now_v7(), Uuid::now_v7());
        recent.push(root, true);
        recent.push(reply, false);
        assert!((0..10).all(|pick| recent.root(pick) == Some(root)));
    }

    #[test]
    fn toggles_alternate_and_skip_messages_with_one_in_flight() {
        let mut recent = Recent::default();
        assert_eq!(recent.start_toggle(0), None, "nothing to react to yet");
        let id = Uuid::now_v7();
        recent.push(id, true);
        let first = recent.start_toggle(0).unwrap();
        assert_eq!((first.message_id, first.emoji, first.added), (id, 0, true));
        assert_eq!(recent.start_toggle(0), None, "its only message has a toggle in flight");

        // Refused: nothing changed, so the next toggle adds again.
        recent.finish_toggle(first, false);
        let again = recent.start_toggle(0).unwrap();
        assert!(again.added);
        // Acked: the next one on that emoji takes it back, then adds it again.
        recent.finish_toggle(again, true);
        let back = recent.start_toggle(0).unwrap();
        assert!(!back.added);
        recent.finish_toggle(back, true);
        assert!(recent.start_toggle(0).unwrap().added);
    }

    #[test]
    fn each_emoji_has_its_own_state() {
        let mut recent = Recent::default();
        recent.push(Uuid::now_v7(), true);
        let thumbs = recent.start_toggle(0).unwrap();
        recent.finish_toggle(thumbs, true);
        // With one idle message, pick k is emoji k.
        let tada = recent.start_toggle(1).unwrap();
        assert_eq!((tada.emoji, tada.added), (1, true));
        recent.finish_toggle(tada, true);
        assert!(!recent.start_toggle(0).unwrap().added, "👍 is on: taken back");
    }

    #[test]
    fn bounded_and_an_evicted_message_is_forgotten() {
        let mut recent = Recent::default();
        let first = Uuid::now_v7();
        recent.push(first, true);
        let toggle = recent.start_toggle(0).unwrap();
        for _ in 0..RECENT {
            recent.push(Uuid::now_v7(), false);
        }
        assert_eq!(recent.entries.len(), RECENT);
        assert_eq!(recent.root(0), None, "the only top-level message was evicted");
        recent.finish_toggle(toggle, true);
        assert!(recent.entries.iter().all(|e| e.reacted == 0 && !e.busy));
    }

    #[test]
    fn an_ack_shows_the_toggle_or_not() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mut message = Message {
            id: Uuid::now_v7(),
            room_id: Uuid::now_v7(),
            seq: 1,
            updated_seq: 1,
            author: UserRef { id: me, username: "a".into() },
            kind: MessageKind::Text,
            content: "x".into(),
            attachment: None,
            client_msg_id: None,
            created_at: time::OffsetDateTime::now_utc(),
            edited_at: None,
            deleted: false,
            thread_root_id: None,
            thread: None,
            reactions: vec![Reaction { emoji: "🎉".into(), count: 1, user_ids: vec![other] }],
            via: None,
        };
        let add = Toggle { message_id: message.id, emoji: 1, added: true };
        assert!(!add.shown_in(&message, me), "someone else's 🎉 is not mine");
        message.reactions[0].user_ids.push(me);
        assert!(add.shown_in(&message, me));
        let remove = Toggle { added: false, ..add };
        assert!(!remove.shown_in(&message, me));
        assert!(!Toggle { message_id: Uuid::now_v7(), ..remove }.shown_in(&message, other), "another message");
    }
}
