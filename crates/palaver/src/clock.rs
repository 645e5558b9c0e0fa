//! The server's notion of now. PostgreSQL keeps microseconds, so every timestamp is cut to
//! microseconds before it is stored or sent: what a client is told equals what it reads back.

use time::OffsetDateTime;

pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
}
