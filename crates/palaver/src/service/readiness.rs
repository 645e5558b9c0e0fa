//! Whether this instance can serve: its database answers, its broker delivers, and every
//! message writer is running. `/readyz` reports it; nothing else calls the dependencies
//! for it.

use super::{Messages, Publisher};
use crate::store::DynStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Ok,
    Unavailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// Every shard of the sequencer has a task taking its jobs.
    Running,
    /// Some shard's task is gone: posts to its rooms fail.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependencies {
    pub database: Dependency,
    pub broker: Dependency,
    pub writers: Writers,
}

impl Dependencies {
    pub fn is_ready(&self) -> bool {
        self.database == Dependency::Ok && self.broker == Dependency::Ok && self.writers == Writers::Running
    }
}

/// What `/readyz` asks: the dependencies every area shares.
#[derive(Clone)]
pub struct Readiness {
    store: DynStore,
    publisher: Publisher,
    messages: Messages,
}

impl Readiness {
    pub fn new(store: DynStore, publisher: Publisher, messages: Messages) -> Self {
        Self { store, publisher, messages }
    }

    /// Checks each dependency now. The database check is a round trip, bounded by the
    /// pool's acquire timeout.
    pub async fn check(&self) -> Dependencies {
        let database = match self.store.ping().await {
            Ok(()) => Dependency::Ok,
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the database is unavailable");
                Dependency::Unavailable
            }
        };
        // The in-process broker cannot fail; Redis reports whether it both publishes and
        // receives (while it does not, delivery is local only).
        let broker = if self.publisher.broker().connected() { Dependency::Ok } else { Dependency::Unavailable };
        let writers = if self.messages.writers_running() { Writers::Running } else { Writers::Stopped };
        Dependencies { database, broker, writers }
    }
}
