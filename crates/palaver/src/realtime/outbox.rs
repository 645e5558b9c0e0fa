//! A session's bounded outbox and its kill switch. Producers never wait on a session:
//! a full outbox means the client is not reading, and the session is closed with 1013.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::Poll;

use axum::extract::ws::Utf8Bytes;
use futures_util::task::AtomicWaker;
use palaver_protocol::ws::close;
use tokio::sync::oneshot;

use super::Envelope;
use super::queue::{self, Consumer, Producer, Refused};
use crate::domain::{RoomId, Seq};

/// What a session's writer task is asked to do, in order. Kept to two words (pointers
/// only): a queue's buffer holds these, up to a full outbox of them.
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
    pub since_seq: Option<Seq>,
    /// Completed (or dropped, if the subscription failed) once the subscription is in the
    /// hub and its replay position is fixed: the reader waits for it before acting on the
    /// client's next frame, so frames take effect in the order sent.
    pub placed: Option<oneshot::Sender<()>>,
}

/// Ends a session from anywhere, with the close code to send.
#[derive(Debug, Clone, Default)]
pub struct KillSwitch(Arc<Switch>);

/// Each of the session's two tasks keeps a waker here. Both check the switch on every
/// wake (the writer once per delivered batch): an atomic load, where a cancellation
/// token's check takes a lock (and its waiting future and its node cost every idle socket
/// about 200 bytes more).
#[derive(Debug, Default)]
struct Switch {
    /// 0 until tripped.
    code: AtomicU16,
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl KillSwitch {
    /// The first reason wins.
    pub fn trip(&self, code: u16) {
        let code = if code == 0 { 1000 } else { code };
        let _ = self.0.code.compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.0.reader.wake();
        self.0.writer.wake();
    }

    pub fn code(&self) -> u16 {
        match self.0.code.load(Ordering::Acquire) {
            0 => 1000,
            code => code,
        }
    }

    pub fn is_tripped(&self) -> bool {
        self.0.code.load(Ordering::Acquire) != 0
    }

    /// Resolves once tripped; for the session's reader task alone (it keeps one waker).
    pub fn reader_tripped(&self) -> impl Future<Output = ()> + '_ {
        self.tripped(&self.0.reader)
    }

    /// Resolves once tripped; for the session's writer task alone (it keeps one waker).
    pub fn writer_tripped(&self) -> impl Future<Output = ()> + '_ {
        self.tripped(&self.0.writer)
    }

    fn tripped<'a>(&'a self, waker: &'a AtomicWaker) -> impl Future<Output = ()> + 'a {
        std::future::poll_fn(move |cx| {
            waker.register(cx.waker());
            if self.is_tripped() { Poll::Ready(()) } else { Poll::Pending }
        })
    }
}

#[derive(Debug, Clone)]
pub struct Outbox {
    tx: Producer<Outgoing>,
    kill: KillSwitch,
}

impl Outbox {
    pub fn new(capacity: usize) -> (Self, Consumer<Outgoing>, KillSwitch) {
        let (tx, rx) = queue::bounded(capacity);
        let kill = KillSwitch::default();
        (Self { tx, kill: kill.clone() }, rx, kill)
    }

    /// Queues without waiting. If the queue is full the client is too slow: it is cut off
    /// (it resumes by seq after reconnecting) rather than buffered without bound.
    pub fn push(&self, item: Outgoing) {
        if let Err(Refused::Full) = self.tx.push(item) {
            if !self.kill.is_tripped() {
                metrics::counter!("palaver_ws_slow_consumers_total").increment(1);
            }
            self.kill.trip(close::TRY_AGAIN_LATER);
        }
    }

    /// Ends the session from outside (an operator disabled the account).
    pub fn kill(&self) -> &KillSwitch {
        &self.kill
    }
}
