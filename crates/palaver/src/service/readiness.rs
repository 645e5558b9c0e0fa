//! Whether this instance can serve: its database answers, its broker delivers, and every
//! message writer is running. `/readyz` reports it; nothing else calls the dependencies
//! for it.

use super::Services;

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
pub struct Readiness {
    pub database: Dependency,
    pub broker: Dependency,
    pub writers: Writers,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.database == Dependency::Ok && self.broker == Dependency::Ok && self.writers == Writers::Running
    }
}

impl Services {
    /// Checks each dependency now. The database check is a round trip, bounded by the
    /// pool's acquire timeout.
    pub async fn readiness(&self) -> Readiness {
        let database = match self.store().ping().await {
            Ok(()) => Dependency::Ok,
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the database is unavailable");
                Dependency::Unavailable
            }
        };
        // The in-process broker cannot fail; Redis reports whether it both publishes and
        // receives (while it does not, delivery is local only).
        let broker = if self.inner.broker.connected() { Dependency::Ok } else { Dependency::Unavailable };
        let writers = if self.inner.sequencer.running() { Writers::Running } else { Writers::Stopped };
        Readiness { database, broker, writers }
    }
}
