//! After a broker gap (this instance reconnected to Redis, or another one failed to
//! publish), the rooms subscribed here are compared with the store, and what their
//! sessions missed is delivered to them from it, even if nothing new is ever posted.
//! Sessions skip seqs they already have, so a catch-up that overlaps live delivery
//! duplicates nothing.

use std::collections::HashMap;
use std::sync::Arc;

use super::Messages;
use crate::domain::{RoomId, Seq};
use crate::realtime::{Control, Envelope, Topic};

/// Rooms whose seqs are read in one query.
const ROOMS_PER_QUERY: usize = 500;
/// Room events read from the store at a time.
const EVENTS_PER_READ: i64 = 256;

impl Messages {
    pub(super) fn catch_up_after_gaps(&self) {
        let Some(mut gaps) = self.inner.publisher.broker().gaps() else { return };
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while gaps.changed().await.is_ok() {
                let Some(inner) = inner.upgrade() else { return };
                let delivered = Messages { inner }.catch_up().await;
                if delivered > 0 {
                    tracing::info!(events = delivered, "delivered room events missed while the broker was cut off");
                }
            }
        });
    }

    /// Delivers, from the store, each subscribed room's events after the highest seq this
    /// instance has seen of it; returns how many.
    async fn catch_up(&self) -> usize {
        let mut delivered = 0;
        for rooms in self.inner.hub.room_seqs().chunks(ROOMS_PER_QUERY) {
            let ids: Vec<RoomId> = rooms.iter().map(|(id, _)| *id).collect();
            let latest: HashMap<RoomId, Seq> = match self.store().last_seqs(&ids).await {
                Ok(seqs) => seqs.into_iter().collect(),
                Err(e) => {
                    // The next gap, or the sessions' own gap fill on the next event, retries.
                    tracing::warn!(error = %e, "catch-up after a broker gap: cannot read the rooms' seqs");
                    return delivered;
                }
            };
            for &(room_id, seen) in rooms {
                let Some(&last) = latest.get(&room_id) else { continue };
                delivered += self.deliver_from_store(room_id, seen, last).await;
            }
        }
        metrics::counter!("palaver_broker_caught_up_total").increment(delivered as u64);
        delivered
    }

    async fn deliver_from_store(&self, room_id: RoomId, mut after: Seq, last: Seq) -> usize {
        let mut delivered = 0;
        while after < last {
            let events = match self.room_events_after(room_id, after, EVENTS_PER_READ).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(error = %e, %room_id, "catch-up after a broker gap: cannot read the room's events");
                    break;
                }
            };
            let Some(newest) = events.last().and_then(|e| e.seq()).map(Seq::new) else { break };
            for event in &events {
                self.inner.hub.dispatch(&Arc::new(Envelope::new(Topic::Room(room_id), event, Control::None)));
            }
            delivered += events.len();
            after = newest;
        }
        delivered
    }
}
