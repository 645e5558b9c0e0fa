//! The subscribing task: one Redis connection holding a channel for each topic this
//! instance has local subscribers of, kept in step with the hub through `Interest`, and
//! re-established (every channel again) after it is lost.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{RECONNECT, TIMEOUT, wire};
use crate::realtime::{Hub, Interest, Topic};

/// Channels per SUBSCRIBE command when subscribing to everything after a reconnect.
const SUBSCRIBE_CHUNK: usize = 512;
/// How often the connection is checked while nothing arrives on it.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Sessions waiting for a topic's channel to be subscribed, and the channels that are.
#[derive(Default)]
pub struct Waiters {
    inner: Mutex<WaitState>,
}

#[derive(Default)]
struct WaitState {
    subscribed: HashSet<Topic>,
    waiting: HashMap<Topic, Vec<oneshot::Sender<()>>>,
}

impl Waiters {
    pub async fn ready(&self, topic: Topic, up: &AtomicBool) {
        if !up.load(Ordering::Acquire) {
            return;
        }
        let rx = {
            let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if state.subscribed.contains(&topic) {
                return;
            }
            let (tx, rx) = oneshot::channel();
            state.waiting.entry(topic).or_default().push(tx);
            rx
        };
        // Dropped unanswered when the connection is lost: go on, the catch-up covers it.
        if tokio::time::timeout(TIMEOUT, rx).await.is_err() {
            tracing::warn!(?topic, "Redis did not confirm a subscription in time");
        }
    }

    fn subscribed(&self, topics: &[Topic]) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for topic in topics {
            state.subscribed.insert(*topic);
            for tx in state.waiting.remove(topic).into_iter().flatten() {
                let _ = tx.send(());
            }
        }
    }

    fn unsubscribed(&self, topic: Topic) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.subscribed.remove(&topic);
        state.waiting.remove(&topic);
    }

    fn is_subscribed(&self, topic: Topic) -> bool {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).subscribed.contains(&topic)
    }

    /// The connection is gone: nothing is subscribed, nobody waits.
    fn reset(&self) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.subscribed.clear();
        state.waiting.clear();
    }
}

pub struct Subscriber {
    pub origin: Uuid,
    pub client: redis::Client,
    pub hub: Arc<Hub>,
    pub interest: Arc<Interest>,
    pub waiters: Arc<Waiters>,
    pub up: Arc<AtomicBool>,
    pub gaps: Arc<watch::Sender<u64>>,
    pub cancels: mpsc::Sender<Uuid>,
}

impl Subscriber {
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = RECONNECT;
        let mut was_up = true;
        let mut connected_before = false;
        loop {
            let ended = tokio::select! {
                _ = stop.cancelled() => return,
                ended = self.connected(connected_before) => ended,
            };
            self.up.store(false, Ordering::Release);
            self.waiters.reset();
            match ended {
                // It worked for a while: reconnect soon, and say so once.
                Ok(()) => {
                    connected_before = true;
                    backoff.reset();
                    tracing::warn!("lost the Redis subscriber connection: delivering to this instance only");
                    was_up = false;
                }
                Err(e) => {
                    if was_up {
                        tracing::warn!(error = %e, "cannot subscribe to Redis: delivering to this instance only");
                        was_up = false;
                    }
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff.failed()) => {}
            }
        }
    }

    /// Connects, subscribes to everything the hub has, then follows the hub and delivers
    /// until the connection fails (`Ok` if it got as far as delivering).
    async fn connected(&self, reconnect: bool) -> redis::RedisResult<()> {
        let pubsub = tokio::time::timeout(TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))??;
        let (mut sink, mut stream) = pubsub.split();
        within(sink.subscribe(&[wire::RESYNC_CHANNEL, wire::CANCEL_CHANNEL, wire::USERS_CHANNEL])).await?;
        // What changes from here on is handled below; start from the whole picture.
        self.interest.take();
        let topics = self.hub.topics();
        for chunk in topics.chunks(SUBSCRIBE_CHUNK) {
            let channels: Vec<String> = chunk.iter().map(|t| wire::channel(*t)).collect();
            within(sink.subscribe(&channels)).await?;
            self.waiters.subscribed(chunk);
        }
        self.up.store(true, Ordering::Release);
        tracing::info!(channels = topics.len(), "subscribed to Redis");
        if reconnect {
            metrics::counter!("palaver_broker_reconnects_total").increment(1);
        }
        // Anything published while we were not subscribed is in the store.
        self.gaps.send_modify(|n| *n += 1);
        self.deliver(&mut sink, &mut stream).await;
        Ok(())
    }

    async fn deliver(&self, sink: &mut PubSubSink, stream: &mut PubSubStream) {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.reset();
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => self.message(&message),
                    None => return,
                },
                _ = self.interest.changed() => {
                    if let Err(e) = self.follow_hub(sink).await {
                        tracing::debug!(error = %e, "Redis (un)subscribe failed");
                        return;
                    }
                }
                _ = ping.tick() => {
                    // A subscribed connection answers `["pong", ""]`, not `PONG`: any answer will do.
                    if let Err(e) = within(sink.ping::<redis::Value>()).await {
                        tracing::debug!(error = %e, "Redis ping failed");
                        return;
                    }
                }
            }
        }
    }

    /// Subscribes to the topics the hub gained, unsubscribes from those it lost.
    async fn follow_hub(&self, sink: &mut PubSubSink) -> redis::RedisResult<()> {
        for topic in self.interest.take() {
            let wanted = self.hub.has(topic);
            if wanted == self.waiters.is_subscribed(topic) {
                continue;
            }
            if wanted {
                within(sink.subscribe(wire::channel(topic))).await?;
                self.waiters.subscribed(&[topic]);
            } else {
                self.waiters.unsubscribed(topic);
                within(sink.unsubscribe(wire::channel(topic))).await?;
            }
        }
        Ok(())
    }

    fn message(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        if channel == wire::RESYNC_CHANNEL {
            if message.get_payload_bytes() != self.origin.as_bytes() {
                self.gaps.send_modify(|n| *n += 1);
            }
            return;
        }
        if channel == wire::CANCEL_CHANNEL {
            let conversation =
                std::str::from_utf8(message.get_payload_bytes()).ok().and_then(|s| Uuid::parse_str(s).ok());
            if let Some(conversation) = conversation
                && self.cancels.try_send(conversation).is_err()
            {
                tracing::warn!(%conversation, "dropped a cancel asked by another instance: too many at once");
            }
            return;
        }
        if channel == wire::USERS_CHANNEL {
            match wire::decode_multicast(Bytes::copy_from_slice(message.get_payload_bytes())) {
                Ok((origin, _)) if origin == self.origin => {}
                Ok((_, multicast)) => self.hub.dispatch_multicast(&multicast),
                Err(e) => {
                    metrics::counter!("palaver_broker_malformed_total").increment(1);
                    tracing::warn!(?e, channel, "ignored a malformed message on a Redis channel");
                }
            }
            return;
        }
        let Some(topic) = wire::topic_of(channel) else { return };
        match wire::decode(topic, Bytes::copy_from_slice(message.get_payload_bytes())) {
            // Ours were delivered here when published.
            Ok((origin, _)) if origin == self.origin => {}
            Ok((_, envelope)) => self.hub.dispatch(&Arc::new(envelope)),
            Err(e) => {
                metrics::counter!("palaver_broker_malformed_total").increment(1);
                tracing::warn!(?e, channel, "ignored a malformed message on a Redis channel");
            }
        }
    }
}

async fn within<T>(command: impl Future<Output = redis::RedisResult<T>>) -> redis::RedisResult<T> {
    tokio::time::timeout(TIMEOUT, command)
        .await
        .map_err(|_| redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)))?
}
