//! Keeps one room's events leaving this instance in seq order: the lock is held from
//! taking the seq until the event is published. The database already serializes writers
//! of a room, so this costs no throughput; striping bounds the memory.

use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

const STRIPES: usize = 256;

pub struct RoomOrder {
    stripes: Vec<Mutex<()>>,
}

impl Default for RoomOrder {
    fn default() -> Self {
        Self { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect() }
    }
}

impl RoomOrder {
    pub async fn lock(&self, room_id: Uuid) -> MutexGuard<'_, ()> {
        let stripe = (room_id.as_u64_pair().1 as usize) % STRIPES;
        self.stripes[stripe].lock().await
    }
}
