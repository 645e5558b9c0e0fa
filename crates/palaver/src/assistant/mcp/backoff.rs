//! When a server that failed may be tried again: 1 s, doubling to 60 s.

use std::time::Duration;

use tokio::time::Instant;

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(60);

/// Consecutive failures of one server. A connection that stayed up for `MAX_DELAY` ends the
/// streak, so a server that crashes on every call still backs off while one that crashes once
/// a day restarts after a second.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    streak: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    /// Records a failure; returns the delay before the next attempt.
    pub(super) fn failed(&mut self, now: Instant) -> Duration {
        self.streak = self.streak.saturating_add(1);
        let doublings = self.streak.saturating_sub(1).min(16);
        let delay = FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
        self.retry_at = Some(now + delay);
        delay
    }

    /// The first failure of a streak is the one worth a warning; the rest repeat it.
    pub(super) fn is_new_streak(&self) -> bool {
        self.streak == 1
    }

    pub(super) fn streak(&self) -> u32 {
        self.streak
    }

    /// How long until the next attempt is allowed, if it is not yet.
    pub(super) fn remaining(&self, now: Instant) -> Option<Duration> {
        let retry_at = self.retry_at?;
        (retry_at > now).then(|| retry_at - now)
    }

    /// A connection was made; the streak goes on until it proves stable.
    pub(super) fn connected(&mut self) {
        self.retry_at = None;
    }

    /// A connection that had been up since `since` ended at `now`.
    pub(super) fn ended(&mut self, since: Instant, now: Instant) {
        if now.saturating_duration_since(since) >= MAX_DELAY {
            self.streak = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_a_minute() {
        let now = Instant::now();
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..9).map(|_| backoff.failed(now).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff.remaining(now), Some(MAX_DELAY));
        assert_eq!(backoff.remaining(now + MAX_DELAY), None);
    }

    #[test]
    fn only_the_first_failure_starts_a_streak() {
        let now = Instant::now();
        let mut backoff = Backoff::default();
        backoff.failed(now);
        assert!(backoff.is_new_streak());
        backoff.failed(now);
        assert!(!backoff.is_new_streak());
    }

    #[test]
    fn a_short_lived_connection_keeps_the_streak_a_long_one_ends_it() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        backoff.failed(start);
        backoff.connected();
        assert_eq!(backoff.remaining(start), None);
        backoff.ended(start, start + Duration::from_secs(5));
        assert_eq!(backoff.failed(start).as_secs(), 2);
        backoff.connected();
        backoff.ended(start, start + MAX_DELAY);
        assert_eq!(backoff.failed(start).as_secs(), 1);
    }
}
