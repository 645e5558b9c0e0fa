use palaver_protocol::ws::ServerEvent;
use palaver_protocol::{HistoryQuery, Message, MessagePage, PostMessageRequest};

use super::sequencer::Queued;
use super::{Access, Caller, Services, views};
use crate::clock;
use crate::domain::{ClientMsgId, MessageContent, MessageId, MessageKind, PageLimit, Role, RoomId, UploadId, mentions};
use crate::error::{Error, Result};
use crate::store::{HistoryRange, NewMessage, NotifyPlan};

/// Mentions beyond this many in one message notify nobody further.
const MAX_MENTIONS: usize = 20;

/// A message as a client sent it, parsed: valid content (or none, with an image), a valid
/// idempotency key.
#[derive(Debug)]
pub struct Draft {
    content: Option<MessageContent>,
    upload_id: Option<UploadId>,
    client_msg_id: Option<ClientMsgId>,
}

impl Draft {
    pub fn parse(req: PostMessageRequest) -> Result<Self> {
        let upload_id = req.upload_id.map(UploadId::from_uuid);
        let content = match (req.content.as_deref(), upload_id) {
            (None, _) => Ok(None),
            (Some(raw), None) => MessageContent::parse(raw).map(Some),
            (Some(raw), Some(_)) => MessageContent::parse_caption(raw),
        };
        let client_msg_id = req.client_msg_id.as_deref().map(ClientMsgId::parse).transpose();
        let (content, client_msg_id) = match (content, client_msg_id) {
            (Ok(c), Ok(id)) => (c, id),
            (c, id) => return Err(Error::fields([c.err(), id.err()])),
        };
        if content.is_none() && upload_id.is_none() {
            return Err(Error::invalid("content", "must not be empty"));
        }
        Ok(Self { content, upload_id, client_msg_id })
    }
}

/// A post on its way to the store: queued behind the sender's earlier ones, or answered
/// already (a retry of a stored send).
pub enum Posting {
    Answered(Box<(Message, bool)>),
    Queued(Queued<Option<(Message, bool)>>),
}

impl Posting {
    /// The stored message, and `false` if it was stored by an earlier send.
    pub async fn answer(self) -> Result<(Message, bool)> {
        match self {
            Posting::Answered(done) => Ok(*done),
            Posting::Queued(queued) => queued.answer().await?.ok_or(Error::NotFound("room")),
        }
    }
}

impl Services {
    pub async fn history(&self, caller: &Caller, room_id: RoomId, query: HistoryQuery) -> Result<MessagePage> {
        let limit = PageLimit::parse(query.limit).map_err(|e| Error::Validation(vec![e]))?.get();
        let range = match (query.before, query.after) {
            (None, None) => HistoryRange::Latest,
            (Some(before), None) => HistoryRange::Before(before),
            (None, Some(after)) => HistoryRange::After(after),
            (Some(_), Some(_)) => return Err(Error::invalid("before", "give before or after, not both")),
        };
        let (rows, has_more) = self.store().history(room_id, caller.id, range, limit).await?;
        if rows.is_empty() {
            // No rows: an empty range, or not a member; only the second is an error.
            self.access(caller, room_id).await?.member()?;
        }
        Ok(MessagePage { items: rows.into_iter().map(|row| views::message(row, self.signer())).collect(), has_more })
    }

    /// Persists a message (with its seq and notifications) and returns it; a retry with the
    /// same `client_msg_id` returns the first one. REST and WebSocket sends both land here.
    pub async fn post_message(
        &self,
        caller: &Caller,
        room_id: RoomId,
        req: PostMessageRequest,
    ) -> Result<(Message, bool)> {
        self.spend_write(caller).await?;
        let draft = Draft::parse(req)?;
        let access = self.access(caller, room_id).await?;
        access.member()?;
        self.queue_checked(caller, &access, draft).await?.answer().await
    }

    /// Queues a parsed message as a member of the room `access` describes (the caller has
    /// checked membership, possibly earlier on the same socket): the WebSocket's `send`.
    /// Posts queued one after another are stored in that order; the answer comes later.
    pub async fn queue_draft(&self, caller: &Caller, access: &Access, draft: Draft) -> Result<Posting> {
        self.spend_write(caller).await?;
        self.queue_checked(caller, access, draft).await
    }

    /// Takes one of the caller's message writes, or 429: one budget per user, whichever
    /// socket or request the writes come from. Spent before any work, so a flood of failing
    /// writes is held back like one of successful ones.
    async fn spend_write(&self, caller: &Caller) -> Result<()> {
        self.inner.writes.try_take(caller.id).await.map_err(|retry_after| Error::RateLimited { retry_after })
    }

    async fn queue_checked(&self, caller: &Caller, access: &Access, draft: Draft) -> Result<Posting> {
        let content = draft.content.map(MessageContent::into_inner).unwrap_or_default();
        let notify = if access.is_dm() {
            NotifyPlan { mentions: vec![], dm: true }
        } else {
            NotifyPlan { mentions: mentions(&content, MAX_MENTIONS), dm: false }
        };
        let attachment = match draft.upload_id {
            // A retry of a stored send has its upload attached already: the sequencer
            // answers it with the first message, so only a new send checks its upload.
            Some(id) => match self.retried(caller, access, draft.client_msg_id.as_ref()).await? {
                Some(message) => return Ok(Posting::Answered(Box::new((message, false)))),
                None => Some(self.attachable(caller, id).await?),
            },
            None => None,
        };
        let new = NewMessage {
            id: MessageId::generate(),
            room_id: access.room.id,
            author_id: caller.id,
            author_username: caller.username.clone(),
            kind: if attachment.is_some() { MessageKind::Image } else { MessageKind::Text },
            content,
            attachment,
            client_msg_id: draft.client_msg_id.map(ClientMsgId::into_inner),
            created_at: clock::now(),
        };
        Ok(Posting::Queued(self.inner.sequencer.queue_post(new, notify).await?))
    }

    /// The message an earlier send with this idempotency key stored, if any.
    async fn retried(&self, caller: &Caller, access: &Access, key: Option<&ClientMsgId>) -> Result<Option<Message>> {
        let Some(key) = key else { return Ok(None) };
        let row = self.store().message_by_client_msg_id(access.room.id, caller.id, key.as_str()).await?;
        Ok(row.map(|row| views::message(row, self.signer())))
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
        let access = self.access(caller, room_id).await?;
        access.member()?;
        let existing = self.store().message(room_id, message_id).await?.ok_or(Error::NotFound("message"))?;
        if existing.author_id != caller.id {
            return Err(Error::Forbidden("only the author can edit a message"));
        }
        if existing.deleted {
            return Err(Error::Conflict("a deleted message cannot be edited"));
        }
        let edited = self.inner.sequencer.edit(room_id, message_id, content.into_inner(), clock::now()).await?;
        edited.ok_or(Error::Conflict("a deleted message cannot be edited"))
    }

    /// Soft delete by the author or a room owner/admin. Deleting twice is a no-op.
    pub async fn delete_message(&self, caller: &Caller, room_id: RoomId, message_id: MessageId) -> Result<()> {
        self.spend_write(caller).await?;
        let access = self.access(caller, room_id).await?;
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
        let access = self.access(caller, room_id).await?;
        access.member()?;
        let seq = seq.min(access.room.last_seq);
        if self.store().mark_read(room_id, caller.id, seq).await? {
            self.publish_room(room_id, &ServerEvent::Read { room_id: room_id.into(), user_id: caller.id.into(), seq });
        }
        Ok(())
    }
}
