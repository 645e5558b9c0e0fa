//! Periodic work of a handle (polls, sweeps, heartbeats) that ends with the services: the
//! task holds its handle weakly and stops once the handle is gone.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

pub(super) struct Ticks<T> {
    owner: Weak<T>,
    interval: Interval,
}

impl<T> Ticks<T> {
    /// The first tick after `first`, then every `period` (a slow tick delays the next).
    pub(super) fn new(owner: &Arc<T>, first: Duration, period: Duration) -> Self {
        let mut interval = tokio::time::interval_at(Instant::now() + first, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { owner: Arc::downgrade(owner), interval }
    }

    /// Waits for the next tick; `None` once the owner is gone.
    pub(super) async fn next(&mut self) -> Option<Arc<T>> {
        self.interval.tick().await;
        self.owner.upgrade()
    }
}
