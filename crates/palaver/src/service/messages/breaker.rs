//! A circuit breaker for the write path. Once a write finds the database unavailable,
//! writes fail at once for a short pause instead of each waiting out the pool's acquire
//! timeout; the first write after the pause tries the database again, and a success
//! closes the breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Breaker {
    pause: Duration,
    /// Set while the database is known to be down: writes fail until this instant.
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    pub fn new(pause: Duration) -> Self {
        Self { pause, open_until: Mutex::new(None) }
    }

    /// `Err(wait)`, the rest of the pause, while writes should not try the database.
    pub fn check(&self, now: Instant) -> Result<(), Duration> {
        match *self.state() {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// The database was found unavailable: pause writes. `true` if it was thought up.
    pub fn trip(&self, now: Instant) -> bool {
        self.state().replace(now + self.pause).is_none()
    }

    /// A write went through. `true` if the database was thought down.
    pub fn reset(&self) -> bool {
        self.state().take().is_some()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // Nothing panics while holding the lock, so a poisoned one holds a valid value.
        self.open_until.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_for_the_pause_after_a_trip_then_lets_a_probe_through() {
        let breaker = Breaker::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(breaker.check(t0), Ok(()));
        assert!(breaker.trip(t0), "the first trip reports the change");
        assert_eq!(breaker.check(t0 + Duration::from_millis(400)), Err(Duration::from_millis(600)));
        assert_eq!(breaker.check(t0 + Duration::from_secs(1)), Ok(()), "after the pause a probe may try");
        assert!(!breaker.trip(t0 + Duration::from_secs(1)), "a failed probe is no news");
        assert!(breaker.check(t0 + Duration::from_millis(1500)).is_err());
        assert!(breaker.reset(), "the first success reports the change");
        assert_eq!(breaker.check(t0 + Duration::from_millis(1500)), Ok(()));
        assert!(!breaker.reset());
    }
}
