//! Which topics this instance has local subscribers for, as a broker between instances
//! needs to know: the hub records each topic that gained its first subscriber or lost its
//! last one, and the broker's subscriber task drains the record and (un)subscribes.
//!
//! A set, not a queue of changes: however many sessions come and go, it holds each topic
//! at most once, and the task reads the hub's current state for it, so the order in which
//! changes were recorded does not matter.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::Topic;

#[derive(Default)]
pub struct Interest {
    touched: Mutex<HashSet<Topic>>,
    changed: Notify,
}

impl Interest {
    /// `topic` may have gained its first or lost its last local subscriber.
    pub fn touch(&self, topic: Topic) {
        self.touched.lock().unwrap_or_else(|e| e.into_inner()).insert(topic);
        self.changed.notify_one();
    }

    /// The topics touched since the last call.
    pub fn take(&self) -> Vec<Topic> {
        self.touched.lock().unwrap_or_else(|e| e.into_inner()).drain().collect()
    }

    /// Resolves once something was touched after the last `take` (or before, unseen).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}
