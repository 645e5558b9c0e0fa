//! Token buckets: each event costs one token; a bucket refills at `rate` per second up to
//! `burst`. One per WebSocket (frames), and one per client address for the auth endpoints.

use std::collections::HashMap;
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

/// One bucket per client address. Buckets that have refilled are forgotten when the map
/// grows, so memory stays bounded by the number of addresses active recently.
pub struct KeyedRateLimit {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, RateLimit>>,
}

/// Past this many tracked addresses, full buckets are dropped.
const PRUNE_AT: usize = 10_000;

impl KeyedRateLimit {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { rate, burst, buckets: Mutex::new(HashMap::new()) }
    }

    pub fn try_take(&self, key: IpAddr) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= PRUNE_AT {
            let now = Instant::now();
            buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        buckets.entry(key).or_insert_with(|| RateLimit::new(self.rate, self.burst)).try_take()
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
        let limit = super::KeyedRateLimit::new(0.5, 1.0);
        let (a, b) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        assert!(limit.try_take(a).is_ok());
        let wait = limit.try_take(a).unwrap_err();
        assert!(wait.as_secs_f64() > 1.0, "{wait:?}");
        assert!(limit.try_take(b).is_ok());
    }
}
