//! Token buckets: each event costs one token; a bucket refills at `rate` per second up to
//! `burst`. One per WebSocket (frames), one per client address for the auth endpoints, and
//! one per user for writes.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { rate, burst, tokens: burst, last: Instant::now() }
    }

    /// Takes a token; `false` means the client is over its limit.
    pub fn take(&mut self) -> bool {
        self.try_take().is_ok()
    }

    /// Takes a token, or says how long until one is available.
    pub fn try_take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate.max(f64::MIN_POSITIVE)))
        }
    }

    fn is_full(&self, now: Instant) -> bool {
        self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate >= self.burst
    }
}

/// One bucket per key (a client address, a user). Buckets that have refilled are forgotten
/// when the map grows, so memory stays bounded by the number of keys active recently.
pub struct KeyedRateLimit<K = IpAddr> {
    rate: f64,
    burst: f64,
    buckets: Mutex<Buckets<K>>,
}

struct Buckets<K> {
    map: HashMap<K, RateLimit>,
    /// The size at which full buckets are next dropped: twice what a sweep left, so a map of
    /// many busy keys is swept now and then, not on every call.
    prune_at: usize,
}

/// Tracked keys before the first sweep.
const PRUNE_AT: usize = 10_000;

impl<K: Hash + Eq> KeyedRateLimit<K> {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { rate, burst, buckets: Mutex::new(Buckets { map: HashMap::new(), prune_at: PRUNE_AT }) }
    }

    pub fn try_take(&self, key: K) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.map.len() >= buckets.prune_at {
            let now = Instant::now();
            buckets.map.retain(|_, bucket| !bucket.is_full(now));
            buckets.prune_at = (buckets.map.len() * 2).max(PRUNE_AT);
        }
        buckets.map.entry(key).or_insert_with(|| RateLimit::new(self.rate, self.burst)).try_take()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn burst_then_refuse() {
        let mut r = super::RateLimit::new(1.0, 3.0);
        assert!(r.take() && r.take() && r.take());
        assert!(!r.take());
    }

    #[test]
    fn keyed_buckets_are_independent() {
        let limit = super::KeyedRateLimit::<std::net::IpAddr>::new(0.5, 1.0);
        let (a, b) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        assert!(limit.try_take(a).is_ok());
        let wait = limit.try_take(a).unwrap_err();
        assert!(wait.as_secs_f64() > 1.0, "{wait:?}");
        assert!(limit.try_take(b).is_ok());
    }

    #[test]
    fn a_map_of_busy_keys_is_not_swept_on_every_call() {
        let limit = super::KeyedRateLimit::<u32>::new(0.001, 2.0);
        for key in 0..super::PRUNE_AT as u32 + 1 {
            assert!(limit.try_take(key).is_ok());
        }
        // Nothing was full, so nothing was dropped, and the next sweep waits for twice as many.
        let buckets = limit.buckets.lock().unwrap();
        assert_eq!(buckets.map.len(), super::PRUNE_AT + 1);
        assert_eq!(buckets.prune_at, 2 * super::PRUNE_AT);
    }
}
