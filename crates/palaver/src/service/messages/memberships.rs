//! What each live sender checked of its rooms. A WebSocket sender checks its user's
//! membership once per room and remembers the answer, so a busy sender is not re-checked
//! on every message; the hub tells [`Registry::forget`] when the user leaves a room (the
//! `member_left` event reaches every instance), and every sender of theirs here forgets it.
//!
//! A check is awaited, and a `forget` may land while it is in flight: the answer it brings
//! is then stale. So a check starts with [`Cache::check_started`], and [`Cache::remember`]
//! drops its answer if anything was forgotten since. (One counter for all of a sender's
//! rooms: a removal elsewhere costs at most one extra check.)

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::domain::{RoomId, UserId};
use crate::service::Access;

/// The senders on this instance, by user.
#[derive(Default)]
pub(super) struct Registry {
    users: Mutex<HashMap<UserId, Vec<Arc<Checked>>>>,
}

/// One sender's checked rooms, shared between the sender and the registry.
#[derive(Default)]
struct Checked(Mutex<CheckedState>);

#[derive(Default)]
struct CheckedState {
    rooms: HashSet<RoomId>,
    /// How many times anything was forgotten.
    forgotten: u64,
}

impl Checked {
    fn state(&self) -> MutexGuard<'_, CheckedState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Registry {
    fn users(&self) -> MutexGuard<'_, HashMap<UserId, Vec<Arc<Checked>>>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A cache for a new sender of `user`; it leaves the registry when dropped.
    pub(super) fn cache(self: &Arc<Self>, user: UserId) -> Cache {
        let checked = Arc::new(Checked::default());
        self.users().entry(user).or_default().push(checked.clone());
        Cache { registry: self.clone(), user, checked, access: HashMap::new() }
    }

    /// `user` left `room`: none of their senders may send there on an old check.
    pub(super) fn forget(&self, user: UserId, room: RoomId) {
        let users = self.users();
        for checked in users.get(&user).into_iter().flatten() {
            let mut state = checked.state();
            state.rooms.remove(&room);
            state.forgotten += 1;
        }
    }

    #[cfg(test)]
    fn senders_of(&self, user: UserId) -> usize {
        self.users().get(&user).map_or(0, Vec::len)
    }
}

/// When a membership check started, as a [`Cache`] counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CheckStarted(u64);

/// A sender's rooms as checked: the access it was given, valid while the registry has not
/// forgotten the room.
pub(super) struct Cache {
    registry: Arc<Registry>,
    user: UserId,
    checked: Arc<Checked>,
    /// Only the sender reads and writes this; the registry clears `checked`.
    access: HashMap<RoomId, Access>,
}

impl Cache {
    /// The access checked earlier, if it still holds.
    pub(super) fn get(&self, room: RoomId) -> Option<Access> {
        let access = self.access.get(&room)?;
        self.checked.state().rooms.contains(&room).then(|| access.clone())
    }

    /// Call before the membership check whose answer will be remembered.
    pub(super) fn check_started(&self) -> CheckStarted {
        CheckStarted(self.checked.state().forgotten)
    }

    /// Remembers a room checked since `started`, unless a room was forgotten meanwhile;
    /// `false` if it was not remembered.
    pub(super) fn remember(&mut self, access: Access, started: CheckStarted) -> bool {
        let room = access.room.id;
        {
            let mut state = self.checked.state();
            if state.forgotten != started.0 {
                return false;
            }
            state.rooms.insert(room);
        }
        self.access.insert(room, access);
        true
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let mut users = self.registry.users();
        if let Some(senders) = users.get_mut(&self.user) {
            senders.retain(|checked| !Arc::ptr_eq(checked, &self.checked));
            if senders.is_empty() {
                users.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Role, RoomKind, Visibility};
    use crate::store::RoomRow;

    fn access(room: RoomId) -> Access {
        let room = RoomRow {
            id: room,
            kind: RoomKind::Room,
            visibility: Visibility::Public,
            last_seq: crate::domain::Seq::ZERO,
            role: Some(Role::Member),
        };
        Access { role: room.role, room }
    }

    #[test]
    fn a_forget_during_a_check_drops_its_answer() {
        let registry = Arc::new(Registry::default());
        let (user, room) = (UserId::generate(), RoomId::generate());
        let mut cache = registry.cache(user);

        let started = cache.check_started();
        assert!(cache.remember(access(room), started));
        assert!(cache.get(room).is_some());

        registry.forget(user, room);
        assert!(cache.get(room).is_none(), "forgotten when the user left");
        let started = cache.check_started();
        registry.forget(user, room);
        assert!(!cache.remember(access(room), started), "the check predates the removal");
        assert!(cache.get(room).is_none());

        let started = cache.check_started();
        assert!(cache.remember(access(room), started));
        assert!(cache.get(room).is_some());
    }

    #[test]
    fn a_forget_reaches_every_sender_of_the_user_and_no_other() {
        let registry = Arc::new(Registry::default());
        let (alice, bob, room) = (UserId::generate(), UserId::generate(), RoomId::generate());
        let mut phone = registry.cache(alice);
        let mut laptop = registry.cache(alice);
        let mut bobs = registry.cache(bob);
        for cache in [&mut phone, &mut laptop, &mut bobs] {
            let started = cache.check_started();
            assert!(cache.remember(access(room), started));
        }
        registry.forget(alice, room);
        assert!(phone.get(room).is_none() && laptop.get(room).is_none());
        assert!(bobs.get(room).is_some(), "bob is still a member");

        assert_eq!(registry.senders_of(alice), 2);
        drop(phone);
        drop(laptop);
        assert_eq!(registry.senders_of(alice), 0, "a closed socket's cache leaves the registry");
    }
}
