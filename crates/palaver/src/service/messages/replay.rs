//! Replay for live sessions: where a resuming subscription starts, and the stored room
//! events it (or a gap in its live stream) needs.

use palaver_protocol::ws::ServerEvent;
use uuid::Uuid;

use super::{Decorations, Messages};
use crate::domain::{RoomId, UserId};
use crate::error::{Error, Result};
use crate::service::publish::stored_event;
use crate::store::EventKind;

/// Where a subscription starts: where the room is, and where to replay from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    pub last_seq: i64,
    /// More events were missed than the server replays; only the newest are replayed.
    pub truncated: bool,
    /// Replay the room events after this seq (`None`: nothing was missed).
    pub replay_after: Option<i64>,
}

impl Messages {
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

    /// Up to `limit` room events after `after`, in seq order, with their messages as they
    /// are now (decorated in bulk, once per chunk).
    pub async fn room_events_after(&self, room_id: RoomId, after: i64, limit: i64) -> Result<Vec<ServerEvent>> {
        let events = self.store().events_since(room_id, after, limit).await?;
        let shown = events.iter().filter(|e| matches!(e.kind, EventKind::Posted | EventKind::Edited));
        let decorations = Decorations::load(self.store(), shown.map(|e| &e.message)).await?;
        Ok(events.into_iter().map(|e| stored_event(e, self.signer(), &decorations)).collect())
    }

    /// The room events strictly between `after` and `before`, to fill a gap in a live stream.
    pub async fn events_between(&self, room_id: RoomId, after: i64, before: i64) -> Result<Vec<ServerEvent>> {
        self.room_events_after(room_id, after, (before - after - 1).max(0)).await
    }
}
