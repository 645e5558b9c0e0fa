//! Typing indicators: ephemeral, never stored. The socket keeps the timers (a typing
//! state expires 6 s after its last renewal); this checks and announces.

use palaver_protocol::UserRef;
use palaver_protocol::ws::ServerEvent;

use super::Messages;
use crate::domain::RoomId;
use crate::error::Result;
use crate::service::Caller;

impl Messages {
    /// Starts (or stops) typing in a room the caller is a member of.
    pub async fn typing(&self, caller: &Caller, room_id: RoomId, active: bool) -> Result<()> {
        self.inner.rooms.check_member(caller, room_id).await?;
        self.publish_typing(caller, room_id, active);
        Ok(())
    }

    /// Also used when typing expires or the socket closes, without a membership check.
    pub fn publish_typing(&self, caller: &Caller, room_id: RoomId, active: bool) {
        let user = UserRef { id: caller.id.into(), username: caller.username.clone() };
        self.inner.publisher.publish_room(room_id, &ServerEvent::Typing { room_id: room_id.into(), user, active });
    }
}
