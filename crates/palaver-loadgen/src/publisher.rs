//! A publisher sending to one room on a fixed schedule (open loop: it does not wait for the
//! previous ack, so the offered rate does not bend to the server's latency). Each message's
//! content is a [`Stamp`], from which subscribers measure end-to-end latency. With a [`Mix`],
//! some frames are replies in threads it started and reactions on its own recent messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use palaver_protocol::ws::{ClientFrame, ServerEvent};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::client::{Stamp, WsConnector, client_frame, close_code, parse_server, short};
use crate::mix::{Kind, Mix, Recent, Toggle};
use crate::stats::{LatencyBatch, SharedLatency, Tally};

/// How long acks may trail the last send before the rest count as unacked.
const ACK_GRACE: Duration = Duration::from_secs(15);
/// The error tallied when a frame could not be written (it may have reached the server).
pub const SEND_FAILED: &str = "send failed";

pub struct PublisherSpec {
    pub index: u32,
    pub token: String,
    /// The publisher's user, whose reactions its acks must show.
    pub user_id: Uuid,
    pub room_id: Uuid,
    /// Frames per second from this publisher.
    pub rate: f64,
    pub duration: Duration,
    pub max_messages: u64,
    pub mix: Mix,
}

#[derive(Debug, Default)]
pub struct PublisherOutcome {
    /// Frames sent, of every kind.
    pub sent: u64,
    pub sent_replies: u64,
    pub sent_reactions: u64,
    /// Seqs of the acked messages (top-level and replies).
    pub acked: Vec<i64>,
    pub acked_replies: u64,
    /// Acked reaction frames: each changed something, so each took one seq (not in `acked`:
    /// the ack is the message, not the event).
    pub acked_reactions: u64,
    pub unacked: u64,
    /// `error` replies by code, and failures to connect or send.
    pub errors: Tally,
    /// Acks that do not show what the frame did: a reply outside its thread, a reaction not
    /// as toggled.
    pub wrong_acks: Tally,
    /// The server's close code, if it closed this publisher.
    pub closed: Option<u16>,
    /// From the first send to the last ack (or giving up on acks).
    pub elapsed: Duration,
}

impl PublisherOutcome {
    pub fn sent_top_level(&self) -> u64 {
        self.sent - self.sent_replies - self.sent_reactions
    }

    pub fn acked_top_level(&self) -> u64 {
        self.acked.len() as u64 - self.acked_replies
    }
}

/// A frame waiting for its answer.
enum Pending {
    Post { root: Option<Uuid> },
    React(Toggle),
}

/// Where a publisher records how long its frames took to be acked, by kind.
#[derive(Clone, Default)]
pub struct AckLatencies {
    /// Top-level messages and replies.
    pub posts: Arc<SharedLatency>,
    pub reactions: Arc<SharedLatency>,
}

pub async fn run(
    spec: PublisherSpec,
    connector: Arc<WsConnector>,
    ack_latency: AckLatencies,
    stop: CancellationToken,
) -> PublisherOutcome {
    let mut out = PublisherOutcome::default();
    let mut socket = match connector.connect(&spec.token).await {
        Ok(socket) => socket,
        Err(e) => {
            out.errors.add(format!("connect: {}", short(&format!("{e:#}"))), 1);
            return out;
        }
    };
    let mut latency = LatencyBatch::new(&ack_latency.posts);
    let mut react_latency = LatencyBatch::new(&ack_latency.reactions);
    let interval = Duration::from_secs_f64(1.0 / spec.rate.max(0.001));
    let start = Instant::now();
    let send_until = start + spec.duration;
    let give_up_at = send_until + ACK_GRACE;
    let mut next_due = start;
    // id → when it was sent and what it was; ids are the frame counters.
    let mut pending: HashMap<u64, (Instant, Pending)> = HashMap::new();
    let mut recent = Recent::default();
    loop {
        let sending = out.sent < spec.max_messages && next_due < send_until && !stop.is_cancelled();
        if !sending && pending.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let Some(envelope) = parse_server(text.as_str()) else { continue };
                    let Some((sent_at, what)) =
                        envelope.id.as_ref().and_then(|id| id.as_u64()).and_then(|id| pending.remove(&id))
                    else {
                        continue;
                    };
                    match (envelope.event, what) {
                        (ServerEvent::Ack { message }, Pending::Post { root }) => {
                            latency.record(sent_at.elapsed());
                            out.acked.push(message.seq);
                            if root.is_some() {
                                out.acked_replies += 1;
                            }
                            if message.thread_root_id != root {
                                out.wrong_acks.add("reply not in its thread (or a post in one)", 1);
                            }
                            recent.push(message.id, root.is_none());
                        }
                        (ServerEvent::Ack { message }, Pending::React(toggle)) => {
                            react_latency.record(sent_at.elapsed());
                            out.acked_reactions += 1;
                            if !toggle.shown_in(&message, spec.user_id) {
                                out.wrong_acks.add("reaction not as toggled", 1);
                            }
                            recent.finish_toggle(toggle, true);
                        }
                        (ServerEvent::Error { code, .. }, what) => {
                            out.errors.add(code, 1);
                            if let Pending::React(toggle) = what {
                                recent.finish_toggle(toggle, false);
                            }
                        }
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    out.closed = Some(close_code(&frame));
                    break;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    out.errors.add("connection lost", 1);
                    break;
                }
            },
            () = tokio::time::sleep_until(next_due), if sending => {
                let n = out.sent;
                let (frame, what) = next_frame(&spec, &mut recent, n);
                if socket.send(client_frame(Some(n), frame)).await.is_err() {
                    out.errors.add(SEND_FAILED, 1);
                    break;
                }
                match &what {
                    Pending::Post { root: Some(_) } => out.sent_replies += 1,
                    Pending::React(_) => out.sent_reactions += 1,
                    Pending::Post { root: None } => {}
                }
                pending.insert(n, (Instant::now(), what));
                out.sent += 1;
                next_due += interval;
            }
            () = tokio::time::sleep_until(give_up_at), if !sending => break,
        }
    }
    out.elapsed = start.elapsed();
    out.unacked = pending.len() as u64;
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
    out
}

/// The `n`-th frame: what the mix rolls, or a top-level message while there is nothing yet
/// to reply or react to.
fn next_frame(spec: &PublisherSpec, recent: &mut Recent, n: u64) -> (ClientFrame, Pending) {
    let pick = rand::random::<u32>() as usize;
    let root = match spec.mix.kind(rand::random_range(0..100)) {
        Kind::TopLevel => None,
        Kind::Reply => recent.root(pick),
        Kind::Reaction => match recent.start_toggle(pick) {
            Some(toggle) => {
                let frame = ClientFrame::React {
                    room_id: spec.room_id,
                    message_id: toggle.message_id,
                    emoji: toggle.emoji().to_owned(),
                    added: toggle.added,
                };
                return (frame, Pending::React(toggle));
            }
            None => None,
        },
    };
    let frame = ClientFrame::Send {
        room_id: spec.room_id,
        content: Some(Stamp::now(spec.index, n).content()),
        upload_id: None,
        client_msg_id: None,
        thread_root_id: root,
    };
    (frame, Pending::Post { root })
}
