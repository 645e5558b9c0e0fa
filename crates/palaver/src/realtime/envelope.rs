use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use palaver_protocol::ws::{ServerEnvelope, ServerEvent};

use crate::domain::{RoomId, Seq, UserId};

/// Where an event goes: every subscriber of a room, or every session of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Room(RoomId),
    User(UserId),
}

/// What the hub itself must do besides delivering the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    None,
    /// The user left the room: end their subscriptions to it.
    Left(UserId),
    /// The room is gone: end every subscription to it.
    RoomDeleted,
    /// On a user topic: the API token with this tag was rotated or its bot deleted; close
    /// (1008) the user's sessions opened with it. The frame is not delivered.
    Revoked(u64),
}

/// An event as it travels: serialized once, shared by every subscriber.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub topic: Topic,
    /// The room seq, for room events (posts, edits, deletes, reactions).
    pub seq: Option<Seq>,
    pub control: Control,
    pub frame: Utf8Bytes,
}

impl Envelope {
    pub fn new(topic: Topic, event: &ServerEvent, control: Control) -> Self {
        Self { topic, seq: event.seq().map(Seq::new), control, frame: encode(None, event) }
    }
}

/// Frames for every session of each of `users`, wherever they are: encoded once, and one
/// message between instances however many users hear it (presence: each of a batch of
/// changes goes to everyone sharing a room with its user).
#[derive(Debug, Clone)]
pub struct Multicast {
    pub users: Vec<UserId>,
    /// Each with `Topic::User` of the user it is about.
    pub frames: Vec<Arc<Envelope>>,
}

/// One server frame as JSON text.
pub fn encode(id: Option<serde_json::Value>, event: &ServerEvent) -> Utf8Bytes {
    // Serializing our own types to a String cannot fail (no maps with non-string keys).
    ServerEnvelope::encode(id.as_ref(), event).unwrap_or_default().into()
}
