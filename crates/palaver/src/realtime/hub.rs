//! This instance's subscribers: room → sessions subscribed to it, user → their sessions.
//! Delivery is a pointer copy and a non-blocking queue push per subscriber.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::{Control, Envelope, Outbox, Outgoing, Topic};
use crate::domain::{RoomId, UserId};

pub type SessionId = u64;

#[derive(Debug, Clone)]
pub struct Subscriber {
    pub session: SessionId,
    pub user: UserId,
    pub outbox: Outbox,
}

#[derive(Default)]
pub struct Hub {
    rooms: RwLock<HashMap<RoomId, Vec<Subscriber>>>,
    users: RwLock<HashMap<UserId, Vec<Subscriber>>>,
    next_session: AtomicU64,
}

impl Hub {
    pub fn new_session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a session for its user's events (notifications, presence).
    pub fn attach(&self, subscriber: Subscriber) {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        users.entry(subscriber.user).or_default().push(subscriber);
    }

    /// Subscribes a session to a room (replacing an earlier subscription of the same session).
    pub fn subscribe(&self, room_id: RoomId, subscriber: Subscriber) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        let subs = rooms.entry(room_id).or_default();
        subs.retain(|s| s.session != subscriber.session);
        subs.push(subscriber);
    }

    pub fn unsubscribe(&self, room_id: RoomId, session: SessionId) {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        if let Some(subs) = rooms.get_mut(&room_id) {
            subs.retain(|s| s.session != session);
            if subs.is_empty() {
                rooms.remove(&room_id);
            }
        }
    }

    /// Forgets a closed session as one of its user's (its room subscriptions are ended by
    /// whoever made them, with `unsubscribe`).
    pub fn detach(&self, user: UserId, session: SessionId) {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        if let Some(sessions) = users.get_mut(&user) {
            sessions.retain(|s| s.session != session);
            if sessions.is_empty() {
                users.remove(&user);
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

    /// How many sessions of `user` are attached.
    #[cfg(test)]
    pub fn sessions_of(&self, user: UserId) -> usize {
        self.users.read().unwrap_or_else(|e| e.into_inner()).get(&user).map_or(0, Vec::len)
    }

    /// How many sessions are subscribed to `room_id`.
    #[cfg(test)]
    pub fn subscribers_of(&self, room_id: RoomId) -> usize {
        self.rooms.read().unwrap_or_else(|e| e.into_inner()).get(&room_id).map_or(0, Vec::len)
    }

    pub fn dispatch(&self, envelope: &Arc<Envelope>) {
        match envelope.topic {
            Topic::Room(room_id) => {
                {
                    let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
                    if let Some(subs) = rooms.get(&room_id) {
                        for sub in subs {
                            sub.outbox.push(Outgoing::Event(envelope.clone()));
                        }
                    }
                }
                match envelope.control {
                    Control::None => {}
                    Control::Left(user) => {
                        {
                            let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
                            if let Some(subs) = rooms.get_mut(&room_id) {
                                subs.retain(|s| s.user != user);
                            }
                        }
                        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
                        for session in users.get(&user).into_iter().flatten() {
                            session.outbox.memberships().forget(room_id);
                        }
                    }
                    Control::RoomDeleted => {
                        self.rooms.write().unwrap_or_else(|e| e.into_inner()).remove(&room_id);
                    }
                }
            }
            Topic::User(user) => {
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
