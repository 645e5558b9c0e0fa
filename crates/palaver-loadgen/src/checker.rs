//! Exactly-once, in-order delivery by room seq. A subscriber keeps a [`SeqLedger`] of what it
//! received (across all its reconnects); at the end it is compared with the seqs it should
//! have received. Bitsets keep this to one bit per seq, so 2,000 subscribers of a long run
//! stay cheap. [`EventKinds`] says what those seqs were, so a run that mixes replies and
//! reactions into its posts can check that each arrived as what it is.

use std::ops::AddAssign;

use serde::Serialize;

/// A set of seqs (≥ 1) as a bitset.
#[derive(Debug, Default, Clone)]
pub struct SeqSet {
    words: Vec<u64>,
}

impl SeqSet {
    /// `1..=last`.
    pub fn upto(last: i64) -> Self {
        let mut set = SeqSet::default();
        for seq in 1..=last {
            set.insert(seq);
        }
        set
    }

    /// Whether `seq` was new. Seqs below 1 are never stored.
    pub fn insert(&mut self, seq: i64) -> bool {
        let Some((word, bit)) = Self::slot(seq) else { return false };
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let was = self.words[word] & bit != 0;
        self.words[word] |= bit;
        !was
    }

    pub fn contains(&self, seq: i64) -> bool {
        Self::slot(seq).is_some_and(|(word, bit)| self.words.get(word).is_some_and(|w| w & bit != 0))
    }

    pub fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn max(&self) -> i64 {
        for (i, w) in self.words.iter().enumerate().rev() {
            if *w != 0 {
                return (i as i64) * 64 + (63 - i64::from(w.leading_zeros())) + 1;
            }
        }
        0
    }

    /// How many seqs are in `self` and not in `other`.
    pub fn count_missing_from(&self, other: &SeqSet) -> u64 {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| u64::from((w & !other.words.get(i).copied().unwrap_or(0)).count_ones()))
            .sum()
    }

    fn slot(seq: i64) -> Option<(usize, u64)> {
        if seq < 1 {
            return None;
        }
        let index = (seq - 1) as usize;
        Some((index / 64, 1u64 << (index % 64)))
    }
}

/// What one subscriber received, in arrival order, over all its connections.
#[derive(Debug, Default, Clone)]
pub struct SeqLedger {
    seen: SeqSet,
    max_seen: i64,
    received: u64,
    duplicated: u64,
    out_of_order: u64,
    invalid: u64,
}

impl SeqLedger {
    /// Whether `seq` was new (a valid seq not received before).
    pub fn record(&mut self, seq: i64) -> bool {
        self.received += 1;
        if seq < 1 {
            // Not a room event seq at all: something that must never arrive.
            self.invalid += 1;
            return false;
        }
        if !self.seen.insert(seq) {
            self.duplicated += 1;
            return false;
        }
        if seq < self.max_seen {
            self.out_of_order += 1;
        }
        self.max_seen = self.max_seen.max(seq);
        true
    }

    /// The highest seq received: what a client resumes from.
    pub fn max_seen(&self) -> i64 {
        self.max_seen
    }

    pub fn verify(&self, expected: &SeqSet) -> SeqCheck {
        SeqCheck {
            received: self.received,
            lost: expected.count_missing_from(&self.seen),
            duplicated: self.duplicated,
            out_of_order: self.out_of_order,
            unexpected: self.seen.count_missing_from(expected) + self.invalid,
        }
    }
}

/// The verdict for one subscriber, or summed over many.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeqCheck {
    /// Room events received, duplicates included.
    pub received: u64,
    /// Expected seqs never received.
    pub lost: u64,
    /// Seqs received more than once.
    pub duplicated: u64,
    /// Seqs received after a higher one.
    pub out_of_order: u64,
    /// Seqs received that were not expected (e.g. a send whose ack never came back), or
    /// not valid seqs at all.
    pub unexpected: u64,
}

impl AddAssign for SeqCheck {
    fn add_assign(&mut self, other: SeqCheck) {
        self.received += other.received;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.unexpected += other.unexpected;
    }
}

/// Room events by what they are, each seq counted once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EventKinds {
    /// `message` frames of top-level messages.
    pub top_level: u64,
    /// `message` frames of replies (with `thread_root_id`).
    pub replies: u64,
    pub reactions: u64,
    /// Edits, deletes, and any other kind with a seq.
    pub other: u64,
}

impl EventKinds {
    pub fn count(&mut self, kind: &str, reply: bool) {
        match kind {
            "message" if reply => self.replies += 1,
            "message" => self.top_level += 1,
            "reaction" => self.reactions += 1,
            _ => self.other += 1,
        }
    }
}

impl AddAssign for EventKinds {
    fn add_assign(&mut self, other: EventKinds) {
        self.top_level += other.top_level;
        self.replies += other.replies;
        self.reactions += other.reactions;
        self.other += other.other;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_exactly_once_is_clean() {
        let mut ledger = SeqLedger::default();
        for seq in 1..=200 {
            ledger.record(seq);
        }
        let check = ledger.verify(&SeqSet::upto(200));
        assert_eq!(check, SeqCheck { received: 200, ..SeqCheck::default() });
        assert_eq!(ledger.max_seen(), 200);
    }

    #[test]
    fn counts_loss_duplicates_reordering_and_strays() {
        let mut ledger = SeqLedger::default();
        let new: Vec<bool> = [1, 2, 4, 3, 4, 7, 0].into_iter().map(|seq| ledger.record(seq)).collect();
        assert_eq!(new, [true, true, true, true, false, true, false]);
        let check = ledger.verify(&SeqSet::upto(6));
        assert_eq!(check.lost, 2, "5 and 6");
        assert_eq!(check.duplicated, 1, "the second 4");
        assert_eq!(check.out_of_order, 1, "3 after 4");
        assert_eq!(check.unexpected, 2, "7 and 0");
    }

    #[test]
    fn kinds_tell_replies_from_top_level_and_reactions_from_edits() {
        let mut kinds = EventKinds::default();
        for (kind, reply) in
            [("message", false), ("message", true), ("reaction", false), ("message_updated", false), ("message", true)]
        {
            kinds.count(kind, reply);
        }
        assert_eq!(kinds, EventKinds { top_level: 1, replies: 2, reactions: 1, other: 1 });
        let mut sum = kinds;
        sum += kinds;
        assert_eq!(sum.replies, 4);
    }

    #[test]
    fn bitset_basics() {
        let mut set = SeqSet::default();
        assert!(set.is_empty());
        assert!(set.insert(64) && set.insert(65) && !set.insert(64));
        assert!(set.contains(65) && !set.contains(1) && !set.contains(0));
        assert_eq!((set.len(), set.max()), (2, 65));
        assert_eq!(SeqSet::upto(130).max(), 130);
    }
}
