//! Fan-out between instances over Redis pub/sub. Each event is delivered to this
//! instance's hub at once and published once, on its topic's channel; an instance
//! subscribes to a channel only while it has local subscribers of that topic.
//!
//! Redis carries notifications of what is stored, nothing more: what it drops (an outage,
//! a full queue, a subscriber Redis cut off) is read back from the store by seq. Whenever
//! this instance may have missed something, `gaps` changes and the rooms it serves are
//! compared with the store (`service::catch_up`).

mod publisher;
mod subscriber;
pub mod wire;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Broker, Envelope, Hub, Interest, Multicast, Topic};
use crate::backoff::Backoff;
pub use subscriber::Waiters;

/// Events waiting for the publisher: enough for a burst, bounded so that a Redis that
/// stopped answering costs a fixed amount of memory.
const PUBLISH_QUEUE: usize = 8192;
/// Multicasts waiting for the publisher. Fewer: each carries a batch (up to
/// `MULTICAST_USERS` ids and `MULTICAST_FRAMES` frames, some 40 KiB at most).
const MULTICAST_QUEUE: usize = 256;
/// Most users and frames one multicast carries: a bigger batch is split, so that no
/// message nears Redis's output buffer limits for subscribers.
pub const MULTICAST_USERS: usize = 1024;
pub const MULTICAST_FRAMES: usize = 128;
/// A command or a connection attempt that takes longer than this has failed.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnecting waits this long at first, doubling up to `MAX_BACKOFF`: back within a
/// second of Redis returning.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const RECONNECT: Backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);

/// A connection for commands (publishing, presence, rate limits), reconnecting by itself.
/// A reconnect gives up after one retry, failing the commands that wait for it, so that
/// while Redis is down a command fails in a fraction of a second instead of hanging; the
/// next command tries again.
pub fn commands(client: &redis::Client) -> anyhow::Result<redis::aio::ConnectionManager> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT))
        .set_min_delay(MIN_BACKOFF)
        .set_max_delay(MAX_BACKOFF)
        .set_number_of_retries(1);
    client.get_connection_manager_lazy(config).context("setting up the Redis connection")
}

pub struct RedisBroker {
    hub: Arc<Hub>,
    queue: mpsc::Sender<Arc<Envelope>>,
    multicasts: mpsc::Sender<Arc<Multicast>>,
    waiters: Arc<Waiters>,
    subscribed: Arc<AtomicBool>,
    publishing: Arc<AtomicBool>,
    gaps: watch::Receiver<u64>,
    cancels: std::sync::Mutex<Option<mpsc::Receiver<Uuid>>>,
}

/// Cancels asked by other instances, waiting to be looked at: a burst beyond it is dropped
/// (the client asks again).
const CANCEL_QUEUE: usize = 256;

impl RedisBroker {
    /// Starts the publisher and the subscriber tasks (they end with `stop`). Redis need not
    /// be up yet: until it is, delivery is local and `connected` says so. `origin` names
    /// this instance: our own events come back on the channels we subscribe to.
    pub fn start(
        origin: Uuid,
        client: redis::Client,
        commands: redis::aio::ConnectionManager,
        hub: Arc<Hub>,
        interest: Arc<Interest>,
        stop: CancellationToken,
    ) -> Self {
        let (queue, rx) = mpsc::channel(PUBLISH_QUEUE);
        let (multicasts, multicasts_rx) = mpsc::channel(MULTICAST_QUEUE);
        let (gaps_tx, gaps) = watch::channel(0);
        let gaps_tx = Arc::new(gaps_tx);
        let waiters = Arc::new(Waiters::default());
        let subscribed = Arc::new(AtomicBool::new(false));
        let publishing = Arc::new(AtomicBool::new(true));
        let (cancels_tx, cancels) = mpsc::channel(CANCEL_QUEUE);
        let queues = publisher::Queues { events: rx, multicasts: multicasts_rx };
        tokio::spawn(publisher::run(origin, commands, queues, publishing.clone(), stop.clone()));
        let subscriber = subscriber::Subscriber {
            origin,
            client,
            hub: hub.clone(),
            interest,
            waiters: waiters.clone(),
            up: subscribed.clone(),
            gaps: gaps_tx,
            cancels: cancels_tx,
        };
        tokio::spawn(subscriber.run(stop));
        let cancels = std::sync::Mutex::new(Some(cancels));
        Self { hub, queue, multicasts, waiters, subscribed, publishing, gaps, cancels }
    }
}

impl Broker for RedisBroker {
    fn publish(&self, envelope: Envelope) {
        let envelope = Arc::new(envelope);
        self.hub.dispatch(&envelope);
        if self.queue.try_send(envelope).is_err() {
            // Recovered by seq (room events); presence, typing and the like are momentary.
            metrics::counter!("palaver_broker_dropped_total").increment(1);
        }
    }

    fn multicast(&self, multicast: Multicast) {
        self.hub.dispatch_multicast(&multicast);
        // Split so that no message is huge; each part is still every frame's one copy.
        for users in multicast.users.chunks(MULTICAST_USERS) {
            for frames in multicast.frames.chunks(MULTICAST_FRAMES) {
                let part = Multicast { users: users.to_vec(), frames: frames.to_vec() };
                if self.multicasts.try_send(Arc::new(part)).is_err() {
                    metrics::counter!("palaver_broker_dropped_total").increment(1);
                }
            }
        }
    }

    fn ready(&self, topic: Topic) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.waiters.ready(topic, &self.subscribed))
    }

    fn connected(&self) -> bool {
        self.subscribed.load(Ordering::Acquire) && self.publishing.load(Ordering::Acquire)
    }

    fn gaps(&self) -> Option<watch::Receiver<u64>> {
        Some(self.gaps.clone())
    }

    fn cancels(&self) -> Option<mpsc::Receiver<Uuid>> {
        self.cancels.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
