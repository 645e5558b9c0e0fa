//! A session's bounded outbox and its kill switch. Producers never wait on a session:
//! a full outbox means the client is not reading, and the session is closed with 1013.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use palaver_protocol::ws::close;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Envelope;
use crate::domain::RoomId;

/// What a session's writer task is asked to do, in order. Kept to two words (pointers
/// only): every idle socket's queue allocates room for a block of these.
#[derive(Debug)]
pub enum Outgoing {
    /// A published event, shared with every other subscriber. Room events carry their seq:
    /// the writer skips seqs it already sent and fills gaps from the store.
    Event(Arc<Envelope>),
    /// A reply to one of this client's frames.
    Reply(Box<Utf8Bytes>),
    /// Start (or restart) a subscription; handled by the writer so replay and live events
    /// come out of one ordered queue.
    Subscribe(Box<SubscribeRequest>),
    Unsubscribe(Box<SubscribeRequest>),
}

#[derive(Debug)]
pub struct SubscribeRequest {
    pub id: Option<serde_json::Value>,
    pub room_id: RoomId,
    pub since_seq: Option<i64>,
}

/// Ends a session from anywhere, with the close code to send.
#[derive(Debug, Clone, Default)]
pub struct KillSwitch {
    token: CancellationToken,
    code: Arc<AtomicU16>,
}

impl KillSwitch {
    /// The first reason wins.
    pub fn trip(&self, code: u16) {
        let _ = self.code.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    pub fn code(&self) -> u16 {
        match self.code.load(Ordering::Acquire) {
            0 => 1000,
            code => code,
        }
    }

    pub fn is_tripped(&self) -> bool {
        self.token.is_cancelled()
    }

    pub async fn tripped(&self) {
        self.token.cancelled().await
    }
}

#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    kill: KillSwitch,
    memberships: Arc<Memberships>,
}

/// Rooms this session's user was checked to be a member of, so a busy sender is not
/// re-checked on every message. The hub forgets a room here when the user leaves it
/// (the `member_left` event reaches every instance).
#[derive(Debug, Default)]
pub struct Memberships(Mutex<HashSet<RoomId>>);

impl Memberships {
    pub fn contains(&self, room_id: RoomId) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).contains(&room_id)
    }

    pub fn remember(&self, room_id: RoomId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(room_id);
    }

    pub fn forget(&self, room_id: RoomId) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&room_id);
    }
}

impl Outbox {
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Outgoing>, KillSwitch) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let kill = KillSwitch::default();
        (Self { tx, kill: kill.clone(), memberships: Arc::default() }, rx, kill)
    }

    /// Queues without waiting. If the queue is full the client is too slow: it is cut off
    /// (it resumes by seq after reconnecting) rather than buffered without bound.
    pub fn push(&self, item: Outgoing) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(item) {
            if !self.kill.is_tripped() {
                metrics::counter!("palaver_ws_slow_consumers_total").increment(1);
            }
            self.kill.trip(close::TRY_AGAIN_LATER);
        }
    }

    pub fn kill(&self) -> &KillSwitch {
        &self.kill
    }

    pub fn memberships(&self) -> &Memberships {
        &self.memberships
    }
}
