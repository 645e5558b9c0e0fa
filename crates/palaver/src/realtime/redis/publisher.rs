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
use crate::realtime::Envelope;

/// Most events in one pipeline.
const BATCH: usize = 256;

pub async fn run(
    origin: Uuid,
    mut conn: ConnectionManager,
    mut queue: mpsc::Receiver<Arc<Envelope>>,
    up: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
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
            metrics::counter!("palaver_broker_dropped_total").increment(stale);
        } else {
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                n = queue.recv_many(&mut batch, BATCH) => n,
            };
            if received == 0 {
                return;
            }
        }
        let mut pipe = redis::pipe();
        for envelope in &batch {
            pipe.publish(wire::channel(envelope.topic), wire::encode(origin, envelope)).ignore();
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
                metrics::counter!("palaver_broker_dropped_total").increment(batch.len() as u64);
                if up.swap(false, Ordering::AcqRel) {
                    tracing::warn!(error = %e, "cannot publish to Redis: delivering to this instance only");
                }
                wait = backoff.failed();
                lost = true;
            }
        }
        batch.clear();
    }
}
