//! The writer: drains the outbox to the socket, one flush per batch. It also runs
//! subscriptions, so replayed and live events of a room leave through one ordered queue
//! and are de-duplicated by seq.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use palaver_protocol::ws::{ServerEvent, close};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::session::Activity;
use crate::config::WsConfig;
use crate::domain::RoomId;
use crate::realtime::{KillSwitch, Outbox, Outgoing, SessionId, SubscribeRequest, Subscriber, Topic, encode};
use crate::service::{Caller, Services};

/// Most queued frames written before one flush.
const BATCH: usize = 64;
/// How long a slow consumer gets to read its close frame.
const SLOW_CLOSE_PATIENCE: Duration = Duration::from_secs(10);

type Sink = SplitSink<WebSocket, Message>;

pub struct Writer {
    sink: Sink,
    services: Services,
    caller: Caller,
    session: SessionId,
    outbox: Outbox,
    replay_limit: i64,
    ping_interval: Duration,
    /// Room → the last seq this client has been sent.
    rooms: HashMap<RoomId, i64>,
}

impl Writer {
    pub fn new(
        sink: Sink,
        services: Services,
        caller: Caller,
        session: SessionId,
        outbox: Outbox,
        config: &WsConfig,
    ) -> Self {
        Self {
            sink,
            services,
            caller,
            session,
            outbox,
            replay_limit: config.replay_limit.max(1),
            ping_interval: Duration::from_secs(config.ping_interval_secs.max(1)),
            rooms: HashMap::new(),
        }
    }

    /// Runs until the socket fails or the session is killed; returns the rooms it was
    /// subscribed to, for the hub to forget.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<Outgoing>,
        kill: KillSwitch,
        shutdown: CancellationToken,
        activity: Arc<Activity>,
    ) -> Vec<RoomId> {
        let mut ping = tokio::time::interval(self.ping_interval);
        ping.tick().await;
        // Created once: a cancellation future registers a waiter under the token's lock, and
        // the shutdown token is shared by every socket.
        let killed = kill.tripped();
        let stopping = shutdown.cancelled();
        tokio::pin!(killed, stopping);
        loop {
            tokio::select! {
                biased;
                () = &mut killed => break,
                () = &mut stopping => {
                    kill.trip(close::GOING_AWAY);
                    break;
                }
                item = rx.recv() => {
                    let Some(item) = item else { break };
                    // A client that stops reading blocks the flush; the kill switch must
                    // still end the session.
                    let written = tokio::select! {
                        biased;
                        () = &mut killed => break,
                        // Boxed: the idle socket's task should not be sized for a replay.
                        written = Box::pin(self.write_batch(item, &mut rx)) => written,
                    };
                    if written.is_err() {
                        kill.trip(1000);
                        break;
                    }
                }
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
            }
        }
        let code = kill.code();
        let reason: Utf8Bytes = match code {
            1001 => "server going away".into(),
            1008 => "policy violation".into(),
            1009 => "frame too large".into(),
            1013 => "too slow: resume with since_seq".into(),
            _ => "".into(),
        };
        let farewell = Message::Close(Some(CloseFrame { code, reason }));
        // A slow consumer's socket is full: give it a while to drain and read why it is
        // being closed. Its outbox is no longer fed, so this holds no growing memory.
        let patience = if code == close::TRY_AGAIN_LATER { SLOW_CLOSE_PATIENCE } else { Duration::from_secs(1) };
        if code == close::TRY_AGAIN_LATER {
            for room_id in self.rooms.keys() {
                self.services.hub().unsubscribe(*room_id, self.session);
            }
        }
        let _ = tokio::time::timeout(patience, self.sink.send(farewell)).await;
        self.rooms.into_keys().collect()
    }

    async fn write_batch(&mut self, first: Outgoing, rx: &mut mpsc::Receiver<Outgoing>) -> Result<(), axum::Error> {
        self.handle(first).await?;
        for _ in 1..BATCH {
            match rx.try_recv() {
                Ok(item) => self.handle(item).await?,
                Err(_) => break,
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
            Outgoing::Subscribe(request) => {
                let SubscribeRequest { id, room_id, since_seq } = *request;
                self.subscribe(id, room_id, since_seq).await
            }
            Outgoing::Unsubscribe(request) => {
                let SubscribeRequest { id, room_id, .. } = *request;
                self.services.hub().unsubscribe(room_id, self.session);
                self.rooms.remove(&room_id);
                self.feed(id, &ServerEvent::Unsubscribed { room_id: room_id.into() }).await
            }
        }
    }

    async fn feed(&mut self, id: Option<serde_json::Value>, event: &ServerEvent) -> Result<(), axum::Error> {
        self.sink.feed(Message::Text(encode(id, event))).await
    }

    /// Live room events: skip what was sent already; if one is missing (another instance
    /// published out of order, or the broker lost it), fetch it from the store first.
    async fn room_event(&mut self, room_id: RoomId, seq: i64, frame: Utf8Bytes) -> Result<(), axum::Error> {
        let Some(&last) = self.rooms.get(&room_id) else { return Ok(()) };
        if seq <= last {
            return Ok(());
        }
        if seq > last + 1 {
            match self.services.events_between(room_id, last, seq).await {
                Ok(missed) => {
                    metrics::counter!("palaver_ws_gap_fills_total").increment(1);
                    for event in &missed {
                        self.feed(None, event).await?;
                    }
                }
                Err(e) => tracing::warn!(error = %e, %room_id, "could not fill a gap in a live stream"),
            }
        }
        self.rooms.insert(room_id, seq);
        self.sink.feed(Message::Text(frame)).await
    }

    async fn subscribe(
        &mut self,
        id: Option<serde_json::Value>,
        room_id: RoomId,
        since_seq: Option<i64>,
    ) -> Result<(), axum::Error> {
        if let Err(e) = self.services.check_member(&self.caller, room_id).await {
            return self.feed(id, &super::reader::error_event(&e)).await;
        }
        // Live first, then the store: an event committed meanwhile is in one or both,
        // and the seq check in `room_event` drops the second copy.
        let subscriber = Subscriber { session: self.session, user: self.caller.id, outbox: self.outbox.clone() };
        self.services.hub().subscribe(room_id, subscriber);
        let replay = match self.services.replay(room_id, since_seq, self.replay_limit).await {
            Ok(replay) => replay,
            Err(e) => {
                self.services.hub().unsubscribe(room_id, self.session);
                return self.feed(id, &super::reader::error_event(&e)).await;
            }
        };
        let mut last = replay.last_seq;
        self.feed(
            id,
            &ServerEvent::Subscribed {
                room_id: room_id.into(),
                last_seq: replay.last_seq,
                truncated: replay.truncated,
            },
        )
        .await?;
        for event in &replay.events {
            last = last.max(event.seq().unwrap_or(0));
            self.feed(None, event).await?;
        }
        self.rooms.insert(room_id, last);
        Ok(())
    }
}
