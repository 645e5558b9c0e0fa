//! Token buckets: each event costs one token; a bucket refills at `rate` per second up to
//! `burst`. One per WebSocket (frames), one per client address for the auth endpoints, and
//! one per user for writes, uploads and assistant sends. The keyed ones are shared by every
//! instance when they share a Redis (`SharedRateLimit`): a client cannot multiply its
//! budget by the number of instances behind the load balancer.

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

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

/// One token bucket per key in Redis, checked and taken in one script on Redis's clock.
/// KEYS: the bucket. ARGV: rate per second, burst. Returns 0 (taken) or the ms to wait.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate = tonumber(ARGV[1]) / 1000
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return wait";

/// A keyed limit in Redis when the instances share one, else this instance's own. While
/// Redis cannot be reached, each instance falls back to its own buckets (a client gets
/// at most one budget per instance meanwhile, never none).
pub struct SharedRateLimit<K> {
    local: KeyedRateLimit<K>,
    shared: Option<RedisBuckets>,
}

struct RedisBuckets {
    conn: ConnectionManager,
    /// After a failed call, Redis is skipped until then: an outage costs one slow check a
    /// second, not one per request.
    skip_until: Mutex<Option<Instant>>,
    /// Names the limit in the keys: `palaver:ratelimit:<name>:<key>`.
    name: &'static str,
    take: redis::Script,
    rate: f64,
    burst: f64,
}

impl<K: Hash + Eq + Display> SharedRateLimit<K> {
    pub fn new(name: &'static str, rate: f64, burst: f64, redis: Option<&ConnectionManager>) -> Self {
        let shared = redis.map(|conn| RedisBuckets {
            conn: conn.clone(),
            skip_until: Mutex::new(None),
            name,
            take: redis::Script::new(TAKE),
            rate,
            burst,
        });
        Self { local: KeyedRateLimit::new(rate, burst), shared }
    }

    /// Takes a token, or says how long until one is available.
    pub async fn try_take(&self, key: K) -> Result<(), Duration> {
        if let Some(shared) = &self.shared
            && let Some(verdict) = shared.try_take(&key).await
        {
            return verdict;
        }
        self.local.try_take(key)
    }
}

impl RedisBuckets {
    /// `None`: Redis did not answer (or failed recently); the caller decides locally.
    async fn try_take(&self, key: &impl Display) -> Option<Result<(), Duration>> {
        let skip_until = *self.skip_until.lock().unwrap_or_else(|e| e.into_inner());
        if skip_until.is_some_and(|until| Instant::now() < until) {
            return None;
        }
        let bucket = format!("palaver:ratelimit:{}:{key}", self.name);
        let mut invocation = self.take.key(bucket);
        invocation.arg(self.rate).arg(self.burst);
        let mut conn = self.conn.clone();
        let call = invocation.invoke_async::<u64>(&mut conn);
        let failed = match tokio::time::timeout(crate::realtime::redis::TIMEOUT, call).await {
            Ok(Ok(0)) => return Some(Ok(())),
            Ok(Ok(wait_ms)) => return Some(Err(Duration::from_millis(wait_ms))),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        tracing::debug!(error = failed, limit = self.name, "rate limit of this instance only: Redis unavailable");
        *self.skip_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + Duration::from_secs(1));
        None
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
