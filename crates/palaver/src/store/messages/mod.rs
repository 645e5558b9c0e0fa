//! Messages and room events: the row types, the two traits (writing room events, reading
//! them), and the macros that implement them for both backends: `write` (posts, edits,
//! deletes; a batch is planned by `plan`), `threads` (what a reply does to its thread),
//! `reactions`, and `history` (pages, replay, read markers, followed threads).

use time::OffsetDateTime;
use uuid::Uuid;

use super::Error;
use crate::domain::{MessageId, MessageKind, NotificationKind, RoomId, Seq, UploadId, UserId, Via};
use crate::uploads::image::ImageFormat;

mod history;
mod plan;
mod reactions;
mod threads;
mod write;

pub(crate) use history::{EventRow, impl_history_store};
pub(crate) use plan::{BatchPlan, Slot, outcomes};
pub(crate) use reactions::impl_reactions;
pub(crate) use threads::impl_thread_writes;
pub(crate) use write::impl_message_writes;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: MessageId,
    pub room_id: RoomId,
    pub seq: Seq,
    pub updated_seq: Seq,
    pub author_id: UserId,
    pub author_username: String,
    pub kind: MessageKind,
    pub content: String,
    /// The attached upload (kept when the message is deleted; the view hides it), with
    /// what the attachment shows of it, from a join on `uploads`.
    pub upload_id: Option<UploadId>,
    pub upload_mime: Option<ImageFormat>,
    pub upload_size: Option<i64>,
    pub upload_width: Option<i32>,
    pub upload_height: Option<i32>,
    pub client_msg_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub edited_at: Option<OffsetDateTime>,
    pub deleted: bool,
    /// The root of the thread it replies in.
    pub thread_root_id: Option<MessageId>,
    /// On a root: how many replies, and when the latest was posted.
    pub reply_count: i64,
    pub last_reply_at: Option<OffsetDateTime>,
    /// How it came when not from a person.
    pub via: Option<Via>,
}

impl MessageRow {
    /// The attached upload, if there is one and its row is there.
    pub fn attachment(&self) -> Option<AttachmentRow> {
        Some(AttachmentRow {
            upload_id: self.upload_id?,
            mime: self.upload_mime?,
            size: self.upload_size?,
            width: self.upload_width?,
            height: self.upload_height?,
        })
    }
}

/// What a message shows of its upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentRow {
    pub upload_id: UploadId,
    pub mime: ImageFormat,
    pub size: i64,
    pub width: i32,
    pub height: i32,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub room_id: RoomId,
    pub author_id: UserId,
    pub author_username: String,
    pub kind: MessageKind,
    pub content: String,
    pub attachment: Option<AttachmentRow>,
    pub client_msg_id: Option<String>,
    pub created_at: OffsetDateTime,
    /// A reply in this root's thread (checked by the service: a top-level message of the room).
    pub thread_root_id: Option<MessageId>,
    /// How it came when not from a person.
    pub via: Option<Via>,
    /// The name a webhook post chose (stored; `author_username` is then this too).
    pub author_name: Option<String>,
}

/// Who a new message notifies, decided by the service; written in the message's transaction.
#[derive(Debug, Clone, Default)]
pub struct NotifyPlan {
    /// Usernames mentioned; only members other than the author are notified.
    pub mentions: Vec<String>,
    /// Notify the other member of a DM.
    pub dm: bool,
}
// A reply also notifies its thread's followers (`reply`), all but its author and those
// notified otherwise already; the store works that out from `NewMessage::thread_root_id`.

pub struct Posted {
    pub message: MessageRow,
    /// `false` when `client_msg_id` matched an earlier message, which is returned instead.
    pub created: bool,
    /// The notifications written.
    pub notified: Vec<Notified>,
}

/// A notification a new message wrote, to push to its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notified {
    pub id: Uuid,
    pub user_id: UserId,
    pub kind: NotificationKind,
}

#[derive(Debug, Clone, Copy)]
pub enum HistoryRange {
    Latest,
    Before(Seq),
    After(Seq),
}

/// Which messages of a room a history page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// The room's top-level messages (replies are in their threads).
    Room,
    /// One thread's replies.
    Thread(MessageId),
}

/// What a room event did, as `message_changes.kind` stores it (`posted` is the message
/// row itself). Read strictly, like every stored kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum EventKind {
    Posted,
    Edited,
    Deleted,
    Reacted,
    Unreacted,
}

/// One room event: a post, an edit, a delete or a reaction, with the message as it is now.
#[derive(Debug, Clone)]
pub struct RoomEvent {
    pub seq: Seq,
    pub kind: EventKind,
    pub message: MessageRow,
    /// For `Reacted` and `Unreacted`: which emoji, whose.
    pub reaction: Option<(String, UserId)>,
}

/// A reaction to add or take back, as one user.
#[derive(Debug, Clone)]
pub struct ReactionChange {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub emoji: String,
    pub user_id: UserId,
    pub added: bool,
}

/// What a [`ReactionChange`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactOutcome {
    /// No such message in the room.
    Missing,
    /// The message is deleted: no reactions.
    Deleted,
    /// A new emoji beyond the most a message takes.
    TooMany,
    /// Already so: no event, no seq.
    Unchanged,
    /// Stored as the room event `seq`.
    Changed(Seq),
}

/// Most distinct emoji on one message.
pub const MAX_REACTIONS: i64 = 20;

/// One of the latest repliers of a thread (rows come most recent first per root).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ParticipantRow {
    pub root_id: MessageId,
    pub user_id: UserId,
    pub username: String,
}

/// One user's reaction, with its emoji's count on the message: rows come per message in
/// order of each emoji's first use, then oldest first, at most 20 users per emoji.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReactionRow {
    pub message_id: MessageId,
    pub emoji: String,
    pub user_id: UserId,
    pub count: i64,
}

/// A thread a user follows: its root as it is now, and the user's place in it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FollowedRow {
    #[sqlx(flatten)]
    pub root: MessageRow,
    pub follow_read_seq: Seq,
    pub unread_count: i64,
    /// The latest reply's id: the order of the list, and its cursor.
    pub last_reply_id: MessageId,
}

/// Writing room events. Each takes its seq from the room in the same transaction.
#[async_trait::async_trait]
pub trait MessageStore {
    /// Stores messages (and their notifications) in one transaction, with one seq bump per
    /// room and one multi-row insert; a retry with a stored `client_msg_id` returns the first
    /// message and takes no seq. Per item: `None` if its room does not exist. Any database
    /// error fails the whole batch, storing nothing; the caller decides whether to post the
    /// items one by one to isolate a bad one (see `Error::is_row_error`).
    async fn post_batch(&self, items: &[(NewMessage, NotifyPlan)]) -> Result<Vec<Option<Posted>>, Error>;
    /// Takes the next seq for the edit. `None` if the message is missing or deleted.
    async fn edit_message(
        &self,
        room_id: RoomId,
        message_id: MessageId,
        content: String,
        now: OffsetDateTime,
    ) -> Result<Option<MessageRow>, Error>;
    /// Takes the next seq for the delete. `None` if the message is missing or already deleted.
    async fn delete_message(&self, room_id: RoomId, message_id: MessageId) -> Result<Option<MessageRow>, Error>;
    /// Adds or removes one user's reaction; takes a seq only when something changed.
    async fn react(&self, change: &ReactionChange) -> Result<ReactOutcome, Error>;
}

/// Reading a room's messages and events, and moving a member's read marker.
#[async_trait::async_trait]
pub trait HistoryStore {
    async fn message(&self, room_id: RoomId, message_id: MessageId) -> Result<Option<MessageRow>, Error>;
    /// The message `author` sent to the room with this idempotency key, if any.
    async fn message_by_client_msg_id(
        &self,
        room_id: RoomId,
        author: UserId,
        client_msg_id: &str,
    ) -> Result<Option<MessageRow>, Error>;
    /// At most `limit` messages in ascending seq, and whether more lie beyond them.
    /// Only if `viewer` is a member (one query for the check and the page): a non-member,
    /// like an empty range, gets no rows.
    async fn history(
        &self,
        room_id: RoomId,
        viewer: UserId,
        timeline: Timeline,
        range: HistoryRange,
        limit: i64,
    ) -> Result<(Vec<MessageRow>, bool), Error>;
    /// What messages show beyond their row, for many at once: the latest 5 repliers of
    /// each of `roots`, and the reactions to each of `messages`.
    async fn decorations(
        &self,
        messages: &[MessageId],
        roots: &[MessageId],
    ) -> Result<(Vec<ParticipantRow>, Vec<ReactionRow>), Error>;
    /// The threads `user_id` follows in rooms they are in, with replies, newest activity
    /// first: at most `limit + 1`, after the thread whose latest reply is `after`.
    async fn followed_threads(
        &self,
        user_id: UserId,
        after: Option<MessageId>,
        limit: i64,
    ) -> Result<Vec<FollowedRow>, Error>;
    /// Moves a follower's thread read marker forward only. Returns whether it moved.
    async fn mark_thread_read(&self, root_id: MessageId, user_id: UserId, seq: Seq) -> Result<bool, Error>;
    /// Room events with a seq above `since`, ascending, at most `limit`.
    async fn events_since(&self, room_id: RoomId, since: Seq, limit: i64) -> Result<Vec<RoomEvent>, Error>;
    /// Moves the read marker forward only. Returns whether it moved.
    async fn mark_read(&self, room_id: RoomId, user_id: UserId, seq: Seq) -> Result<bool, Error>;
}

/// The columns of `MessageRow`, from `messages m`, `users u` (the author) and `uploads up`.
macro_rules! message_columns {
    () => {
        "m.id, m.room_id, m.seq, m.updated_seq, m.author_id, COALESCE(m.author_name, u.username) AS author_username,
                m.kind, m.content, m.upload_id, up.mime AS upload_mime, up.size AS upload_size,
                up.width AS upload_width, up.height AS upload_height,
                m.client_msg_id, m.created_at, m.edited_at, m.deleted,
                m.thread_root_id, m.reply_count, m.last_reply_at, m.via"
    };
}
pub(crate) use message_columns;

macro_rules! message_sql {
    () => {
        concat!(
            "SELECT ",
            $crate::store::messages::message_columns!(),
            " FROM messages m JOIN users u ON u.id = m.author_id LEFT JOIN uploads up ON up.id = m.upload_id"
        )
    };
}
pub(crate) use message_sql;

/// Implements both traits for a backend.
macro_rules! impl_message_store {
    ($store:ty, $db:ty) => {
        $crate::store::messages::impl_message_writes!($store, $db);
        $crate::store::messages::impl_thread_writes!($store, $db);
        $crate::store::messages::impl_reactions!($store, $db);
        $crate::store::messages::impl_history_store!($store, $db);
    };
}
pub(crate) use impl_message_store;
