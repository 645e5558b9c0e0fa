//! WebSocket frames: JSON text, tagged by `type`. A client frame may carry an `id`; every
//! reply to it carries the same `id`. See `docs/protocol.md` for the prose.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Message, Notification, Room, User, UserRef};

mod decode;

/// A client frame with its optional correlation id (a string or a number, echoed as given).
/// Read by hand (`decode`): the frame's `type` must be a string.
#[derive(Debug, Clone, Serialize)]
pub struct ClientEnvelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    #[serde(flatten)]
    pub frame: ClientFrame,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Live events of a room; with `since_seq`, first every event after it.
    Subscribe {
        room_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_seq: Option<i64>,
    },
    Unsubscribe {
        room_id: Uuid,
    },
    Send {
        room_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload_id: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread_root_id: Option<Uuid>,
    },
    /// Adds (`added: true`) or removes the caller's reaction; answered with an `ack` of the message.
    React {
        room_id: Uuid,
        message_id: Uuid,
        emoji: String,
        added: bool,
    },
    Typing {
        room_id: Uuid,
        active: bool,
    },
    Read {
        room_id: Uuid,
        seq: i64,
    },
    Ping,
    /// A message to the assistant in one of the caller's conversations; the reply's events
    /// come back as `assistant.*` frames.
    #[serde(rename = "assistant.send")]
    AssistantSend {
        conversation_id: Uuid,
        message: String,
    },
    /// Stops the conversation's running reply; the part so far is kept.
    #[serde(rename = "assistant.cancel")]
    AssistantCancel {
        conversation_id: Uuid,
    },
}

/// A server frame: a reply (with the request's `id`) or a pushed event (no `id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerEnvelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    #[serde(flatten)]
    pub event: ServerEvent,
}

impl ServerEnvelope {
    /// The JSON text of a frame, serialized from borrowed parts: events are encoded once
    /// per publish and must not be cloned for it.
    pub fn encode(id: Option<&serde_json::Value>, event: &ServerEvent) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            id: Option<&'a serde_json::Value>,
            #[serde(flatten)]
            event: &'a ServerEvent,
        }
        serde_json::to_string(&Borrowed { id, event })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    Subscribed {
        room_id: Uuid,
        last_seq: i64,
        /// The gap was larger than the server replays; page the rest over REST.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
    },
    Unsubscribed {
        room_id: Uuid,
    },
    Ack {
        message: Message,
    },
    Pong,
    /// A message was posted; `seq` equals `message.seq`.
    Message {
        seq: i64,
        message: Message,
    },
    MessageUpdated {
        seq: i64,
        message: Message,
    },
    MessageDeleted {
        seq: i64,
        room_id: Uuid,
        message_id: Uuid,
    },
    /// A reaction added or removed: a room event with its own seq.
    Reaction {
        seq: i64,
        room_id: Uuid,
        message_id: Uuid,
        emoji: String,
        user_id: Uuid,
        added: bool,
    },
    /// The user's read marker in a thread moved (to every session of that user).
    ThreadRead {
        room_id: Uuid,
        root_id: Uuid,
        seq: i64,
    },
    Typing {
        room_id: Uuid,
        user: UserRef,
        active: bool,
    },
    Presence {
        user_id: Uuid,
        online: bool,
        #[serde(with = "time::serde::rfc3339::option")]
        last_seen: Option<OffsetDateTime>,
    },
    Read {
        room_id: Uuid,
        user_id: Uuid,
        seq: i64,
    },
    Notification {
        notification: Notification,
    },
    MemberJoined {
        room_id: Uuid,
        user: User,
    },
    MemberLeft {
        room_id: Uuid,
        user: User,
    },
    /// The room's shared fields changed; `unread_count` and `my_role` are null here.
    RoomUpdated {
        room: Room,
    },
    /// The room is gone; its subscriptions have ended.
    RoomDeleted {
        room_id: Uuid,
    },
    Error {
        code: String,
        message: String,
    },
    /// The events of an assistant reply, to every session of the conversation's owner.
    #[serde(rename = "assistant.start")]
    AssistantStart {
        conversation_id: Uuid,
        user_message_id: Uuid,
        assistant_message_id: Uuid,
    },
    #[serde(rename = "assistant.chunk")]
    AssistantChunk {
        conversation_id: Uuid,
        content: String,
    },
    #[serde(rename = "assistant.tool_call")]
    AssistantToolCall {
        conversation_id: Uuid,
        name: String,
        arguments: serde_json::Value,
    },
    #[serde(rename = "assistant.tool_result")]
    AssistantToolResult {
        conversation_id: Uuid,
        name: String,
        content: String,
        is_error: bool,
    },
    #[serde(rename = "assistant.complete")]
    AssistantComplete {
        conversation_id: Uuid,
        message_id: Uuid,
        usage: crate::Usage,
    },
    #[serde(rename = "assistant.error")]
    AssistantError {
        conversation_id: Uuid,
        #[serde(default)]
        status: crate::ReplyEndStatus,
        error: String,
    },
}

impl ServerEvent {
    /// An assistant reply's event as the frame of its conversation.
    pub fn assistant(conversation_id: Uuid, event: crate::ReplyEvent) -> Self {
        use crate::ReplyEvent as E;
        match event {
            E::Start { user_message_id, assistant_message_id } => {
                ServerEvent::AssistantStart { conversation_id, user_message_id, assistant_message_id }
            }
            E::Chunk { content } => ServerEvent::AssistantChunk { conversation_id, content },
            E::ToolCall { name, arguments } => ServerEvent::AssistantToolCall { conversation_id, name, arguments },
            E::ToolResult { name, content, is_error } => {
                ServerEvent::AssistantToolResult { conversation_id, name, content, is_error }
            }
            E::Complete { message_id, usage } => ServerEvent::AssistantComplete { conversation_id, message_id, usage },
            E::Error { status, error } => ServerEvent::AssistantError { conversation_id, status, error },
        }
    }

    /// The room seq of a room event (posts, edits, deletes, reactions), which resume is keyed on.
    pub fn seq(&self) -> Option<i64> {
        match self {
            ServerEvent::Message { seq, .. }
            | ServerEvent::MessageUpdated { seq, .. }
            | ServerEvent::MessageDeleted { seq, .. }
            | ServerEvent::Reaction { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

/// WebSocket close codes the server uses.
pub mod close {
    /// Server shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// Token expired, or the client flooded past the rate limit.
    pub const POLICY: u16 = 1008;
    /// A frame over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The client did not read fast enough; resume with `since_seq`.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// A WebSocket protocol violation (an unmasked frame, reserved bits, an unknown opcode).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_with_ids() {
        let raw = r#"{"type":"subscribe","id":7,"room_id":"0190f5c2-0000-7000-8000-000000000000","since_seq":3}"#;
        let env: ClientEnvelope = serde_json::from_str(raw).unwrap();
        assert_eq!(env.id, Some(serde_json::json!(7)));
        assert!(matches!(env.frame, ClientFrame::Subscribe { since_seq: Some(3), .. }));
        let ping: ClientEnvelope = serde_json::from_str(r#"{"type":"ping"}"#).unwrap();
        assert_eq!(ping.id, None);
        assert_eq!(ping.frame, ClientFrame::Ping);
        let out = ServerEnvelope { id: Some("a".into()), event: ServerEvent::Pong };
        assert_eq!(serde_json::to_string(&out).unwrap(), r#"{"id":"a","type":"pong"}"#);
        let event = ServerEvent::Read { room_id: uuid::Uuid::nil(), user_id: uuid::Uuid::max(), seq: 4 };
        for id in [None, Some(serde_json::json!(7))] {
            let owned = ServerEnvelope { id: id.clone(), event: event.clone() };
            assert_eq!(ServerEnvelope::encode(id.as_ref(), &event).unwrap(), serde_json::to_string(&owned).unwrap());
        }
    }

    #[test]
    fn the_type_is_a_string_and_not_a_variant_index() {
        let room = "0190f5c2-0000-7000-8000-000000000000";
        let send = format!(r#"{{"type":"send","room_id":"{room}","content":"hi"}}"#);
        let env: ClientEnvelope = serde_json::from_str(&send).unwrap();
        assert!(matches!(env.frame, ClientFrame::Send { .. }), "{env:?}");
        // Index 2 is `send`, 0 `subscribe`, 5 `ping`.
        for tag in ["2", "0", "5", "2.0", "true", "null", r#"["send"]"#, r#"{"send":{}}"#] {
            let raw = format!(r#"{{"id":"x","type":{tag},"room_id":"{room}","content":"hi"}}"#);
            let got = serde_json::from_str::<ClientEnvelope>(&raw);
            assert!(got.is_err(), "{raw} was read as {got:?}");
            let value: serde_json::Value = serde_json::from_str(&raw).unwrap();
            let got = serde_json::from_value::<ClientEnvelope>(value);
            assert!(got.is_err(), "{raw} (from a Value) was read as {got:?}");
        }
    }

    #[test]
    fn id_may_come_anywhere_and_only_once() {
        let room = "0190f5c2-0000-7000-8000-000000000000";
        for raw in [
            format!(r#"{{"id":"a","type":"unsubscribe","room_id":"{room}"}}"#),
            format!(r#"{{"type":"unsubscribe","id":"a","room_id":"{room}"}}"#),
            format!(r#"{{"type":"unsubscribe","room_id":"{room}","id":"a"}}"#),
            format!(r#"{{"room_id":"{room}","id":"a","type":"unsubscribe"}}"#),
        ] {
            let env: ClientEnvelope = serde_json::from_str(&raw).unwrap();
            assert_eq!(env.id, Some(serde_json::json!("a")), "{raw}");
            assert!(matches!(env.frame, ClientFrame::Unsubscribe { .. }), "{raw}");
        }
        let twice = r#"{"id":1,"type":"ping","id":2}"#;
        assert!(serde_json::from_str::<ClientEnvelope>(twice).is_err());
        let escaped = r#"{"type":"ping","id":3}"#;
        let env: ClientEnvelope = serde_json::from_str(escaped).unwrap();
        assert_eq!((env.id, env.frame), (Some(serde_json::json!(3)), ClientFrame::Ping));
        for bad in ["[1,2]", r#""ping""#, "{}", r#"{"type":"ping","type":"ping"}"#, r#"{"id":1}"#] {
            assert!(serde_json::from_str::<ClientEnvelope>(bad).is_err(), "{bad}");
        }
    }
}
