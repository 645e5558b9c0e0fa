//! Publishing what the services did, for every instance's live sessions.

use std::sync::Arc;

use palaver_protocol::ws::ServerEvent;
use palaver_protocol::{Notification, UserRef};
use time::OffsetDateTime;

use super::messages::Decorations;
use super::{Caller, views};
use crate::domain::{MessageId, RoomId};
use crate::realtime::{Broker, Control, Envelope, Multicast, Topic};
use crate::store::{EventKind, Notified, RoomEvent};
use crate::uploads::signed::UrlSigner;

pub(crate) fn publish(broker: &dyn Broker, topic: Topic, event: &ServerEvent, control: Control) {
    publish_envelope(broker, topic, control, || Envelope::new(topic, event, control));
}

/// [`publish`] for an event built only if someone can receive it (an assistant reply's
/// chunks, most of which no socket is open for).
pub(crate) fn publish_built(broker: &dyn Broker, topic: Topic, event: impl FnOnce() -> ServerEvent) {
    publish_envelope(broker, topic, Control::None, || Envelope::new(topic, &event(), Control::None));
}

fn publish_envelope(broker: &dyn Broker, topic: Topic, control: Control, envelope: impl FnOnce() -> Envelope) {
    // A control still has work for the hub (a member who left) even with no subscriber.
    if control == Control::None && !broker.listened(topic) {
        return;
    }
    broker.publish(envelope());
}

/// Pushes freshly written notifications to their users' sessions.
pub(crate) fn publish_notifications(
    broker: &dyn Broker,
    notified: &[Notified],
    room_id: RoomId,
    message: Option<(MessageId, Option<MessageId>)>,
    actor: &UserRef,
    created_at: OffsetDateTime,
) {
    for Notified { id, user_id, kind } in notified {
        let notification = Notification {
            id: *id,
            kind: (*kind).into(),
            room_id: room_id.into(),
            message_id: message.map(|(id, _)| id.into()),
            thread_root_id: message.and_then(|(_, root)| root).map(Into::into),
            actor: actor.clone(),
            created_at,
            read_at: None,
        };
        publish(broker, Topic::User(*user_id), &ServerEvent::Notification { notification }, Control::None);
    }
}

/// How the services tell every instance's live sessions what happened: a handle on the
/// broker, shared by every area. The last one dropped stops the broker's tasks.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    broker: Arc<dyn Broker>,
    _stop: tokio_util::sync::DropGuard,
}

impl Publisher {
    pub fn new(broker: Arc<dyn Broker>, stop: tokio_util::sync::CancellationToken) -> Self {
        Self { inner: Arc::new(Inner { broker, _stop: stop.drop_guard() }) }
    }

    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.inner.broker
    }

    pub(crate) fn publish(&self, topic: Topic, event: &ServerEvent, control: Control) {
        publish(&*self.inner.broker, topic, event, control);
    }

    /// Frames for many users' sessions, on every instance (presence).
    pub(crate) fn multicast(&self, multicast: Multicast) {
        self.inner.broker.multicast(multicast);
    }

    pub(crate) fn publish_room(&self, room_id: RoomId, event: &ServerEvent) {
        self.publish(Topic::Room(room_id), event, Control::None);
    }

    /// [`publish_built`] on this broker.
    pub(crate) fn publish_built(&self, topic: Topic, event: impl FnOnce() -> ServerEvent) {
        publish_built(&*self.inner.broker, topic, event);
    }

    pub(crate) fn publish_notifications(
        &self,
        notified: &[Notified],
        room_id: RoomId,
        message: Option<(MessageId, Option<MessageId>)>,
        actor: &Caller,
        created_at: OffsetDateTime,
    ) {
        let actor = UserRef { id: actor.id.into(), username: actor.username.clone() };
        publish_notifications(&*self.inner.broker, notified, room_id, message, &actor, created_at);
    }

    /// Resolves once events published anywhere reach this instance's subscribers of `topic`.
    pub async fn listening(&self, topic: Topic) {
        self.inner.broker.ready(topic).await;
    }
}

/// A stored room event as its frame, with the message as it is now (decorated, with fresh
/// signed URLs).
pub fn stored_event(e: RoomEvent, signer: &UrlSigner, decorations: &Decorations) -> ServerEvent {
    let RoomEvent { seq, kind, message, reaction } = e;
    match kind {
        EventKind::Posted => ServerEvent::Message { seq, message: decorations.apply(views::message(message, signer)) },
        EventKind::Edited => {
            ServerEvent::MessageUpdated { seq, message: decorations.apply(views::message(message, signer)) }
        }
        EventKind::Deleted => {
            ServerEvent::MessageDeleted { seq, room_id: message.room_id.into(), message_id: message.id.into() }
        }
        EventKind::Reacted | EventKind::Unreacted => match reaction {
            Some((emoji, user_id)) => ServerEvent::Reaction {
                seq,
                room_id: message.room_id.into(),
                message_id: message.id.into(),
                emoji,
                user_id: user_id.into(),
                added: kind == EventKind::Reacted,
            },
            // Every reaction event is written with both; were one not, the seq still
            // reaches the client, as the message with its reactions as they are now.
            None => ServerEvent::MessageUpdated { seq, message: decorations.apply(views::message(message, signer)) },
        },
    }
}
