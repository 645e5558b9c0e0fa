//! What live sessions need beyond REST: replay for resume, typing, presence.

use std::collections::HashSet;
use std::sync::Arc;

use palaver_protocol::UserRef;
use palaver_protocol::ws::ServerEvent;
use uuid::Uuid;

use super::{Caller, Services};
use crate::clock;
use crate::domain::{RoomId, UserId};
use crate::error::{Error, Result};
use crate::realtime::redis::HEARTBEAT;
use crate::realtime::{Control, Topic, Transition};

/// Where a subscription starts: where the room is, and where to replay from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    pub last_seq: i64,
    /// More events were missed than the server replays; only the newest are replayed.
    pub truncated: bool,
    /// Replay the room events after this seq (`None`: nothing was missed).
    pub replay_after: Option<i64>,
}

impl Services {
    /// Members only (404 for rooms the caller cannot see, 403 for public rooms not joined).
    pub async fn check_member(&self, caller: &Caller, room_id: RoomId) -> Result<()> {
        self.access(caller, room_id).await?.member().map(|_| ())
    }

    /// Where a subscription resuming after `since_seq` starts (at most `limit` missed events
    /// replayed, the newest). Call it after the live subscription is registered, so nothing
    /// falls in between.
    pub async fn resume_point(&self, room_id: RoomId, since_seq: Option<i64>, limit: i64) -> Result<ResumePoint> {
        // Only `last_seq` matters here, read after the live subscription exists; membership
        // was checked before it (no viewer needed, hence the nil id).
        let room = self.store().room(room_id, UserId::from_uuid(Uuid::nil())).await?.ok_or(Error::NotFound("room"))?;
        let last_seq = room.last_seq;
        let Some(since) = since_seq.filter(|&since| since < last_seq) else {
            return Ok(ResumePoint { last_seq, truncated: false, replay_after: None });
        };
        let since = since.max(0);
        let truncated = last_seq - since > limit;
        let after = if truncated { last_seq - limit } else { since };
        Ok(ResumePoint { last_seq, truncated, replay_after: Some(after) })
    }

    /// Up to `limit` room events after `after`, in seq order, as they are now.
    pub async fn room_events_after(&self, room_id: RoomId, after: i64, limit: i64) -> Result<Vec<ServerEvent>> {
        let events = self.store().events_since(room_id, after, limit).await?;
        Ok(events.into_iter().map(|e| super::events::stored_event(e, self.signer())).collect())
    }

    /// The room events strictly between `after` and `before`, to fill a gap in a live stream.
    pub async fn events_between(&self, room_id: RoomId, after: i64, before: i64) -> Result<Vec<ServerEvent>> {
        self.room_events_after(room_id, after, (before - after - 1).max(0)).await
    }

    pub async fn typing(&self, caller: &Caller, room_id: RoomId, active: bool) -> Result<()> {
        self.check_member(caller, room_id).await?;
        self.publish_typing(caller, room_id, active);
        Ok(())
    }

    /// Also used when typing expires or the socket closes, without a membership check.
    pub fn publish_typing(&self, caller: &Caller, room_id: RoomId, active: bool) {
        let user = UserRef { id: caller.id.into(), username: caller.username.clone() };
        self.publish_room(room_id, &ServerEvent::Typing { room_id: room_id.into(), user, active });
    }

    /// Whether the user has a socket open on any instance.
    pub async fn is_online(&self, user_id: UserId) -> bool {
        self.online_among(&[user_id]).await.contains(&user_id)
    }

    /// Which of `users` have a socket open on any instance (on this one only while the
    /// instances' Redis cannot be reached).
    pub async fn online_among(&self, users: &[UserId]) -> HashSet<UserId> {
        if let Some(cluster) = &self.inner.cluster {
            match cluster.instances.online_among(users).await {
                Ok(online) => return online,
                Err(e) => tracing::debug!(error = %e, "presence known for this instance only: Redis unavailable"),
            }
        }
        users.iter().copied().filter(|user| self.inner.presence.is_online(*user)).collect()
    }

    /// A socket of the user opened.
    pub async fn connected(&self, user_id: UserId) {
        if self.inner.presence.connect(user_id) == Transition::Online && self.arrived(user_id).await {
            self.announce_presence(user_id, true, None).await;
        }
    }

    /// A socket of the user closed: offline after the grace period unless another opens
    /// (here, or on another instance).
    pub fn disconnected(&self, user_id: UserId) {
        let Transition::MaybeOffline { generation } = self.inner.presence.disconnect(user_id) else {
            return;
        };
        let services = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(services.inner.presence_grace).await;
            if services.inner.presence.settle(user_id, generation) && services.left(user_id).await {
                services.went_offline(user_id).await;
            }
        });
    }

    async fn went_offline(&self, user_id: UserId) {
        let now = clock::now();
        if let Err(e) = self.store().set_last_seen(user_id, now).await {
            tracing::warn!(error = %e, "could not persist last_seen");
        }
        self.announce_presence(user_id, false, Some(now)).await;
    }

    /// The user's first socket on this instance: `true` if they were on no other one.
    async fn arrived(&self, user_id: UserId) -> bool {
        let Some(cluster) = &self.inner.cluster else { return true };
        cluster.instances.arrived(user_id).await.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "presence announced from this instance only: Redis unavailable");
            true
        })
    }

    /// The user's last socket on this instance is gone: `true` if they are on no other one.
    async fn left(&self, user_id: UserId) -> bool {
        let Some(cluster) = &self.inner.cluster else { return true };
        let gone = cluster.instances.left(user_id).await.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "presence announced from this instance only: Redis unavailable");
            true
        });
        // A socket opened here while that ran (its `arrived` may have run first): count it again.
        if self.inner.presence.is_online(user_id) {
            let _ = cluster.instances.arrived(user_id).await;
            return false;
        }
        gone
    }

    /// Between instances: beats every `HEARTBEAT` so this instance's users stay online, and
    /// takes the users of instances that stopped beating offline.
    pub(super) fn beat_while_running(&self) {
        if self.inner.cluster.is_none() {
            return;
        }
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tick.tick().await;
                let Some(inner) = inner.upgrade() else { return };
                let services = Services { inner };
                match services.beat().await {
                    Ok(()) if failing => {
                        tracing::info!("presence shared through Redis again");
                        failing = false;
                    }
                    Ok(()) => {}
                    Err(e) if !failing => {
                        tracing::warn!(error = %e, "presence is this instance's only: Redis unavailable");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        });
    }

    async fn beat(&self) -> redis::RedisResult<()> {
        let Some(cluster) = &self.inner.cluster else { return Ok(()) };
        if !cluster.instances.beat().await? {
            // New to Redis (first beat, reaped while cut off, or Redis lost its data): what
            // runs here is recorded again, so no instance takes it for a dead one's. Marked
            // done only once all of it is: a failure midway has the next beat start over.
            for user in self.inner.presence.online_users() {
                if cluster.instances.arrived(user).await? {
                    self.announce_presence(user, true, None).await;
                }
            }
            for reply in self.assistant().map(|a| a.replies().all_running()).unwrap_or_default() {
                cluster.instances.reply_started(reply.message).await?;
            }
            cluster.instances.registered().await?;
        }
        let reaped = cluster.instances.reap().await?;
        for user in reaped.offline {
            self.went_offline(user).await;
        }
        if !reaped.replies.is_empty() {
            match self.store().interrupt_replies(&reaped.replies).await {
                Ok(n) => tracing::info!(interrupted = n, "stored the replies of a stopped instance as interrupted"),
                Err(e) => tracing::error!(error = %e, "could not store a stopped instance's replies as interrupted"),
            }
        }
        Ok(())
    }

    /// At shutdown: this instance's users go offline after the grace period unless they
    /// reconnect to another instance by then (not after an instance's full timeout).
    pub async fn leave_cluster(&self) {
        let Some(cluster) = &self.inner.cluster else { return };
        if let Err(e) = cluster.instances.leaving(self.inner.presence_grace).await {
            tracing::warn!(error = %e, "could not tell Redis this instance is stopping");
        }
    }

    /// Presence goes to the user's own sessions and to everyone sharing a room with them.
    async fn announce_presence(&self, user_id: UserId, online: bool, last_seen: Option<time::OffsetDateTime>) {
        let last_seen = match last_seen {
            Some(t) => Some(t),
            None => self.store().user_by_id(user_id).await.ok().flatten().and_then(|u| u.last_seen),
        };
        let event = ServerEvent::Presence { user_id: user_id.into(), online, last_seen };
        let peers = match self.store().co_members(user_id).await {
            Ok(peers) => peers,
            Err(e) => {
                tracing::warn!(error = %e, "presence not announced: cannot list room peers");
                return;
            }
        };
        for peer in peers.into_iter().chain(std::iter::once(user_id)) {
            self.publish(Topic::User(peer), &event, Control::None);
        }
    }
}
