//! This instance's subscribers: room → sessions subscribed to it, user → their sessions.
//! Delivery is a pointer copy and a non-blocking queue push per subscriber.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use super::{Control, Envelope, Interest, Multicast, Outbox, Outgoing, Topic};
use crate::domain::{RoomId, Seq, UserId};

pub type SessionId = u64;

#[derive(Debug, Clone)]
pub struct Subscriber {
    pub session: SessionId,
    pub user: UserId,
    pub outbox: Outbox,
}

#[derive(Default)]
pub struct Hub {
    rooms: RwLock<HashMap<RoomId, Room>>,
    users: RwLock<HashMap<UserId, Vec<Subscriber>>>,
    next_session: AtomicU64,
    /// Told when a topic gains its first or loses its last subscriber (a broker between
    /// instances subscribes to what is here).
    interest: Option<Arc<Interest>>,
    /// Told when a user leaves a room (a `Control::Left` from any instance), after their
    /// sessions' subscriptions to it are gone.
    left: OnceLock<LeftHook>,
    /// The API token each bot session was opened with (its tag), for closing exactly
    /// those when the token is revoked.
    tokens: RwLock<HashMap<SessionId, u64>>,
}

type LeftHook = Box<dyn Fn(UserId, RoomId) + Send + Sync>;

/// A room's local subscribers, and the highest seq this instance has seen of it: what a
/// catch-up after a broker outage compares with the room's seq in the store.
#[derive(Default)]
struct Room {
    subs: Vec<Subscriber>,
    seen: Seen,
}

/// The highest seq seen of a room, unknown until the first subscription's start (or an
/// event) is: a seq in an atomic, shared by every delivering thread.
struct Seen(AtomicI64);

impl Seen {
    /// What no seq is (seqs start at 0, an empty room's).
    const UNKNOWN: i64 = -1;

    fn raise(&self, seq: Seq) {
        self.0.fetch_max(seq.get(), Ordering::Relaxed);
    }

    fn get(&self) -> Option<Seq> {
        let seq = self.0.load(Ordering::Relaxed);
        (seq != Self::UNKNOWN).then_some(Seq::new(seq))
    }
}

impl Default for Seen {
    fn default() -> Self {
        Self(AtomicI64::new(Self::UNKNOWN))
    }
}

impl Hub {
    pub fn with_interest(interest: Arc<Interest>) -> Self {
        Self { interest: Some(interest), ..Self::default() }
    }

    /// Sets what is told when a user leaves a room (once; a second hook is ignored).
    pub fn on_left(&self, hook: impl Fn(UserId, RoomId) + Send + Sync + 'static) {
        let _ = self.left.set(Box::new(hook));
    }

    fn touch(&self, topic: Topic) {
        if let Some(interest) = &self.interest {
            interest.touch(topic);
        }
    }

    /// Every topic with a local subscriber.
    pub fn topics(&self) -> Vec<Topic> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        rooms.keys().map(|r| Topic::Room(*r)).chain(users.keys().map(|u| Topic::User(*u))).collect()
    }

    pub fn has(&self, topic: Topic) -> bool {
        match topic {
            Topic::Room(room_id) => self.rooms.read().unwrap_or_else(|e| e.into_inner()).contains_key(&room_id),
            Topic::User(user) => self.users.read().unwrap_or_else(|e| e.into_inner()).contains_key(&user),
        }
    }

    /// A subscription to `room_id` starts at `seq`: its sessions have (or will replay) up to it.
    pub fn saw(&self, room_id: RoomId, seq: Seq) {
        if let Some(room) = self.rooms.read().unwrap_or_else(|e| e.into_inner()).get(&room_id) {
            room.seen.raise(seq);
        }
    }

    /// Each subscribed room whose start is known, with the highest seq seen of it.
    pub fn room_seqs(&self) -> Vec<(RoomId, Seq)> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        rooms.iter().filter_map(|(id, room)| Some((*id, room.seen.get()?))).collect()
    }

    pub fn new_session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a session for its user's events (notifications, presence).
    pub fn attach(&self, subscriber: Subscriber) {
        let user = subscriber.user;
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let sessions = users.entry(user).or_default();
        sessions.push(subscriber);
        if sessions.len() == 1 {
            self.touch(Topic::User(user));
        }
    }

    /// Notes the API token an attached session was opened with.
    pub fn tag_session(&self, session: SessionId, token: u64) {
        self.tokens.write().unwrap_or_else(|e| e.into_inner()).insert(session, token);
    }

    /// Closes the sessions of `user` opened with the API token tagged `token`; returns how
    /// many were still open.
    pub fn close_token(&self, user: UserId, token: u64, code: u16) -> usize {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        let open = users
            .get(&user)
            .into_iter()
            .flatten()
            .filter(|s| tokens.get(&s.session) == Some(&token) && !s.outbox.kill().is_tripped());
        open.map(|s| s.outbox.kill().trip(code)).count()
    }

    /// Subscribes a session to a room (replacing an earlier subscription of the same session).
    pub fn subscribe(&self, room_id: RoomId, subscriber: Subscriber) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        let room = rooms.entry(room_id).or_default();
        room.subs.retain(|s| s.session != subscriber.session);
        room.subs.push(subscriber);
        if room.subs.len() == 1 {
            self.touch(Topic::Room(room_id));
        }
    }

    pub fn unsubscribe(&self, room_id: RoomId, session: SessionId) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        if let Some(room) = rooms.get_mut(&room_id) {
            room.subs.retain(|s| s.session != session);
            if room.subs.is_empty() {
                rooms.remove(&room_id);
                self.touch(Topic::Room(room_id));
            }
        }
    }

    /// Forgets a closed session as one of its user's (its room subscriptions are ended by
    /// whoever made them, with `unsubscribe`).
    pub fn detach(&self, user: UserId, session: SessionId) {
        self.tokens.write().unwrap_or_else(|e| e.into_inner()).remove(&session);
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        if let Some(sessions) = users.get_mut(&user) {
            sessions.retain(|s| s.session != session);
            if sessions.is_empty() {
                users.remove(&user);
                self.touch(Topic::User(user));
            }
        }
    }

    /// Closes every session of `user` on this instance with `code` (an account disabled);
    /// returns how many were still open.
    pub fn close_user(&self, user: UserId, code: u16) -> usize {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        let open = users.get(&user).into_iter().flatten().filter(|s| !s.outbox.kill().is_tripped());
        open.map(|s| s.outbox.kill().trip(code)).count()
    }

    /// Closes every attached session with `code` (the server is going away).
    pub fn close_everyone(&self, code: u16) {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        for session in users.values().flatten() {
            session.outbox.kill().trip(code);
        }
    }

    /// How many sessions of `user` are attached.
    #[cfg(test)]
    pub fn sessions_of(&self, user: UserId) -> usize {
        self.users.read().unwrap_or_else(|e| e.into_inner()).get(&user).map_or(0, Vec::len)
    }

    /// How many sessions are subscribed to `room_id`.
    #[cfg(test)]
    pub fn subscribers_of(&self, room_id: RoomId) -> usize {
        self.rooms.read().unwrap_or_else(|e| e.into_inner()).get(&room_id).map_or(0, |r| r.subs.len())
    }

    /// Each frame to every session here of each of the users (those with none are skipped).
    pub fn dispatch_multicast(&self, multicast: &Multicast) {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        for sessions in multicast.users.iter().filter_map(|user| users.get(user)) {
            for session in sessions {
                for frame in &multicast.frames {
                    session.outbox.push(Outgoing::Event(frame.clone()));
                }
            }
        }
    }

    pub fn dispatch(&self, envelope: &Arc<Envelope>) {
        match envelope.topic {
            Topic::Room(room_id) => {
                {
                    let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
                    if let Some(room) = rooms.get(&room_id) {
                        if let Some(seq) = envelope.seq {
                            room.seen.raise(seq);
                        }
                        for sub in &room.subs {
                            sub.outbox.push(Outgoing::Event(envelope.clone()));
                        }
                    }
                }
                match envelope.control {
                    Control::None => {}
                    Control::Left(user) => {
                        {
                            let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
                            if let Some(room) = rooms.get_mut(&room_id) {
                                room.subs.retain(|s| s.user != user);
                                if room.subs.is_empty() {
                                    rooms.remove(&room_id);
                                    self.touch(Topic::Room(room_id));
                                }
                            }
                        }
                        if let Some(left) = self.left.get() {
                            left(user, room_id);
                        }
                    }
                    Control::Revoked(_) => {}
                    Control::RoomDeleted => {
                        if self.rooms.write().unwrap_or_else(|e| e.into_inner()).remove(&room_id).is_some() {
                            self.touch(Topic::Room(room_id));
                        }
                    }
                }
            }
            Topic::User(user) => {
                if let Control::Revoked(token) = envelope.control {
                    let closed = self.close_token(user, token, palaver_protocol::ws::close::POLICY);
                    if closed > 0 {
                        tracing::info!(%user, sockets = closed, "closed the sockets of a revoked API token");
                    }
                    return;
                }
                let users = self.users.read().unwrap_or_else(|e| e.into_inner());
                if let Some(sessions) = users.get(&user) {
                    for s in sessions {
                        s.outbox.push(Outgoing::Event(envelope.clone()));
                    }
                }
            }
        }
    }
}
