//! Presence: who is online, in one place. A user is online while any instance has a socket
//! of theirs.
//!
//! | file | what it owns |
//! |---|---|
//! | `mod.rs` | the handle: sockets opening and closing, who is online, when to announce |
//! | `local.rs` | this instance's sockets per user, and the grace period after the last one |
//! | `instances.rs` | the instances in Redis: heartbeats, each user's instances, each instance's running replies, reaping (the Lua scripts) |
//! | `heartbeat.rs` | the task that beats, registers again and reaps |
//! | `announcer.rs` | announcements, coalesced: a burst of changes is one delivery |

mod announcer;
mod heartbeat;
mod instances;
mod local;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use announcer::{Announcer, Change};
pub use heartbeat::Heartbeat;
pub use instances::InstanceRegistry;
use local::{PresenceRegistry, Transition};

use super::Publisher;
use super::background::Ticks;
use crate::clock;
use crate::domain::UserId;
use crate::store::DynStore;

#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    publisher: Publisher,
    local: PresenceRegistry,
    /// The instances' shared registry, with Redis.
    instances: Option<Arc<InstanceRegistry>>,
    /// How long a user stays online after their last socket closed.
    grace: Duration,
    announcer: Arc<Announcer>,
    /// Ends the announcer's task with the handle.
    _stop: tokio_util::sync::DropGuard,
}

impl Presence {
    /// Starts the announcer's task (so: within a Tokio runtime).
    pub fn new(
        store: DynStore,
        publisher: Publisher,
        instances: Option<Arc<InstanceRegistry>>,
        grace: Duration,
    ) -> Self {
        let announcer = Arc::new(Announcer::new());
        let stop = tokio_util::sync::CancellationToken::new();
        let local = PresenceRegistry::default();
        let inner = Inner {
            store,
            publisher,
            local,
            instances,
            grace,
            announcer: announcer.clone(),
            _stop: stop.clone().drop_guard(),
        };
        let inner = Arc::new(inner);
        announcer.start(Arc::downgrade(&inner), stop);
        Self { inner }
    }

    /// Ticks for a task that lives as long as presence does (the heartbeat).
    fn ticks(&self, first: Duration, period: Duration) -> PresenceTicks {
        PresenceTicks(Ticks::new(&self.inner, first, period))
    }

    /// Whether the user has a socket open on any instance.
    pub async fn is_online(&self, user_id: UserId) -> bool {
        self.online_among(&[user_id]).await.contains(&user_id)
    }

    /// Which of `users` have a socket open on any instance (on this one only while the
    /// instances' Redis cannot be reached).
    pub async fn online_among(&self, users: &[UserId]) -> HashSet<UserId> {
        if let Some(instances) = &self.inner.instances {
            match instances.online_among(users).await {
                Ok(online) => return online,
                Err(e) => tracing::debug!(error = %e, "presence known for this instance only: Redis unavailable"),
            }
        }
        users.iter().copied().filter(|user| self.inner.local.is_online(*user)).collect()
    }

    /// A socket of the user opened. Resolves once their coming online is announced (the
    /// socket's own sessions have it before anything the socket asks for).
    pub async fn connected(&self, user_id: UserId) {
        if self.inner.local.connect(user_id) == Transition::Online && self.arrived(user_id).await {
            let batch = self.announce(user_id, Change { online: true, last_seen: None }).await;
            self.inner.announcer.announced(batch).await;
        }
    }

    /// A socket of the user closed: offline after the grace period unless another opens
    /// (here, or on another instance).
    pub fn disconnected(&self, user_id: UserId) {
        let Transition::MaybeOffline { generation } = self.inner.local.disconnect(user_id) else {
            return;
        };
        let presence = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(presence.inner.grace).await;
            if presence.inner.local.settle(user_id, generation) && presence.left(user_id).await {
                presence.went_offline(user_id).await;
            }
        });
    }

    /// Stores `last_seen` and announces the user offline.
    async fn went_offline(&self, user_id: UserId) {
        let now = clock::now();
        if let Err(e) = self.inner.store.set_last_seen(user_id, now).await {
            tracing::warn!(error = %e, "could not persist last_seen");
        }
        self.announce(user_id, Change { online: false, last_seen: Some(now) }).await;
    }

    /// The user's first socket on this instance: `true` if they were on no other one.
    async fn arrived(&self, user_id: UserId) -> bool {
        let Some(instances) = &self.inner.instances else { return true };
        instances.arrived(user_id).await.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "presence announced from this instance only: Redis unavailable");
            true
        })
    }

    /// The user's last socket on this instance is gone: `true` if they are on no other one.
    async fn left(&self, user_id: UserId) -> bool {
        let Some(instances) = &self.inner.instances else { return true };
        let gone = instances.left(user_id).await.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "presence announced from this instance only: Redis unavailable");
            true
        });
        // A socket opened here while that ran (its `arrived` may have run first): count it again.
        if self.inner.local.is_online(user_id) {
            let _ = instances.arrived(user_id).await;
            return false;
        }
        gone
    }

    /// Records this instance's users in Redis again (Redis did not know this instance, or a
    /// command recording them failed), announcing those who were on no other instance;
    /// those Redis has here but who are gone (their leaving failed) leave again.
    async fn register_again(&self, instances: &InstanceRegistry) -> redis::RedisResult<()> {
        for user in instances.users_here().await? {
            if !self.inner.local.is_online(user) && self.left(user).await {
                self.went_offline(user).await;
            }
        }
        for user in self.inner.local.online_users() {
            if instances.arrived(user).await? {
                self.announce(user, Change { online: true, last_seen: None }).await;
            }
        }
        Ok(())
    }

    /// At shutdown: this instance's users go offline after the grace period unless they
    /// reconnect to another instance by then (not after an instance's full timeout).
    pub async fn leave_cluster(&self) {
        let Some(instances) = &self.inner.instances else { return };
        if let Err(e) = instances.leaving(self.inner.grace).await {
            tracing::warn!(error = %e, "could not tell Redis this instance is stopping");
        }
    }

    /// Presence goes to the user's own sessions and to everyone sharing a room with them,
    /// with the other changes of the moment (`announcer.rs`). Returns the batch it is in.
    async fn announce(&self, user_id: UserId, change: Change) -> u64 {
        self.inner.announcer.queue(user_id, change).await
    }
}

/// [`Ticks`] that hand out the presence handle.
struct PresenceTicks(Ticks<Inner>);

impl PresenceTicks {
    async fn next(&mut self) -> Option<Presence> {
        self.0.next().await.map(|inner| Presence { inner })
    }
}
