//! The writer: drains the outbox to the socket, one flush per batch. It also runs
//! subscriptions, so replayed and live events of a room leave through one ordered queue
//! and are de-duplicated by seq (the state of each is `subscriptions`').
//!
//! A resumed subscription catches up from the store a chunk at a time, and the writer keeps
//! draining the outbox meanwhile (while a chunk is read, and after it is written): a long
//! replay into a busy room must not let live events fill the outbox (the client would be
//! cut with 1013 and resume into the same replay).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use palaver_protocol::ws::{ServerEvent, close};

use super::SessionServices;
use super::session::Activity;
use super::subscriptions::{REPLAY_CHUNK, Subscriptions, Verdict};
use crate::config::WsConfig;
use crate::domain::{RoomId, Seq};
use crate::realtime::{
    Consumer, Hub, KillSwitch, Outbox, Outgoing, SessionId, SubscribeRequest, Subscriber, Topic, encode,
};
use crate::service::Caller;

/// Most queued frames written before one flush.
const BATCH: usize = 64;

type Sink = SplitSink<WebSocket, Message>;

pub struct Writer {
    sink: Sink,
    services: Arc<SessionServices>,
    caller: Caller,
    outbox: Outbox,
    kill: KillSwitch,
    replay_limit: i64,
    ping_interval: Duration,
    /// How long a slow consumer gets to read its close frame.
    slow_close: Duration,
    rooms: Rooms,
}

/// The session's rooms in the hub, with where each one's stream stands. However the writer
/// ends (a panic included), dropping this takes the session out of those rooms in the hub
/// and trips the kill switch, so the reader does not go on with nobody writing.
struct Rooms {
    hub: Arc<Hub>,
    session: SessionId,
    kill: KillSwitch,
    streams: Subscriptions,
}

impl Rooms {
    fn new(hub: Arc<Hub>, session: SessionId, kill: KillSwitch) -> Self {
        Self { hub, session, kill, streams: Subscriptions::default() }
    }

    /// Subscribes in the hub (replacing an earlier subscription to the room).
    fn start(&mut self, room_id: RoomId, subscriber: Subscriber) {
        self.streams.start(room_id);
        self.hub.subscribe(room_id, subscriber);
    }

    fn end(&mut self, room_id: RoomId) {
        self.hub.unsubscribe(room_id, self.session);
        self.streams.end(room_id);
    }

    fn end_all(&mut self) {
        for room_id in self.streams.rooms() {
            self.hub.unsubscribe(room_id, self.session);
        }
        self.streams.clear();
    }
}

impl Drop for Rooms {
    fn drop(&mut self) {
        self.end_all();
        self.kill.trip(1000);
    }
}

impl Writer {
    pub fn new(
        sink: Sink,
        services: Arc<SessionServices>,
        caller: Caller,
        session: SessionId,
        outbox: Outbox,
        kill: KillSwitch,
        config: &WsConfig,
    ) -> Self {
        let rooms = Rooms::new(services.hub.clone(), session, kill.clone());
        Self {
            sink,
            services,
            caller,
            outbox,
            kill,
            replay_limit: config.replay_limit.max(1),
            ping_interval: Duration::from_secs(config.ping_interval_secs.max(1)),
            slow_close: Duration::from_secs(config.slow_close_secs.max(1)),
            rooms,
        }
    }

    /// Runs until the socket fails or the session is killed, then says goodbye with the
    /// kill switch's close code.
    /// Polled on every wake, so each branch is cheap to poll: the kill switch is an atomic
    /// (the server's shutdown trips it too).
    /// (By reference: a writer moved into its own future would be held there twice.)
    pub async fn run(&mut self, mut rx: Consumer<Outgoing>, activity: Arc<Activity>) {
        let mut ping = tokio::time::interval(self.ping_interval);
        ping.tick().await;
        let kill = self.kill.clone();
        let killed = kill.writer_tripped();
        tokio::pin!(killed);
        loop {
            let catching_up = self.rooms.streams.catching_up();
            tokio::select! {
                biased;
                () = &mut killed => break,
                _ = ping.tick() => {
                    if activity.idle_for() > self.ping_interval * 2 {
                        tracing::debug!(user = %self.caller.id, "dropping a silent WebSocket");
                        kill.trip(close::GOING_AWAY);
                        break;
                    }
                    if self.sink.send(Message::Ping(Default::default())).await.is_err() {
                        kill.trip(1000);
                        break;
                    }
                }
                // Ahead of the outbox, which `catch_up` drains anyway: a steady stream of
                // live events must not hold a replay back.
                () = std::future::ready(()), if catching_up.is_some() => {
                    let Some(room_id) = catching_up else { continue };
                    let written = tokio::select! {
                        biased;
                        () = &mut killed => break,
                        written = Box::pin(self.catch_up(room_id, &mut rx)) => written,
                    };
                    if written.is_err() {
                        kill.trip(1000);
                        break;
                    }
                }
                item = rx.recv() => {
                    // A client that stops reading blocks the flush; the kill switch must
                    // still end the session.
                    let written = tokio::select! {
                        biased;
                        () = &mut killed => break,
                        // Boxed: the idle socket's task should not be sized for a batch
                        // (an idle task is allocated at its largest state).
                        written = Box::pin(self.write_batch(item, &mut rx)) => written,
                    };
                    if written.is_err() {
                        kill.trip(1000);
                        break;
                    }
                }
            }
        }
        let code = kill.code();
        let reason: Utf8Bytes = match code {
            close::GOING_AWAY => "server going away".into(),
            close::PROTOCOL_ERROR => "protocol error".into(),
            close::INVALID_PAYLOAD => "text frames must be UTF-8".into(),
            close::POLICY => "policy violation".into(),
            close::TOO_BIG => "frame too large".into(),
            close::TRY_AGAIN_LATER => "resume with since_seq".into(),
            _ => "".into(),
        };
        let farewell = Message::Close(Some(CloseFrame { code, reason }));
        // A slow consumer's socket is full: give it a while to drain and read why it is
        // being closed. It leaves its rooms first, so this holds no growing memory.
        let patience = if code == close::TRY_AGAIN_LATER { self.slow_close } else { Duration::from_secs(1) };
        if code == close::TRY_AGAIN_LATER {
            self.rooms.end_all();
        }
        let _ = tokio::time::timeout(patience, self.sink.send(farewell)).await;
    }

    async fn write_batch(&mut self, first: Outgoing, rx: &mut Consumer<Outgoing>) -> Result<(), axum::Error> {
        self.handle(first).await?;
        for _ in 1..BATCH {
            match rx.try_recv() {
                Some(item) => self.handle(item).await?,
                None => break,
            }
        }
        self.sink.flush().await
    }

    /// One chunk of a room's missed events from the store, handling what queues meanwhile,
    /// then whatever queued while it was written (at most a full outbox: what comes later
    /// waits for the next turn).
    async fn catch_up(&mut self, room_id: RoomId, rx: &mut Consumer<Outgoing>) -> Result<(), axum::Error> {
        let Some(ticket) = self.rooms.streams.start_read(room_id) else {
            return Ok(());
        };
        let sent = ticket.after;
        // The read may wait for the database (a busy pool, many replays at once): the
        // outbox must not fill meanwhile.
        let services = self.services.clone();
        let read = services.messages.room_events_after(room_id, sent, REPLAY_CHUNK);
        tokio::pin!(read);
        let read = loop {
            tokio::select! {
                biased;
                read = &mut read => break read,
                item = rx.recv() => {
                    self.handle(item).await?;
                    if rx.is_empty() {
                        self.sink.flush().await?;
                    }
                }
            }
        };
        let events = match read {
            Ok(events) => events,
            Err(e) => {
                // The subscription cannot go on without a gap: the client resumes later.
                tracing::warn!(error = %e, %room_id, "could not read missed events; closing the socket with 1013");
                self.kill.trip(close::TRY_AGAIN_LATER);
                return Ok(());
            }
        };
        // Unsubscribed or subscribed anew while the store was read: this read is stale.
        if !self.rooms.streams.read_returned(room_id, ticket, events.iter().map(|e| e.seq().map(Seq::new))) {
            return Ok(());
        }
        for event in &events {
            self.feed(None, event).await?;
        }
        for _ in 0..rx.capacity() {
            match rx.try_recv() {
                Some(item) => self.handle(item).await?,
                None => break,
            }
        }
        self.sink.flush().await
    }

    async fn handle(&mut self, item: Outgoing) -> Result<(), axum::Error> {
        match item {
            Outgoing::Event(envelope) => match (envelope.topic, envelope.seq) {
                (Topic::Room(room_id), Some(seq)) => self.room_event(room_id, seq, envelope.frame.clone()).await,
                _ => self.sink.feed(Message::Text(envelope.frame.clone())).await,
            },
            Outgoing::Reply(frame) => self.sink.feed(Message::Text(*frame)).await,
            // Boxed, as the replay is: the idle socket's task should not be sized for them.
            Outgoing::Subscribe(request) => Box::pin(self.subscribe(*request)).await,
            Outgoing::Unsubscribe(request) => {
                let SubscribeRequest { id, room_id, .. } = *request;
                self.rooms.end(room_id);
                self.feed(id, &ServerEvent::Unsubscribed { room_id: room_id.uuid() }).await
            }
        }
    }

    async fn feed(&mut self, id: Option<serde_json::Value>, event: &ServerEvent) -> Result<(), axum::Error> {
        self.sink.feed(Message::Text(encode(id, event))).await
    }

    /// Live room events: skip what was sent already; if one is missing (another instance
    /// published out of order, or the broker lost it), fetch it from the store first.
    async fn room_event(&mut self, room_id: RoomId, seq: Seq, frame: Utf8Bytes) -> Result<(), axum::Error> {
        let sent = match self.rooms.streams.live_event(room_id, seq) {
            Verdict::Skip => return Ok(()),
            Verdict::Send => return self.sink.feed(Message::Text(frame)).await,
            Verdict::FillThenSend { after } => after,
        };
        match Box::pin(self.services.messages.events_between(room_id, sent, seq)).await {
            Ok(missed) => {
                metrics::counter!("palaver_ws_gap_fills_total").increment(1);
                for event in &missed {
                    self.feed(None, event).await?;
                }
            }
            Err(e) => tracing::warn!(error = %e, %room_id, "could not fill a gap in a live stream"),
        }
        self.sink.feed(Message::Text(frame)).await
    }

    /// Registers the subscription in the hub and fixes where its stream starts; the replay
    /// itself is `catch_up`'s. Dropping `placed` on the way out (done or failed) lets the
    /// reader go on.
    async fn subscribe(&mut self, request: SubscribeRequest) -> Result<(), axum::Error> {
        let SubscribeRequest { id, room_id, since_seq, placed } = request;
        if let Err(e) = self.services.rooms.check_member(&self.caller, room_id).await {
            return self.feed(id, &super::reader::error_event(&e)).await;
        }
        // Live first, then the store: an event committed meanwhile is in one or both, and
        // the seq checks drop the second copy.
        let subscriber = Subscriber { session: self.rooms.session, user: self.caller.id, outbox: self.outbox.clone() };
        self.rooms.start(room_id, subscriber);
        // Between instances, "live" means the room's channel is subscribed.
        self.services.publisher.listening(Topic::Room(room_id)).await;
        let point = match self.services.messages.resume_point(room_id, since_seq, self.replay_limit).await {
            Ok(point) => point,
            Err(e) => {
                self.rooms.end(room_id);
                return self.feed(id, &super::reader::error_event(&e)).await;
            }
        };
        self.services.hub.saw(room_id, point.last_seq);
        self.rooms.streams.placed(room_id, point.replay_after, point.last_seq);
        drop(placed);
        let subscribed = ServerEvent::Subscribed {
            room_id: room_id.uuid(),
            last_seq: point.last_seq.get(),
            truncated: point.truncated,
        };
        self.feed(id, &subscribed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::Outbox;

    #[tokio::test]
    async fn a_panicking_writer_leaves_its_rooms_and_ends_the_session() {
        let hub = Arc::new(Hub::default());
        let (outbox, _rx, kill) = Outbox::new(8);
        let session = hub.new_session_id();
        let room_id = RoomId::generate();
        let mut rooms = Rooms::new(hub.clone(), session, kill.clone());
        rooms.start(room_id, Subscriber { session, user: crate::domain::UserId::generate(), outbox });
        assert_eq!(hub.subscribers_of(room_id), 1);

        let task = tokio::spawn(async move {
            let _rooms = rooms;
            panic!("a bug in the writer");
        });
        assert!(task.await.expect_err("the task panicked").is_panic());
        assert_eq!(hub.subscribers_of(room_id), 0, "the room no longer feeds a dead session");
        assert!(kill.is_tripped(), "the reader is told to stop");
    }
}
