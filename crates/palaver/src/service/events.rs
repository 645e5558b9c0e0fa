//! Publishing what the services did, for every instance's live sessions.

use palaver_protocol::ws::ServerEvent;
use palaver_protocol::{Notification, UserRef};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Caller, Services, views};
use crate::realtime::{Control, Envelope, Topic};
use crate::store::{EventKind, MessageRow, RoomEvent};

impl Services {
    pub(crate) fn publish(&self, topic: Topic, event: &ServerEvent, control: Control) {
        self.inner.broker.publish(Envelope::new(topic, event, control));
    }

    pub(crate) fn publish_room(&self, room_id: Uuid, event: &ServerEvent) {
        self.publish(Topic::Room(room_id), event, Control::None);
    }

    /// Pushes freshly written notifications to their users' sessions.
    pub(crate) fn publish_notifications(
        &self,
        notified: &[(Uuid, Uuid, String)],
        room_id: Uuid,
        message_id: Option<Uuid>,
        actor: &Caller,
        created_at: OffsetDateTime,
    ) {
        for (id, user_id, kind) in notified {
            let notification = Notification {
                id: *id,
                kind: views::notification_kind(kind),
                room_id,
                message_id,
                actor: UserRef { id: actor.id, username: actor.username.clone() },
                created_at,
                read_at: None,
            };
            self.publish(Topic::User(*user_id), &ServerEvent::Notification { notification }, Control::None);
        }
    }
}

/// The frame for a room event, from the message as it is now.
pub fn room_event(seq: i64, kind: EventKind, message: MessageRow) -> ServerEvent {
    match kind {
        EventKind::Posted => ServerEvent::Message { seq, message: views::message(message) },
        EventKind::Edited => ServerEvent::MessageUpdated { seq, message: views::message(message) },
        EventKind::Deleted => ServerEvent::MessageDeleted { seq, room_id: message.room_id, message_id: message.id },
    }
}

impl From<RoomEvent> for ServerEvent {
    fn from(e: RoomEvent) -> Self {
        room_event(e.seq, e.kind, e.message)
    }
}
