//! The publishing task: takes what the queue holds, up to a batch, and publishes it in
//! one pipelined round trip, in the order published (so a room's events leave in seq order).
//!
//! When a publish fails, what it carried is dropped, and so is what queues up until Redis
//! answers again: the task then announces the loss on the resync channel, and every
//! instance delivers what its sessions missed from the store, in order, instead of a late
//! burst. While Redis does not answer, the task retries on its own (with backoff), so the
//! announcement does not wait for the next event.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{RECONNECT, wire};
use crate::realtime::{Envelope, Multicast};

/// Most events in one pipeline.
const BATCH: usize = 256;
/// Most multicasts in one pipeline (beside `BATCH` events).
const MULTICAST_BATCH: usize = 16;

/// What waits for the publisher: events on their topics, and multicasts.
pub struct Queues {
    pub events: mpsc::Receiver<Arc<Envelope>>,
    pub multicasts: mpsc::Receiver<Arc<Multicast>>,
}

pub async fn run(
    origin: Uuid,
    mut conn: ConnectionManager,
    queues: Queues,
    up: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let Queues { events: mut queue, mut multicasts } = queues;
    let mut batch = Vec::with_capacity(BATCH);
    let mut multi = Vec::with_capacity(MULTICAST_BATCH);
    // Something was not published since the last announcement of it.
    let mut lost = false;
    let mut backoff = RECONNECT;
    let mut wait = Duration::ZERO;
    loop {
        if lost {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let mut stale = 0;
            while queue.try_recv().is_ok() {
                stale += 1;
            }
            while multicasts.try_recv().is_ok() {
                stale += 1;
            }
            metrics::counter!("palaver_broker_dropped_total").increment(stale);
        } else {
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                n = queue.recv_many(&mut batch, BATCH) => n,
                n = multicasts.recv_many(&mut multi, MULTICAST_BATCH) => n,
            };
            if received == 0 {
                return;
            }
            // What the other queue holds goes in the same round trip.
            while batch.len() < BATCH
                && let Ok(envelope) = queue.try_recv()
            {
                batch.push(envelope);
            }
            while multi.len() < MULTICAST_BATCH
                && let Ok(multicast) = multicasts.try_recv()
            {
                multi.push(multicast);
            }
        }
        let mut pipe = redis::pipe();
        for envelope in &batch {
            pipe.publish(wire::channel(envelope.topic), wire::encode(origin, envelope)).ignore();
        }
        for multicast in &multi {
            pipe.publish(wire::USERS_CHANNEL, wire::encode_multicast(origin, multicast)).ignore();
        }
        if lost {
            // Every instance compares its rooms with the store: what was lost is found.
            pipe.publish(wire::RESYNC_CHANNEL, origin.as_bytes().as_slice()).ignore();
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => {
                if !up.swap(true, Ordering::AcqRel) {
                    tracing::info!("publishing to Redis again");
                }
                lost = false;
                backoff.reset();
            }
            Err(e) => {
                metrics::counter!("palaver_broker_dropped_total").increment((batch.len() + multi.len()) as u64);
                if up.swap(false, Ordering::AcqRel) {
                    tracing::warn!(error = %e, "cannot publish to Redis: delivering to this instance only");
                }
                wait = backoff.failed();
                lost = true;
            }
        }
        batch.clear();
        multi.clear();
    }
}
