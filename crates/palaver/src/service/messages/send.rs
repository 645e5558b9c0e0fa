//! The one send path. REST and WebSocket sends take the same steps in the same order:
//! the sender's write budget, the message parsed, the room's access checked, the post
//! queued on the room's sequencer shard. A REST post checks access each time; a
//! WebSocket [`Sender`] remembers the rooms it checked until its user leaves them.

use palaver_protocol::{Message, PostMessageRequest};

use super::Messages;
use super::memberships::Cache;
use super::sequencer::Queued;
use crate::clock;
use crate::domain::{ClientMsgId, MessageContent, MessageId, MessageKind, RoomId, UploadId, Via, mentions};
use crate::error::{Error, Result};
use crate::service::{Access, Caller, views};
use crate::store::{NewMessage, NotifyPlan};

/// Mentions beyond this many in one message notify nobody further.
const MAX_MENTIONS: usize = 20;

/// A message as a client sent it, parsed: valid content (or none, with an image), a valid
/// idempotency key.
#[derive(Debug)]
pub struct Draft {
    content: Option<MessageContent>,
    upload_id: Option<UploadId>,
    client_msg_id: Option<ClientMsgId>,
    /// A reply in this root's thread.
    thread_root_id: Option<MessageId>,
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
        Ok(Self { content, upload_id, client_msg_id, thread_root_id: req.thread_root_id.map(MessageId::from_uuid) })
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

/// One socket's sends, as its user: remembers which rooms it checked (a busy sender is not
/// re-checked on every message) until the user leaves one, on any instance.
pub struct Sender {
    messages: Messages,
    caller: Caller,
    rooms: Cache,
}

impl Messages {
    /// Posts a message and waits until it is stored: the REST send. A retry with the same
    /// `client_msg_id` returns the first one (and `false`).
    pub async fn post(&self, caller: &Caller, room_id: RoomId, req: PostMessageRequest) -> Result<(Message, bool)> {
        self.spend_write(caller).await?;
        let draft = Draft::parse(req)?;
        let access = self.inner.rooms.check_member(caller, room_id).await?;
        self.queue(caller, &access, draft).await?.answer().await
    }

    /// A sender for one socket of `caller`.
    pub fn sender(&self, caller: Caller) -> Sender {
        let rooms = self.inner.memberships.cache(caller.id);
        Sender { messages: self.clone(), caller, rooms }
    }

    async fn queue(&self, caller: &Caller, access: &Access, draft: Draft) -> Result<Posting> {
        if let Some(root_id) = draft.thread_root_id
            && let Err(refused) = self.check_reply_to(access, root_id).await
        {
            // A retry of a reply stored before its root was deleted gets that reply.
            return match self.retried(caller, access, draft.client_msg_id.as_ref()).await? {
                Some(message) => Ok(Posting::Answered(Box::new((message, false)))),
                None => Err(refused),
            };
        }
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
                None => Some(self.inner.uploads.attachable(caller, id).await?),
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
            thread_root_id: draft.thread_root_id,
            via: caller.is_bot().then_some(Via::Bot),
            author_name: None,
        };
        Ok(Posting::Queued(self.inner.sequencer.queue_post(new, notify).await?))
    }

    /// The message an earlier send with this idempotency key stored, if any.
    async fn retried(&self, caller: &Caller, access: &Access, key: Option<&ClientMsgId>) -> Result<Option<Message>> {
        let Some(key) = key else { return Ok(None) };
        let row = self.store().message_by_client_msg_id(access.room.id, caller.id, key.as_str()).await?;
        Ok(row.map(|row| views::message(row, self.signer())))
    }
}

impl Sender {
    /// Queues a post; the answer comes once it is stored. Posts queued one after another
    /// are stored in that order.
    pub async fn send(&mut self, room_id: RoomId, req: PostMessageRequest) -> Result<Posting> {
        let messages = &self.messages;
        messages.spend_write(&self.caller).await?;
        let draft = Draft::parse(req)?;
        let access = match self.rooms.get(room_id) {
            Some(access) => access,
            None => {
                let started = self.rooms.check_started();
                let access = messages.inner.rooms.check_member(&self.caller, room_id).await?;
                // Not kept if the user left a room meanwhile: the next send checks again.
                self.rooms.remember(access.clone(), started);
                access
            }
        };
        messages.queue(&self.caller, &access, draft).await
    }
}
