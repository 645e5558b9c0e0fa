//! Waits between attempts that double after each failure in a row, up to a ceiling: the one
//! backoff of the server (accepting connections, reconnecting to Redis, restarting an MCP
//! server), each with its own first wait and ceiling.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    /// Failures since the last success.
    streak: u32,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max, streak: 0 }
    }

    /// Records a failure; returns the wait before the next attempt: `first` after the first
    /// failure of a streak, twice the last after each further one, never over `max`.
    pub fn failed(&mut self) -> Duration {
        self.streak = self.streak.saturating_add(1);
        // Past 2^20 × `first` every ceiling in use is reached; the shift cannot overflow.
        let doublings = (self.streak - 1).min(20);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }

    /// Ends the streak (an attempt worked); returns how many failures it had.
    pub fn reset(&mut self) -> u32 {
        std::mem::take(&mut self.streak)
    }

    /// Failures since the last success.
    pub fn streak(&self) -> u32 {
        self.streak
    }

    pub fn max(&self) -> Duration {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_from_the_first_wait_up_to_the_ceiling() {
        let mut backoff = Backoff::new(10 * MS, 1000 * MS);
        let waits: Vec<u128> = (0..10).map(|_| backoff.failed().as_millis()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert_eq!(backoff.streak(), 10);
    }

    #[test]
    fn a_success_starts_over_from_the_first_wait() {
        let mut backoff = Backoff::new(100 * MS, 1000 * MS);
        backoff.failed();
        backoff.failed();
        assert_eq!(backoff.reset(), 2);
        assert_eq!(backoff.streak(), 0);
        assert_eq!(backoff.failed(), 100 * MS);
    }

    #[test]
    fn an_endless_streak_stays_at_the_ceiling() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..100 {
            backoff.failed();
        }
        assert_eq!(backoff.failed(), Duration::from_secs(60));
        let mut backoff = Backoff { streak: u32::MAX, ..backoff };
        assert_eq!(backoff.failed(), Duration::from_secs(60));
        assert_eq!(backoff.streak(), u32::MAX);
    }
}
