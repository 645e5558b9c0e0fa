//! Messages: the send path (`send.rs`: REST and WebSocket alike), history, edits, deletes
//! and read markers (here), threads (`threads.rs`), reactions (`reactions.rs`), what a
//! message shows beyond its row (`decorate.rs`), typing (`typing.rs`), replay for resuming
//! subscriptions (`replay.rs`), catching up after a broker gap (`catch_up.rs`), and the
//! sequencer that stores every room event in seq order (`sequencer.rs`, with its
//! `breaker.rs`).

mod breaker;
mod catch_up;
mod decorate;
mod memberships;
mod reactions;
mod replay;
mod send;
mod sequencer;
mod threads;
mod typing;

use std::sync::Arc;

use palaver_protocol::ws::ServerEvent;
use palaver_protocol::{HistoryQuery, Message, MessagePage};

use super::{Caller, Publisher, Rooms, Uploads};
use crate::clock;
use crate::config::LimitsConfig;
use crate::domain::{MessageContent, MessageId, PageLimit, Role, RoomId, Seq, UserId};
use crate::error::{Conflict, Error, Result};
use crate::ratelimit::SharedRateLimit;
use crate::realtime::Hub;
use crate::store::{DynStore, HistoryRange, Timeline};
use crate::uploads::signed::UrlSigner;

pub use decorate::{Decorations, decorated};
pub use replay::ResumePoint;
pub use send::{Draft, Posting, Sender};

/// How room events are written: by how many tasks, and each user's write budget.
pub struct WriteSettings<'a> {
    /// Tasks that write room events (rooms are sharded over them); SQLite uses one.
    pub shards: usize,
    /// `writes_per_sec` and `write_burst`.
    pub limits: &'a LimitsConfig,
}

#[derive(Clone)]
pub struct Messages {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    rooms: Rooms,
    /// What a message may attach.
    uploads: Uploads,
    publisher: Publisher,
    sequencer: sequencer::Sequencer,
    /// Signs the URLs of attachments.
    signer: UrlSigner,
    /// Every user's budget of message writes (posts, edits, deletes), REST and WebSocket alike.
    writes: SharedRateLimit<UserId>,
    /// What each live sender checked of its rooms, forgotten when its user leaves one.
    memberships: Arc<memberships::Registry>,
    /// Where a catch-up after a broker gap delivers.
    hub: Arc<Hub>,
}

impl Messages {
    /// Starts the sequencer's tasks, and the catch-up after broker gaps.
    pub fn new(
        store: DynStore,
        rooms: Rooms,
        uploads: Uploads,
        publisher: Publisher,
        hub: Arc<Hub>,
        settings: WriteSettings<'_>,
        redis: Option<&redis::aio::ConnectionManager>,
    ) -> Self {
        let signer = uploads.signer().clone();
        let sequencer = sequencer::Sequencer::start(store.clone(), publisher.clone(), signer.clone(), settings.shards);
        let writes = SharedRateLimit::new("writes", settings.limits.writes_per_sec, settings.limits.write_burst, redis);
        let memberships = Arc::new(memberships::Registry::default());
        // The hub sees every `member_left` (from any instance): what senders remember of
        // that room is forgotten there.
        hub.on_left({
            let memberships = memberships.clone();
            move |user, room| memberships.forget(user, room)
        });
        let messages = Self {
            inner: Arc::new(Inner { store, rooms, uploads, publisher, sequencer, signer, writes, memberships, hub }),
        };
        messages.catch_up_after_gaps();
        messages
    }

    fn store(&self) -> &DynStore {
        &self.inner.store
    }

    fn signer(&self) -> &UrlSigner {
        &self.inner.signer
    }

    /// Whether every shard of the sequencer has a task taking its jobs.
    pub fn writers_running(&self) -> bool {
        self.inner.sequencer.running()
    }

    /// A page of the room's top-level messages (replies are in their threads).
    pub async fn history(&self, caller: &Caller, room_id: RoomId, query: HistoryQuery) -> Result<MessagePage> {
        self.page(caller, room_id, Timeline::Room, query).await
    }

    async fn page(
        &self,
        caller: &Caller,
        room_id: RoomId,
        timeline: Timeline,
        query: HistoryQuery,
    ) -> Result<MessagePage> {
        let limit = PageLimit::parse(query.limit).map_err(|e| Error::Validation(vec![e]))?.get();
        let range = match (query.before, query.after) {
            (None, None) => HistoryRange::Latest,
            (Some(before), None) => HistoryRange::Before(Seq::new(before)),
            (None, Some(after)) => HistoryRange::After(Seq::new(after)),
            (Some(_), Some(_)) => return Err(Error::invalid("before", "give before or after, not both")),
        };
        let (rows, has_more) = self.store().history(room_id, caller.id, timeline, range, limit).await?;
        if rows.is_empty() {
            // No rows: an empty range, or not a member; only the second is an error.
            self.inner.rooms.access(caller, room_id).await?.member()?;
        }
        Ok(MessagePage { items: self.decorate(rows).await?, has_more })
    }

    /// Takes one of the caller's message writes, or 429: one budget per user, whichever
    /// socket or request the writes come from. Spent before any work, so a flood of failing
    /// writes is held back like one of successful ones.
    async fn spend_write(&self, caller: &Caller) -> Result<()> {
        self.inner.writes.try_take(caller.id).await.map_err(|retry_after| Error::RateLimited { retry_after })
    }

    pub async fn edit_message(
        &self,
        caller: &Caller,
        room_id: RoomId,
        message_id: MessageId,
        content: &str,
    ) -> Result<Message> {
        self.spend_write(caller).await?;
        let content = MessageContent::parse(content).map_err(|e| Error::Validation(vec![e]))?;
        let access = self.inner.rooms.access(caller, room_id).await?;
        access.member()?;
        let existing = self.store().message(room_id, message_id).await?.ok_or(Error::NotFound("message"))?;
        if existing.author_id != caller.id {
            return Err(Error::Forbidden("only the author can edit a message"));
        }
        if existing.deleted {
            return Err(Error::Conflict(Conflict::Other("a deleted message cannot be edited")));
        }
        let edited = self.inner.sequencer.edit(room_id, message_id, content.into_inner(), clock::now()).await?;
        edited.ok_or(Error::Conflict(Conflict::Other("a deleted message cannot be edited")))
    }

    /// Soft delete by the author or a room owner/admin. Deleting twice is a no-op.
    pub async fn delete_message(&self, caller: &Caller, room_id: RoomId, message_id: MessageId) -> Result<()> {
        self.spend_write(caller).await?;
        let access = self.inner.rooms.access(caller, room_id).await?;
        let role = access.member()?;
        let existing = self.store().message(room_id, message_id).await?.ok_or(Error::NotFound("message"))?;
        if existing.author_id != caller.id && !role.at_least(Role::Admin) {
            return Err(Error::Forbidden("only the author or a room admin can delete a message"));
        }
        if !existing.deleted {
            self.inner.sequencer.delete(room_id, message_id).await?;
        }
        Ok(())
    }

    /// Moves the caller's read marker forward (never past the room's last seq).
    pub async fn mark_read(&self, caller: &Caller, room_id: RoomId, seq: i64) -> Result<()> {
        if seq < 0 {
            return Err(Error::invalid("seq", "must not be negative"));
        }
        let access = self.inner.rooms.access(caller, room_id).await?;
        access.member()?;
        let seq = Seq::new(seq).min(access.room.last_seq);
        if self.store().mark_read(room_id, caller.id, seq).await? {
            let event = ServerEvent::Read { room_id: room_id.into(), user_id: caller.id.into(), seq: seq.get() };
            self.inner.publisher.publish_room(room_id, &event);
        }
        Ok(())
    }
}
