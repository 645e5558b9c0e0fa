//! Exactly-once, in-order delivery by room seq. A subscriber keeps a [`SeqLedger`] of what it
//! received (across all its reconnects); at the end it is compared with the seqs it should
//! have received. Bitsets keep this to one bit per seq, so 2,000 subscribers of a long run
//! stay cheap.

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
    pub fn record(&mut self, seq: i64) {
        self.received += 1;
        if seq < 1 {
            // Not a room event seq at all: something that must never arrive.
            self.invalid += 1;
            return;
        }
        if !self.seen.insert(seq) {
            self.duplicated += 1;
            return;
        }
        if seq < self.max_seen {
            self.out_of_order += 1;
        }
        self.max_seen = self.max_seen.max(seq);
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
        for seq in [1, 2, 4, 3, 4, 7, 0] {
            ledger.record(seq);
        }
        let check = ledger.verify(&SeqSet::upto(6));
        assert_eq!(check.lost, 2, "5 and 6");
        assert_eq!(check.duplicated, 1, "the second 4");
        assert_eq!(check.out_of_order, 1, "3 after 4");
        assert_eq!(check.unexpected, 2, "7 and 0");
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
