//! This instance's sockets, counted per user. Online from the first socket; offline only
//! after the last one has been closed for a grace period, so a reconnect does not flap.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::UserId;

#[derive(Debug, PartialEq, Eq)]
pub enum Transition {
    /// Nothing others need to hear about.
    None,
    /// The user just came online.
    Online,
    /// The last socket closed: if `settle(user, generation)` still says so after the grace
    /// period, the user is offline.
    MaybeOffline { generation: u64 },
}

#[derive(Default)]
pub struct PresenceRegistry {
    users: Mutex<HashMap<UserId, Entry>>,
}

#[derive(Default)]
struct Entry {
    sockets: usize,
    generation: u64,
}

impl PresenceRegistry {
    pub fn connect(&self, user: UserId) -> Transition {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = !users.contains_key(&user);
        let entry = users.entry(user).or_default();
        entry.sockets += 1;
        entry.generation += 1;
        if fresh { Transition::Online } else { Transition::None }
    }

    pub fn disconnect(&self, user: UserId) -> Transition {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = users.get_mut(&user) else { return Transition::None };
        entry.sockets = entry.sockets.saturating_sub(1);
        if entry.sockets > 0 {
            return Transition::None;
        }
        entry.generation += 1;
        Transition::MaybeOffline { generation: entry.generation }
    }

    /// After the grace period: `true` if the user is now offline (no socket came back).
    pub fn settle(&self, user: UserId, generation: u64) -> bool {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        match users.get(&user) {
            Some(entry) if entry.sockets == 0 && entry.generation == generation => {
                users.remove(&user);
                true
            }
            _ => false,
        }
    }

    /// Everyone with a socket here, or within the grace period after their last one.
    pub fn online_users(&self) -> Vec<UserId> {
        self.users.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.users.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_within_grace_does_not_flap() {
        let p = PresenceRegistry::default();
        let u = UserId::generate();
        assert_eq!(p.connect(u), Transition::Online);
        assert_eq!(p.connect(u), Transition::None);
        assert_eq!(p.disconnect(u), Transition::None);
        let Transition::MaybeOffline { generation } = p.disconnect(u) else { panic!("expected MaybeOffline") };
        assert_eq!(p.connect(u), Transition::None);
        assert!(!p.settle(u, generation));
        assert!(p.is_online(u));
        let Transition::MaybeOffline { generation } = p.disconnect(u) else { panic!("expected MaybeOffline") };
        assert!(p.settle(u, generation));
        assert!(!p.is_online(u));
    }
}
