//! What a message shows beyond its own row: a root's latest repliers and the reactions.
//! Loaded in bulk (two queries for a page, however long), never once per message or per
//! delivery: a new message has neither, and an event is decorated once when it is built.

use std::collections::HashMap;

use palaver_protocol::{Message, Reaction, UserRef};

use super::Messages;
use crate::domain::MessageId;
use crate::error::Result;
use crate::store::{self, DynStore, MessageRow};
use crate::uploads::signed::UrlSigner;

/// The decorations of a set of messages, to apply to each as it becomes a wire message.
#[derive(Debug, Default)]
pub struct Decorations {
    participants: HashMap<MessageId, Vec<UserRef>>,
    reactions: HashMap<MessageId, Vec<Reaction>>,
}

impl Decorations {
    /// Loads what `rows` show: participants of those with replies, reactions of those not
    /// deleted (a deleted message shows none).
    pub async fn load<'a>(
        store: &DynStore,
        rows: impl IntoIterator<Item = &'a MessageRow>,
    ) -> Result<Self, store::Error> {
        let mut messages = Vec::new();
        let mut roots = Vec::new();
        for row in rows {
            if !row.deleted {
                messages.push(row.id);
            }
            if row.reply_count > 0 {
                roots.push(row.id);
            }
        }
        if messages.is_empty() && roots.is_empty() {
            return Ok(Self::default());
        }
        let (participants, reactions) = store.decorations(&messages, &roots).await?;
        let mut decorations = Self::default();
        for p in participants {
            let user = UserRef { id: p.user_id.into(), username: p.username };
            decorations.participants.entry(p.root_id).or_default().push(user);
        }
        for r in reactions {
            let list = decorations.reactions.entry(r.message_id).or_default();
            match list.last_mut() {
                Some(last) if last.emoji == r.emoji => last.user_ids.push(r.user_id.into()),
                _ => list.push(Reaction { emoji: r.emoji, count: r.count, user_ids: vec![r.user_id.into()] }),
            }
        }
        Ok(decorations)
    }

    pub fn apply(&self, mut message: Message) -> Message {
        let id = MessageId::from_uuid(message.id);
        if let Some(thread) = message.thread.as_mut() {
            thread.participants = self.participants.get(&id).cloned().unwrap_or_default();
        }
        if !message.deleted {
            message.reactions = self.reactions.get(&id).cloned().unwrap_or_default();
        }
        message
    }
}

/// `rows` as wire messages, decorated.
pub async fn decorated(
    store: &DynStore,
    signer: &UrlSigner,
    rows: Vec<MessageRow>,
) -> Result<Vec<Message>, store::Error> {
    let decorations = Decorations::load(store, &rows).await?;
    Ok(rows.into_iter().map(|row| decorations.apply(crate::service::views::message(row, signer))).collect())
}

impl Messages {
    /// `rows` as wire messages, decorated.
    pub(crate) async fn decorate(&self, rows: Vec<MessageRow>) -> Result<Vec<Message>> {
        Ok(decorated(self.store(), self.signer(), rows).await?)
    }

    /// One message as it is now, decorated; `None` if it is not in the room.
    pub(crate) async fn current(&self, room_id: crate::domain::RoomId, id: MessageId) -> Result<Option<Message>> {
        let Some(row) = self.store().message(room_id, id).await? else { return Ok(None) };
        Ok(self.decorate(vec![row]).await?.pop())
    }
}
