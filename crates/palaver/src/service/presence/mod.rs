//! Presence: who is online. A user is online while any instance has a socket of theirs:
//! this instance's sockets are counted in `realtime::PresenceRegistry` (with the grace
//! period after the last one closes), the instances' share in Redis
//! (`realtime::redis::InstanceRegistry`); this handle decides when to announce.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use palaver_protocol::ws::ServerEvent;

use super::Publisher;
use super::background::Ticks;
use crate::clock;
use crate::domain::UserId;
use crate::realtime::redis::InstanceRegistry;
use crate::realtime::{Control, PresenceRegistry, Topic, Transition};
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
}

impl Presence {
    pub fn new(
        store: DynStore,
        publisher: Publisher,
        instances: Option<Arc<InstanceRegistry>>,
        grace: Duration,
    ) -> Self {
        Self { inner: Arc::new(Inner { store, publisher, local: PresenceRegistry::default(), instances, grace }) }
    }

    /// Ticks for a task that lives as long as presence does (the heartbeat).
    pub(super) fn ticks(&self, first: Duration, period: Duration) -> PresenceTicks {
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

    /// A socket of the user opened.
    pub async fn connected(&self, user_id: UserId) {
        if self.inner.local.connect(user_id) == Transition::Online && self.arrived(user_id).await {
            self.announce(user_id, true, None).await;
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
    pub(super) async fn went_offline(&self, user_id: UserId) {
        let now = clock::now();
        if let Err(e) = self.inner.store.set_last_seen(user_id, now).await {
            tracing::warn!(error = %e, "could not persist last_seen");
        }
        self.announce(user_id, false, Some(now)).await;
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

    /// Records this instance's users in Redis again (it was new to Redis: reaped while cut
    /// off, or Redis lost its data), announcing those who were on no other instance.
    pub(super) async fn register_again(&self, instances: &InstanceRegistry) -> redis::RedisResult<()> {
        for user in self.inner.local.online_users() {
            if instances.arrived(user).await? {
                self.announce(user, true, None).await;
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

    /// Presence goes to the user's own sessions and to everyone sharing a room with them.
    async fn announce(&self, user_id: UserId, online: bool, last_seen: Option<time::OffsetDateTime>) {
        let store = &self.inner.store;
        let last_seen = match last_seen {
            Some(t) => Some(t),
            None => store.user_by_id(user_id).await.ok().flatten().and_then(|u| u.last_seen),
        };
        let event = ServerEvent::Presence { user_id: user_id.into(), online, last_seen };
        let peers = match store.co_members(user_id).await {
            Ok(peers) => peers,
            Err(e) => {
                tracing::warn!(error = %e, "presence not announced: cannot list room peers");
                return;
            }
        };
        for peer in peers.into_iter().chain(std::iter::once(user_id)) {
            self.inner.publisher.publish(Topic::User(peer), &event, Control::None);
        }
    }
}

/// [`Ticks`] that hand out the presence handle.
pub(super) struct PresenceTicks(Ticks<Inner>);

impl PresenceTicks {
    pub(super) async fn next(&mut self) -> Option<Presence> {
        self.0.next().await.map(|inner| Presence { inner })
    }
}
