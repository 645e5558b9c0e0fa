//! Threads: a thread's own history, the threads a user follows, and thread read markers.
//! Replies themselves take the one send path (`send.rs`); what a reply does to its thread
//! (summary, followers, `reply` notifications) is written with it by the store.

use palaver_protocol::ws::ServerEvent;
use palaver_protocol::{FollowedThread, HistoryQuery, MessagePage, ThreadPage, ThreadsQuery};

use super::Messages;
use crate::domain::{Cursor, MessageId, PageLimit, RoomId};
use crate::error::{Error, Result};
use crate::realtime::Topic;
use crate::service::{Access, Caller};
use crate::store::{MessageRow, Timeline};

impl Messages {
    /// A page of one thread's replies, by seq like room history. 404 unless `root_id` is a
    /// top-level message of the room (deleted or not: a deleted root keeps its thread).
    pub async fn thread_history(
        &self,
        caller: &Caller,
        room_id: RoomId,
        root_id: MessageId,
        query: HistoryQuery,
    ) -> Result<MessagePage> {
        self.inner.rooms.access(caller, room_id).await?.member()?;
        self.thread_root(room_id, root_id).await?;
        self.page(caller, room_id, Timeline::Thread(root_id), query).await
    }

    /// The root of a thread in the room: a top-level message, else 404.
    async fn thread_root(&self, room_id: RoomId, root_id: MessageId) -> Result<MessageRow> {
        match self.store().message(room_id, root_id).await? {
            Some(root) if root.thread_root_id.is_none() => Ok(root),
            _ => Err(Error::NotFound("thread")),
        }
    }

    /// What a reply must be to: a top-level message of the room, not deleted (else 422).
    pub(super) async fn check_reply_to(&self, access: &Access, root_id: MessageId) -> Result<()> {
        let problem = match self.store().message(access.room.id, root_id).await? {
            None => "is not a message of this room",
            Some(root) if root.thread_root_id.is_some() => "is a reply; threads are one level deep",
            Some(root) if root.deleted => "was deleted",
            Some(_) => return Ok(()),
        };
        Err(Error::invalid("thread_root_id", problem))
    }

    /// The threads the caller follows in rooms they are in, newest activity first, each with
    /// its unread count (replies by others above the caller's thread read marker).
    pub async fn followed_threads(&self, caller: &Caller, query: ThreadsQuery) -> Result<ThreadPage> {
        let limit = PageLimit::parse(query.limit).map_err(|e| Error::Validation(vec![e]))?.get();
        let after = Cursor::parse(query.cursor.as_deref())
            .map_err(|e| Error::Validation(vec![e]))?
            .map(|Cursor(id)| MessageId::from_uuid(id));
        let mut rows = self.store().followed_threads(caller.id, after, limit).await?;
        let next_cursor = (rows.len() as i64 > limit).then(|| {
            rows.truncate(limit as usize);
            rows.last().map(|row| Cursor::encode(row.last_reply_id.uuid()))
        });
        let places: Vec<(i64, i64)> = rows.iter().map(|row| (row.unread_count, row.follow_read_seq)).collect();
        let roots = self.decorate(rows.into_iter().map(|row| row.root).collect()).await?;
        let items = roots
            .into_iter()
            .zip(places)
            .map(|(root, (unread_count, last_read_seq))| FollowedThread {
                room_id: root.room_id,
                root,
                unread_count,
                last_read_seq,
            })
            .collect();
        Ok(ThreadPage { items, next_cursor: next_cursor.flatten() })
    }

    /// Moves the caller's read marker in a thread forward (never past the room's last seq),
    /// and tells the caller's other sessions, so every device shows the same unread count.
    /// Reading a thread one does not follow changes nothing.
    pub async fn mark_thread_read(&self, caller: &Caller, room_id: RoomId, root_id: MessageId, seq: i64) -> Result<()> {
        if seq < 0 {
            return Err(Error::invalid("seq", "must not be negative"));
        }
        let access = self.inner.rooms.access(caller, room_id).await?;
        access.member()?;
        self.thread_root(room_id, root_id).await?;
        let seq = seq.min(access.room.last_seq);
        if self.store().mark_thread_read(root_id, caller.id, seq).await? {
            let event = ServerEvent::ThreadRead { room_id: room_id.into(), root_id: root_id.into(), seq };
            self.inner.publisher.publish(Topic::User(caller.id), &event, crate::realtime::Control::None);
        }
        Ok(())
    }
}
