//! A publisher sending to one room on a fixed schedule (open loop: it does not wait for the
//! previous ack, so the offered rate does not bend to the server's latency). Each message's
//! content is a [`Stamp`], from which subscribers measure end-to-end latency.

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
use crate::stats::{LatencyBatch, SharedLatency, Tally};

/// How long acks may trail the last send before the rest count as unacked.
const ACK_GRACE: Duration = Duration::from_secs(15);

pub struct PublisherSpec {
    pub index: u32,
    pub token: String,
    pub room_id: Uuid,
    /// Messages per second from this publisher.
    pub rate: f64,
    pub duration: Duration,
    pub max_messages: u64,
}

#[derive(Debug, Default)]
pub struct PublisherOutcome {
    pub sent: u64,
    /// Seqs of the acked messages.
    pub acked: Vec<i64>,
    pub unacked: u64,
    /// `error` replies by code, and failures to connect or send.
    pub errors: Tally,
    /// The server's close code, if it closed this publisher.
    pub closed: Option<u16>,
    /// From the first send to the last ack (or giving up on acks).
    pub elapsed: Duration,
}

pub async fn run(
    spec: PublisherSpec,
    connector: Arc<WsConnector>,
    ack_latency: Arc<SharedLatency>,
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
    let mut latency = LatencyBatch::new(&ack_latency);
    let interval = Duration::from_secs_f64(1.0 / spec.rate.max(0.001));
    let start = Instant::now();
    let send_until = start + spec.duration;
    let give_up_at = send_until + ACK_GRACE;
    let mut next_due = start;
    // id → when it was sent; ids are the message counters.
    let mut pending: HashMap<u64, Instant> = HashMap::new();
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
                    let Some(sent_at) = envelope.id.as_ref().and_then(|id| id.as_u64()).and_then(|id| pending.remove(&id))
                    else {
                        continue;
                    };
                    match envelope.event {
                        ServerEvent::Ack { message } => {
                            latency.record(sent_at.elapsed());
                            out.acked.push(message.seq);
                        }
                        ServerEvent::Error { code, .. } => out.errors.add(code, 1),
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
                let content = Stamp::now(spec.index, n).content();
                let frame = ClientFrame::Send {
                    room_id: spec.room_id,
                    content: Some(content),
                    upload_id: None,
                    client_msg_id: None,
                    thread_root_id: None,
                };
                if socket.send(client_frame(Some(n), frame)).await.is_err() {
                    out.errors.add("send failed", 1);
                    break;
                }
                pending.insert(n, Instant::now());
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
