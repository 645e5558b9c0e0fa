//! How an event travels through Redis: a channel per topic, and a payload of a fixed
//! header (who published it, its seq, what the hub must do) followed by the frame's JSON.
//! The frame is the bytes every local subscriber gets: serialized once on the publishing
//! instance, never parsed again on the others.

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use uuid::Uuid;

use crate::domain::{RoomId, UserId};
use crate::realtime::{Control, Envelope, Topic};

/// Every channel of ours starts with this, so a Redis shared with other programs is safe.
const PREFIX: &str = "palaver:";
/// Published when an instance may have failed to publish something: every instance then
/// compares its rooms with the store (see `Broker::gaps`).
pub const RESYNC_CHANNEL: &str = "palaver:resync";

/// A conversation id: the instance running its reply cancels it.
pub const CANCEL_CHANNEL: &str = "palaver:cancel";

const VERSION: u8 = 1;
const NO_SEQ: i64 = i64::MIN;
/// version, origin, control tag, the user of `Control::Left`, seq.
const HEADER: usize = 1 + 16 + 1 + 16 + 8;

pub fn channel(topic: Topic) -> String {
    match topic {
        Topic::Room(room_id) => format!("{PREFIX}room:{}", room_id.uuid()),
        Topic::User(user) => format!("{PREFIX}user:{}", user.uuid()),
    }
}

pub fn topic_of(channel: &str) -> Option<Topic> {
    let rest = channel.strip_prefix(PREFIX)?;
    if let Some(id) = rest.strip_prefix("room:") {
        return Uuid::parse_str(id).ok().map(|id| Topic::Room(RoomId::from_uuid(id)));
    }
    let id = rest.strip_prefix("user:")?;
    Uuid::parse_str(id).ok().map(|id| Topic::User(UserId::from_uuid(id)))
}

pub fn encode(origin: Uuid, envelope: &Envelope) -> Vec<u8> {
    let (tag, user) = match envelope.control {
        Control::None => (0, Uuid::nil()),
        Control::Left(user) => (1, user.uuid()),
        Control::RoomDeleted => (2, Uuid::nil()),
    };
    let frame = envelope.frame.as_str().as_bytes();
    let mut out = Vec::with_capacity(HEADER + frame.len());
    out.push(VERSION);
    out.extend_from_slice(origin.as_bytes());
    out.push(tag);
    out.extend_from_slice(user.as_bytes());
    out.extend_from_slice(&envelope.seq.unwrap_or(NO_SEQ).to_be_bytes());
    out.extend_from_slice(frame);
    out
}

/// Why a payload was not an event of ours (counted and logged, never delivered).
#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    Short,
    Version(u8),
    Control(u8),
    NotUtf8,
}

/// The publishing instance and the envelope.
pub fn decode(topic: Topic, payload: Bytes) -> Result<(Uuid, Envelope), Malformed> {
    if payload.len() < HEADER {
        return Err(Malformed::Short);
    }
    if payload[0] != VERSION {
        return Err(Malformed::Version(payload[0]));
    }
    let uuid_at = |at: usize| {
        let mut id = [0u8; 16];
        id.copy_from_slice(&payload[at..at + 16]);
        Uuid::from_bytes(id)
    };
    let origin = uuid_at(1);
    let control = match payload[17] {
        0 => Control::None,
        1 => Control::Left(UserId::from_uuid(uuid_at(18))),
        2 => Control::RoomDeleted,
        tag => return Err(Malformed::Control(tag)),
    };
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&payload[34..42]);
    let seq = match i64::from_be_bytes(seq) {
        NO_SEQ => None,
        seq => Some(seq),
    };
    let frame = Utf8Bytes::try_from(payload.slice(HEADER..)).map_err(|_| Malformed::NotUtf8)?;
    Ok((origin, Envelope { topic, seq, control, frame }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_comes_back_as_it_left() {
        let origin = Uuid::now_v7();
        let room = Topic::Room(RoomId::generate());
        let left = UserId::generate();
        for (seq, control) in [(Some(7), Control::None), (None, Control::Left(left)), (None, Control::RoomDeleted)] {
            let envelope = Envelope { topic: room, seq, control, frame: r#"{"type":"x","é":1}"#.into() };
            let channel = channel(room);
            assert_eq!(topic_of(&channel), Some(room));
            let (from, back) = decode(room, Bytes::from(encode(origin, &envelope))).expect("decodes");
            assert_eq!(from, origin);
            assert_eq!((back.seq, back.control, back.frame.as_str()), (seq, control, envelope.frame.as_str()));
        }
    }

    #[test]
    fn user_channels_and_foreign_channels() {
        let user = Topic::User(UserId::generate());
        assert_eq!(topic_of(&channel(user)), Some(user));
        assert_eq!(topic_of("palaver:room:not-a-uuid"), None);
        assert_eq!(topic_of("someone-else:room:0190d4e2-3c4b-7000-8000-000000000000"), None);
        assert_eq!(topic_of(RESYNC_CHANNEL), None);
    }

    #[test]
    fn what_is_not_ours_is_refused() {
        let room = Topic::Room(RoomId::generate());
        assert_eq!(decode(room, Bytes::from_static(b"hello")).err(), Some(Malformed::Short));
        let mut payload =
            encode(Uuid::nil(), &Envelope { topic: room, seq: None, control: Control::None, frame: "{}".into() });
        payload[0] = 9;
        assert_eq!(decode(room, Bytes::from(payload.clone())).err(), Some(Malformed::Version(9)));
        payload[0] = VERSION;
        payload[17] = 5;
        assert_eq!(decode(room, Bytes::from(payload.clone())).err(), Some(Malformed::Control(5)));
        payload[17] = 0;
        payload.push(0xff);
        assert_eq!(decode(room, Bytes::from(payload)).err(), Some(Malformed::NotUtf8));
    }
}
