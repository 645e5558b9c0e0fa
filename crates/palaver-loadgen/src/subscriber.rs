//! A subscriber that stays subscribed to one room across disconnects, as a real client does:
//! after any close (the server's 1013 for a slow reader, or its own random disconnect in the
//! resume scenario) it reconnects and subscribes with `since_seq` = the highest seq it has.
//! Every room event goes into its ledger, so the checker can prove exactly-once, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use palaver_protocol::ws::{ClientFrame, ServerEvent};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::checker::{EventKinds, SeqLedger};
use crate::client::{EventProbe, Stamp, WsConnector, WsStream, client_frame, close_code, parse_server, short};
use crate::stats::{LatencyBatch, SharedLatency, Tally};

/// Consecutive failed connects before a subscriber gives up (its losses then show).
const MAX_CONNECT_FAILURES: u32 = 20;
const SUBSCRIBE_ID: u64 = 1;

pub struct SubscriberSpec {
    pub index: usize,
    pub token: String,
    pub room_id: Uuid,
    /// Mean time between voluntary disconnects; `None` stays connected.
    pub churn: Option<Duration>,
}

/// What all subscribers share with the scenario: how many are subscribed, how far each got.
pub struct Board {
    pub ready: AtomicUsize,
    progress: Vec<AtomicI64>,
}

impl Board {
    pub fn new(subscribers: usize) -> Arc<Board> {
        Arc::new(Board { ready: AtomicUsize::new(0), progress: (0..subscribers).map(|_| AtomicI64::new(0)).collect() })
    }

    pub fn progress(&self, index: usize) -> i64 {
        self.progress[index].load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct SubscriberOutcome {
    pub ledger: SeqLedger,
    /// What the seqs in the ledger were, each counted the first time it arrived.
    pub kinds: EventKinds,
    pub connects: u64,
    pub voluntary_disconnects: u64,
    /// Close codes the server sent.
    pub server_closes: Tally,
    /// Connections that ended without a close frame from the server.
    pub dropped: u64,
    pub connect_failures: Tally,
    /// `subscribed` replies that said the replay was cut short.
    pub truncated: u64,
    /// `error` frames, by code.
    pub errors: Tally,
    pub gave_up: bool,
}

enum End {
    Stop,
    Churn,
    Closed(u16),
    Dropped,
    /// The subscribe itself was refused: retrying would not help.
    Refused,
}

pub async fn run(
    spec: SubscriberSpec,
    connector: Arc<WsConnector>,
    board: Arc<Board>,
    latency: Option<Arc<SharedLatency>>,
    stop: CancellationToken,
) -> SubscriberOutcome {
    let mut out = SubscriberOutcome::default();
    let mut batch = latency.as_deref().map(LatencyBatch::new);
    let mut failures_in_row = 0;
    let mut announced_ready = false;
    while !stop.is_cancelled() {
        let socket = tokio::select! {
            () = stop.cancelled() => break,
            socket = connector.connect(&spec.token) => socket,
        };
        let mut socket = match socket {
            Ok(socket) => socket,
            Err(e) => {
                out.connect_failures.add(short(&format!("{e:#}")), 1);
                failures_in_row += 1;
                if failures_in_row >= MAX_CONNECT_FAILURES {
                    out.gave_up = true;
                    break;
                }
                let backoff = Duration::from_millis(50 * 2u64.pow(failures_in_row.min(5)));
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(backoff) => continue,
                }
            }
        };
        failures_in_row = 0;
        out.connects += 1;
        let since_seq = Some(out.ledger.max_seen());
        let subscribe = client_frame(Some(SUBSCRIBE_ID), ClientFrame::Subscribe { room_id: spec.room_id, since_seq });
        if socket.send(subscribe).await.is_err() {
            out.dropped += 1;
            continue;
        }
        let churn_at = spec.churn.map(|mean| Instant::now() + exponential(mean));
        let mut session = Session { spec: &spec, out: &mut out, board: &board, batch: batch.as_mut(), announced_ready };
        let end = session.run(&mut socket, churn_at, &stop).await;
        announced_ready = session.announced_ready;
        match end {
            End::Stop => break,
            End::Churn => {
                out.voluntary_disconnects += 1;
                // Half send a close frame, half just drop the TCP connection (a killed tab):
                // the server must handle both the same way.
                if rand::random::<bool>() {
                    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
                }
            }
            End::Closed(code) => out.server_closes.add(code.to_string(), 1),
            End::Dropped => out.dropped += 1,
            End::Refused => {
                out.gave_up = true;
                break;
            }
        }
    }
    if let Some(batch) = batch.as_mut() {
        batch.flush();
    }
    out
}

struct Session<'a, 'l> {
    spec: &'a SubscriberSpec,
    out: &'a mut SubscriberOutcome,
    board: &'a Board,
    batch: Option<&'a mut LatencyBatch<'l>>,
    announced_ready: bool,
}

impl Session<'_, '_> {
    async fn run(&mut self, socket: &mut WsStream, churn_at: Option<Instant>, stop: &CancellationToken) -> End {
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
                    return End::Stop;
                }
                () = sleep_until(churn_at) => return End::Churn,
                frame = socket.next() => match frame {
                    None | Some(Err(_)) => return End::Dropped,
                    Some(Ok(Message::Text(text))) => {
                        if let Some(end) = self.frame(text.as_str()) {
                            return end;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => return End::Closed(close_code(&frame)),
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    fn frame(&mut self, text: &str) -> Option<End> {
        // The probe is the hot path; it cannot read an `error` frame (its `message` is a
        // string), which the whole parse below does.
        let probe = EventProbe::parse(text);
        if let Some(probe) = &probe
            && let Some(seq) = probe.room_seq()
        {
            if self.out.ledger.record(seq) {
                self.out.kinds.count(probe.kind, probe.is_reply());
            }
            self.board.progress[self.spec.index].store(self.out.ledger.max_seen(), Ordering::Relaxed);
            if let (Some(batch), "message", Some(message)) = (self.batch.as_mut(), probe.kind, &probe.message)
                && let Some(age) = Stamp::age_of(&message.content)
            {
                batch.record(age);
            }
            return None;
        }
        if probe.is_some_and(|probe| !matches!(probe.kind, "subscribed" | "error")) {
            return None;
        }
        let Some(envelope) = parse_server(text) else {
            self.out.errors.add("unparsable frame", 1);
            return None;
        };
        match envelope.event {
            ServerEvent::Subscribed { truncated, .. } => {
                if truncated {
                    self.out.truncated += 1;
                }
                if !self.announced_ready {
                    self.announced_ready = true;
                    self.board.ready.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
            ServerEvent::Error { code, .. } => {
                self.out.errors.add(code, 1);
                // An error in reply to the subscribe (not a member, no such room): retrying
                // would not help.
                (envelope.id == Some(SUBSCRIBE_ID.into())).then_some(End::Refused)
            }
            _ => None,
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Exponentially distributed with the given mean: disconnects at random, memoryless times.
fn exponential(mean: Duration) -> Duration {
    let u: f64 = rand::random::<f64>().max(1e-9);
    mean.mul_f64(-u.ln()).min(mean * 20)
}
