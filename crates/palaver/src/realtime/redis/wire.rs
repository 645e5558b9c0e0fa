//! How an event travels through Redis: a channel per topic, and a payload of a fixed
//! header (who published it, its seq, what the hub must do) followed by the frame's JSON.
//! The frame is the bytes every local subscriber gets: serialized once on the publishing
//! instance, never parsed again on the others.
//!
//! A [`Multicast`] goes on [`USERS_CHANNEL`], which every instance listens to: the same
//! header (control tag 3, no seq), then the users (a count and their ids) and the frames
//! (each: the user it is about, its length, its JSON). Each instance delivers to the users
//! it has sessions of.

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use uuid::Uuid;

use crate::domain::{RoomId, Seq, UserId};
use std::sync::Arc;

use crate::realtime::{Control, Envelope, Multicast, Topic};

/// Every channel of ours starts with this, so a Redis shared with other programs is safe.
const PREFIX: &str = "palaver:";
/// Published when an instance may have failed to publish something: every instance then
/// compares its rooms with the store (see `Broker::gaps`).
pub const RESYNC_CHANNEL: &str = "palaver:resync";

/// A conversation id: the instance running its reply cancels it.
pub const CANCEL_CHANNEL: &str = "palaver:cancel";

/// Frames for users' sessions on every instance (`Multicast`).
pub const USERS_CHANNEL: &str = "palaver:users";

const VERSION: u8 = 1;
/// The control tag of a multicast: none of `Control`'s.
const MULTICAST: u8 = 3;
/// `Control::Revoked`, whose token tag rides in the user field's last 8 bytes.
const REVOKED: u8 = 4;
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
        Control::Revoked(tag) => (REVOKED, Uuid::from_u128(u128::from(tag))),
    };
    let frame = envelope.frame.as_str().as_bytes();
    let mut out = Vec::with_capacity(HEADER + frame.len());
    header(&mut out, origin, tag, user, envelope.seq);
    out.extend_from_slice(frame);
    out
}

fn header(out: &mut Vec<u8>, origin: Uuid, tag: u8, user: Uuid, seq: Option<Seq>) {
    out.push(VERSION);
    out.extend_from_slice(origin.as_bytes());
    out.push(tag);
    out.extend_from_slice(user.as_bytes());
    out.extend_from_slice(&seq.map_or(NO_SEQ, Seq::get).to_be_bytes());
}

pub fn encode_multicast(origin: Uuid, multicast: &Multicast) -> Vec<u8> {
    let frames: usize = multicast.frames.iter().map(|f| 16 + 4 + f.frame.len()).sum();
    let mut out = Vec::with_capacity(HEADER + 4 + 16 * multicast.users.len() + 4 + frames);
    header(&mut out, origin, MULTICAST, Uuid::nil(), None);
    // Counts and lengths fit: a batch holds far fewer than 2^32 of anything.
    out.extend_from_slice(&(multicast.users.len() as u32).to_be_bytes());
    for user in &multicast.users {
        out.extend_from_slice(user.uuid().as_bytes());
    }
    out.extend_from_slice(&(multicast.frames.len() as u32).to_be_bytes());
    for envelope in &multicast.frames {
        let about = match envelope.topic {
            Topic::User(user) => user.uuid(),
            Topic::Room(_) => Uuid::nil(),
        };
        out.extend_from_slice(about.as_bytes());
        out.extend_from_slice(&(envelope.frame.len() as u32).to_be_bytes());
        out.extend_from_slice(envelope.frame.as_str().as_bytes());
    }
    out
}

/// The publishing instance and the multicast.
pub fn decode_multicast(payload: Bytes) -> Result<(Uuid, Multicast), Malformed> {
    let origin = checked_header(&payload)?;
    if payload[17] != MULTICAST {
        return Err(Malformed::Control(payload[17]));
    }
    let mut at = HEADER;
    let mut take = |n: usize| -> Result<Bytes, Malformed> {
        let end = at.checked_add(n).filter(|end| *end <= payload.len()).ok_or(Malformed::Short)?;
        let part = payload.slice(at..end);
        at = end;
        Ok(part)
    };
    let count = |b: Bytes| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let id = |b: Bytes| Uuid::from_slice(&b).unwrap_or_default();
    let users = count(take(4)?);
    // Each id is read before anything is allocated for it: a bogus count fails as `Short`.
    let mut ids = Vec::with_capacity(users.min(payload.len() / 16));
    for _ in 0..users {
        ids.push(UserId::from_uuid(id(take(16)?)));
    }
    let frames = count(take(4)?);
    let mut envelopes = Vec::with_capacity(frames.min(payload.len() / 20));
    for _ in 0..frames {
        let about = UserId::from_uuid(id(take(16)?));
        let len = count(take(4)?);
        let frame = Utf8Bytes::try_from(take(len)?).map_err(|_| Malformed::NotUtf8)?;
        envelopes.push(Arc::new(Envelope { topic: Topic::User(about), seq: None, control: Control::None, frame }));
    }
    Ok((origin, Multicast { users: ids, frames: envelopes }))
}

/// The publishing instance, once the header is known to be ours.
fn checked_header(payload: &[u8]) -> Result<Uuid, Malformed> {
    if payload.len() < HEADER {
        return Err(Malformed::Short);
    }
    if payload[0] != VERSION {
        return Err(Malformed::Version(payload[0]));
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&payload[1..17]);
    Ok(Uuid::from_bytes(id))
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
    let origin = checked_header(&payload)?;
    let uuid_at = |at: usize| {
        let mut id = [0u8; 16];
        id.copy_from_slice(&payload[at..at + 16]);
        Uuid::from_bytes(id)
    };
    let control = match payload[17] {
        0 => Control::None,
        1 => Control::Left(UserId::from_uuid(uuid_at(18))),
        2 => Control::RoomDeleted,
        // The low 64 bits are the tag, as encoded.
        REVOKED => Control::Revoked(uuid_at(18).as_u128() as u64),
        tag => return Err(Malformed::Control(tag)),
    };
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&payload[34..42]);
    let seq = match i64::from_be_bytes(seq) {
        NO_SEQ => None,
        seq => Some(Seq::new(seq)),
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
        for (seq, control) in [
            (Some(Seq::new(7)), Control::None),
            (None, Control::Left(left)),
            (None, Control::RoomDeleted),
            (None, Control::Revoked(u64::MAX - 5)),
        ] {
            let envelope = Envelope { topic: room, seq, control, frame: r#"{"type":"x","é":1}"#.into() };
            let channel = channel(room);
            assert_eq!(topic_of(&channel), Some(room));
            let (from, back) = decode(room, Bytes::from(encode(origin, &envelope))).expect("decodes");
            assert_eq!(from, origin);
            assert_eq!((back.seq, back.control, back.frame.as_str()), (seq, control, envelope.frame.as_str()));
        }
    }

    #[test]
    fn a_multicast_comes_back_as_it_left_and_a_truncated_one_is_refused() {
        let origin = Uuid::now_v7();
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let frame = |user: UserId, json: &str| {
            Arc::new(Envelope { topic: Topic::User(user), seq: None, control: Control::None, frame: json.into() })
        };
        let multicast = Multicast {
            users: vec![alice, bob, UserId::generate()],
            frames: vec![frame(alice, r#"{"type":"presence","é":1}"#), frame(bob, "{}")],
        };
        let payload = encode_multicast(origin, &multicast);
        let (from, back) = decode_multicast(Bytes::from(payload.clone())).expect("decodes");
        assert_eq!(from, origin);
        assert_eq!(back.users, multicast.users);
        let frames: Vec<_> = back.frames.iter().map(|f| (f.topic, f.seq, f.control, f.frame.as_str())).collect();
        let sent: Vec<_> = multicast.frames.iter().map(|f| (f.topic, f.seq, f.control, f.frame.as_str())).collect();
        assert_eq!(frames, sent);

        for cut in [HEADER + 2, HEADER + 4 + 8, payload.len() - 1] {
            assert_eq!(
                decode_multicast(Bytes::copy_from_slice(&payload[..cut])).err(),
                Some(Malformed::Short),
                "{cut}"
            );
        }
        let mut huge = payload.clone();
        huge[HEADER..HEADER + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(decode_multicast(Bytes::from(huge)).err(), Some(Malformed::Short));
        let room =
            Envelope { topic: Topic::Room(RoomId::generate()), seq: None, control: Control::None, frame: "{}".into() };
        assert_eq!(decode_multicast(Bytes::from(encode(origin, &room))).err(), Some(Malformed::Control(0)));
    }

    #[test]
    fn user_channels_and_foreign_channels() {
        let user = Topic::User(UserId::generate());
        assert_eq!(topic_of(&channel(user)), Some(user));
        assert_eq!(topic_of("palaver:room:not-a-uuid"), None);
        assert_eq!(topic_of("someone-else:room:0190d4e2-3c4b-7000-8000-000000000000"), None);
        assert_eq!(topic_of(RESYNC_CHANNEL), None);
        assert_eq!(topic_of(USERS_CHANNEL), None);
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
