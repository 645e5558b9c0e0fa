//! Reactions: one user's emoji on a message, added or taken back. A change is a room
//! event (through the sequencer, so it is published in seq order); asking for what is
//! already so changes nothing and takes no seq.

use palaver_protocol::Message;

use super::Messages;
use crate::domain::{Emoji, MessageId, RoomId};
use crate::error::{Conflict, Error, Result};
use crate::service::Caller;
use crate::store::{ReactOutcome, ReactionChange};

impl Messages {
    /// Adds (`added`) or removes the caller's `emoji` on a message; the message as it is
    /// then. Spends a write of the caller's budget either way.
    pub async fn react(
        &self,
        caller: &Caller,
        room_id: RoomId,
        message_id: MessageId,
        emoji: &str,
        added: bool,
    ) -> Result<Message> {
        self.spend_write(caller).await?;
        let emoji = Emoji::parse(emoji).map_err(|e| Error::Validation(vec![e]))?;
        self.inner.rooms.check_member(caller, room_id).await?;
        let change = ReactionChange { room_id, message_id, emoji: emoji.into_inner(), user_id: caller.id, added };
        match self.inner.sequencer.react(change).await? {
            ReactOutcome::Missing => return Err(Error::NotFound("message")),
            ReactOutcome::Deleted => return Err(Error::Conflict(Conflict::MessageDeleted)),
            ReactOutcome::TooMany => return Err(Error::Conflict(Conflict::TooManyReactions)),
            ReactOutcome::Unchanged | ReactOutcome::Changed(_) => {}
        }
        self.current(room_id, message_id).await?.ok_or(Error::NotFound("message"))
    }
}
