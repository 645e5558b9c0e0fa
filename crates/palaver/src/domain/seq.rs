//! A room's event counter as a type: the position of an event in its room's log, from 1,
//! with no gaps (see `store/messages/write.rs`). `Seq::ZERO` is "before the first event":
//! an empty room's last seq, a read marker that has read nothing. Stored and sent as the
//! plain integer; the wire types keep `i64` and convert in `service::views`.

use std::fmt;

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct Seq(i64);

impl Seq {
    pub const ZERO: Seq = Seq(0);

    /// A seq a client or a wire type gave, or one read back from a count.
    pub const fn new(seq: i64) -> Self {
        Self(seq)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// The seq `n` events after this one.
    pub const fn after(self, n: i64) -> Self {
        Self(self.0 + n)
    }

    /// How many events lie after `earlier` up to and including this one.
    pub const fn since(self, earlier: Seq) -> i64 {
        self.0 - earlier.0
    }
}

impl From<Seq> for i64 {
    fn from(seq: Seq) -> i64 {
        seq.0
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
