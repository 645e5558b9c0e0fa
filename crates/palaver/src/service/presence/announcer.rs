//! Announcing presence, coalesced. Changes wait in a map (a user's latest change replaces
//! their earlier one) while one task, woken by the first change, lets `WINDOW` pass and then
//! delivers everything collected as one batch: one query for who shares a room with the
//! batch's users, each change encoded once, and one multicast per group of users who hear
//! the same changes (in one room: one multicast, however many users). A user who flaps
//! within the window is announced once, with their latest state.
//!
//! Bounded: the map holds at most `MAX_PENDING` users; past that, announcing waits for the
//! batch under way to be delivered. A big batch is delivered `SLICE` changes at a time.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use palaver_protocol::ws::ServerEvent;
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::Inner;
use crate::domain::{RoomId, UserId};
use crate::realtime::{Control, Envelope, Multicast, Topic};

/// How long changes are collected after the first one: a burst of connections is one
/// batch, and a first socket waits this long (plus the delivery) for its own presence.
const WINDOW: Duration = Duration::from_millis(25);
/// Most users waiting to be announced.
const MAX_PENDING: usize = 16_384;
/// Changes delivered at once: a session gets up to this many frames in one push, which its
/// outbox (1,024 frames by default) must hold beside what it has not written yet. Between
/// slices, the store's queries give the writers time to drain. Also the users per store
/// query (a bind parameter each).
const SLICE: usize = 256;

/// A user's new state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Change {
    pub online: bool,
    /// For offline: when. For online: `None`, read from the store when announced.
    pub last_seen: Option<OffsetDateTime>,
}

/// The changes waiting, shared by the presence handle and the task.
pub(super) struct Announcer {
    pending: Mutex<Pending>,
    wake: Notify,
    /// The last batch delivered.
    delivered: watch::Sender<u64>,
}

struct Pending {
    /// The number of the batch being collected.
    batch: u64,
    changes: HashMap<UserId, Change>,
}

impl Announcer {
    pub(super) fn new() -> Self {
        let pending = Pending { batch: 1, changes: HashMap::new() };
        Self { pending: Mutex::new(pending), wake: Notify::new(), delivered: watch::Sender::new(0) }
    }

    /// Queues the change; returns the batch that will announce it (see `announced`). Waits
    /// only while too many users are waiting already.
    pub(super) async fn queue(&self, user: UserId, change: Change) -> u64 {
        loop {
            let full = {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                if pending.changes.len() < MAX_PENDING || pending.changes.contains_key(&user) {
                    pending.changes.insert(user, change);
                    self.wake.notify_one();
                    return pending.batch;
                }
                pending.batch
            };
            self.announced(full).await;
        }
    }

    /// Resolves once `batch` is delivered (or the task is gone).
    pub(super) async fn announced(&self, batch: u64) {
        let _ = self.delivered.subscribe().wait_for(|delivered| *delivered >= batch).await;
    }

    /// Starts the task; it ends with `stop`, cancelled when the presence handle (`owner`)
    /// is gone.
    pub(super) fn start(self: &Arc<Self>, owner: Weak<Inner>, stop: CancellationToken) {
        let announcer = self.clone();
        tokio::spawn(async move {
            loop {
                // A change queued before this wait left a permit: it is not missed.
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = announcer.wake.notified() => {}
                }
                tokio::time::sleep(WINDOW).await;
                let Some(inner) = owner.upgrade() else { return };
                let (batch, changes) = {
                    let mut pending = announcer.pending.lock().unwrap_or_else(|e| e.into_inner());
                    let batch = pending.batch;
                    pending.batch += 1;
                    (batch, std::mem::take(&mut pending.changes))
                };
                deliver(&inner, changes).await;
                announcer.delivered.send_replace(batch);
            }
        });
    }
}

/// Announces a batch, a slice at a time.
async fn deliver(inner: &Inner, changes: HashMap<UserId, Change>) {
    let changes: Vec<(UserId, Change)> = changes.into_iter().collect();
    for slice in changes.chunks(SLICE) {
        deliver_slice(inner, slice).await;
    }
}

/// Each change to its user's sessions and to everyone sharing a room with them.
async fn deliver_slice(inner: &Inner, changes: &[(UserId, Change)]) {
    let store = &inner.store;
    let users: Vec<UserId> = changes.iter().map(|(user, _)| *user).collect();
    let arrived: Vec<UserId> = changes.iter().filter(|(_, c)| c.online).map(|(user, _)| *user).collect();
    let mut last_seen = HashMap::new();
    if !arrived.is_empty() {
        match store.last_seen_of(&arrived).await {
            Ok(found) => last_seen.extend(found),
            Err(e) => tracing::warn!(error = %e, "presence announced without last_seen: cannot read it"),
        }
    }
    let memberships = store.members_of_rooms_of(&users).await.unwrap_or_else(|e| {
        // Then its users hear of themselves only.
        tracing::warn!(error = %e, "presence not announced to room peers: cannot list them");
        Vec::new()
    });
    let frames: Vec<Arc<Envelope>> = changes
        .iter()
        .map(|(user, change)| {
            let last_seen = if change.online { last_seen.get(user).copied().flatten() } else { change.last_seen };
            let event = ServerEvent::Presence { user_id: (*user).into(), online: change.online, last_seen };
            Arc::new(Envelope::new(Topic::User(*user), &event, Control::None))
        })
        .collect();
    for (users, heard) in audiences(&users, memberships) {
        let frames = heard.into_iter().map(|i| frames[i].clone()).collect();
        inner.publisher.multicast(Multicast { users, frames });
    }
}

/// Who hears which of the changes of `changed` (indices into it): everyone in a room with
/// a changed user hears that change, and each changed user hears their own. Users in the
/// same rooms hear the same changes, so they are one audience: a batch in one room is one.
fn audiences(changed: &[UserId], mut memberships: Vec<(RoomId, UserId)>) -> Vec<(Vec<UserId>, Vec<usize>)> {
    // Sorted, so that each user's rooms below are too.
    memberships.sort_unstable();
    memberships.dedup();
    let index: HashMap<UserId, usize> = changed.iter().enumerate().map(|(i, user)| (*user, i)).collect();
    let mut changes_in: HashMap<RoomId, Vec<usize>> = HashMap::new();
    for (room, member) in &memberships {
        if let Some(i) = index.get(member) {
            changes_in.entry(*room).or_default().push(*i);
        }
    }
    // Each user's rooms (with a change), sorted as `memberships` is.
    let mut rooms_of: HashMap<UserId, Vec<RoomId>> = HashMap::new();
    for (room, member) in memberships {
        if changes_in.contains_key(&room) {
            rooms_of.entry(member).or_default().push(room);
        }
    }
    // In no room: only they hear of it.
    let roomless = changed.iter().enumerate().filter(|(_, user)| !rooms_of.contains_key(user));
    let mut audiences: Vec<(Vec<UserId>, Vec<usize>)> = roomless.map(|(i, user)| (vec![*user], vec![i])).collect();
    let mut by_rooms: HashMap<Vec<RoomId>, Vec<UserId>> = HashMap::new();
    for (user, rooms) in rooms_of {
        by_rooms.entry(rooms).or_default().push(user);
    }
    audiences.extend(by_rooms.into_iter().map(|(rooms, users)| {
        let heard: BTreeSet<usize> = rooms.iter().flat_map(|room| changes_in[room].iter().copied()).collect();
        (users, heard.into_iter().collect())
    }));
    audiences
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Who hears what, as sets, whatever the grouping.
    fn heard(changed: &[UserId], audiences: &[(Vec<UserId>, Vec<usize>)]) -> Vec<(UserId, Vec<UserId>)> {
        let mut heard: Vec<(UserId, Vec<UserId>)> = audiences
            .iter()
            .flat_map(|(users, changes)| {
                users.iter().map(|user| {
                    let mut about: Vec<UserId> = changes.iter().map(|i| changed[*i]).collect();
                    about.sort();
                    (*user, about)
                })
            })
            .collect();
        heard.sort();
        heard
    }

    #[test]
    fn everyone_in_a_room_hears_its_changes_in_one_audience() {
        let room = RoomId::generate();
        let users: Vec<UserId> = (0..5).map(|_| UserId::generate()).collect();
        let changed = vec![users[0], users[3]];
        let memberships: Vec<(RoomId, UserId)> = users.iter().map(|u| (room, *u)).collect();
        let audiences = audiences(&changed, memberships);
        assert_eq!(audiences.len(), 1, "{audiences:?}");
        let mut expected_about = changed.clone();
        expected_about.sort();
        let mut expected: Vec<(UserId, Vec<UserId>)> = users.iter().map(|u| (*u, expected_about.clone())).collect();
        expected.sort();
        assert_eq!(heard(&changed, &audiences), expected);
    }

    #[test]
    fn each_hears_the_changes_of_their_rooms_once_and_the_roomless_hear_themselves() {
        let (r1, r2) = (RoomId::generate(), RoomId::generate());
        let [a, b, c, d, e] = [(); 5].map(|_| UserId::generate());
        // a and b share r1; b and c share r2; d is in no room; e is in r1 and r2.
        let memberships = vec![(r1, a), (r1, b), (r1, e), (r2, b), (r2, c), (r2, e)];
        let changed = vec![a, c, d, e];
        let audiences = audiences(&changed, memberships);
        let sorted = |mut v: Vec<UserId>| {
            v.sort();
            v
        };
        let mut expected = vec![
            (a, sorted(vec![a, e])),
            (b, sorted(vec![a, c, e])),
            (c, sorted(vec![c, e])),
            (d, vec![d]),
            (e, sorted(vec![a, c, e])),
        ];
        expected.sort();
        assert_eq!(heard(&changed, &audiences), expected);
    }
}
