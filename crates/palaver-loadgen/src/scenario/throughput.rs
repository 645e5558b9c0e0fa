//! Throughput: C senders over R rooms, each sending its next message over WebSocket as soon
//! as the previous ack arrives (closed loop). Acked messages per second, ack latency, and a
//! check that each room's acked seqs are exactly 1..=n (no gap, no reuse).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use palaver_protocol::ws::{ClientFrame, ServerEvent};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::{ACTIVE_READ_BUFFER, Fixture, explain_closes, progress, with_target};
use crate::checker::SeqSet;
use crate::cli::TargetArgs;
use crate::client::{Stamp, WsConnector, client_frame, close_code, parse_server, short};
use crate::server::CpuMeter;
use crate::stats::{LatencyBatch, Report, SharedLatency, Tally, per_sec};

/// Longest wait for one ack before the sender gives up.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Args {
    #[command(flatten)]
    #[serde(skip)]
    pub target: TargetArgs,
    /// Concurrent senders (each its own WebSocket), spread over the rooms
    #[arg(long, default_value_t = 8)]
    pub senders: usize,
    /// Rooms
    #[arg(long, default_value_t = 2)]
    pub rooms: usize,
    /// How long the senders send
    #[arg(long, default_value_t = 5)]
    pub duration_secs: u64,
    /// Most messages sent in all (the run also stops at the duration)
    #[arg(long, default_value_t = 10_000_000)]
    pub max_messages: i64,
}

#[derive(Debug, Default)]
pub struct SenderOutcome {
    pub acked: Vec<i64>,
    pub errors: Tally,
    pub closed: Option<u16>,
}

/// One sender: the next message as soon as the previous ack arrived, until `deadline`, until
/// `budget` (shared by all senders) is spent, or until the connection ends.
pub async fn closed_loop(
    connector: Arc<WsConnector>,
    index: u32,
    token: String,
    room_id: Uuid,
    budget: Arc<AtomicI64>,
    deadline: Instant,
    latency: Arc<SharedLatency>,
) -> SenderOutcome {
    let mut out = SenderOutcome::default();
    let mut socket = match connector.connect(&token).await {
        Ok(socket) => socket,
        Err(e) => {
            out.errors.add(format!("connect: {}", short(&format!("{e:#}"))), 1);
            return out;
        }
    };
    let mut batch = LatencyBatch::new(&latency);
    let mut n: u64 = 0;
    'send: while Instant::now() < deadline && budget.fetch_sub(1, Ordering::Relaxed) > 0 {
        n += 1;
        let content = Stamp::now(index, n).content();
        let frame = ClientFrame::Send {
            room_id,
            content: Some(content),
            upload_id: None,
            client_msg_id: None,
            thread_root_id: None,
        };
        let sent_at = Instant::now();
        if socket.send(client_frame(Some(n), frame)).await.is_err() {
            out.errors.add("send failed", 1);
            break;
        }
        let reply_by = sent_at + ACK_TIMEOUT;
        loop {
            let frame = match tokio::time::timeout_at(reply_by, socket.next()).await {
                Ok(frame) => frame,
                Err(_) => {
                    out.errors.add("ack timeout", 1);
                    break 'send;
                }
            };
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let Some(envelope) = parse_server(text.as_str()) else { continue };
                    if envelope.id.as_ref().and_then(|id| id.as_u64()) != Some(n) {
                        continue;
                    }
                    match envelope.event {
                        ServerEvent::Ack { message } => {
                            batch.record(sent_at.elapsed());
                            out.acked.push(message.seq);
                        }
                        ServerEvent::Error { code, .. } => out.errors.add(code, 1),
                        _ => continue,
                    }
                    break;
                }
                Some(Ok(Message::Close(frame))) => {
                    out.closed = Some(close_code(&frame));
                    break 'send;
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => {
                    out.errors.add("connection lost", 1);
                    break 'send;
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
    out
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.senders > 0 && args.rooms > 0, "--senders and --rooms must be > 0");
    let target_args = args.target.clone();
    with_target(&target_args, |target| async move {
        let fixture = Fixture::new(&target, &args.target, args.rooms, "throughput", ACTIVE_READ_BUFFER).await?;
        let title = format!(
            "{} senders over {} room(s), closed loop for {} s; {}",
            args.senders,
            args.rooms,
            args.duration_secs,
            target.describe()
        );
        progress(format_args!("sending for {} s", args.duration_secs));
        let latency = Arc::new(SharedLatency::default());
        let budget = Arc::new(AtomicI64::new(args.max_messages));
        let start = Instant::now();
        let cpu = CpuMeter::start(fixture.server_pid);
        let deadline = start + Duration::from_secs(args.duration_secs);
        let mut senders = JoinSet::new();
        for i in 0..args.senders {
            let room = i % args.rooms;
            let task = closed_loop(
                fixture.connector.clone(),
                i as u32,
                fixture.account(i).token.clone(),
                fixture.rooms[room],
                budget.clone(),
                deadline,
                latency.clone(),
            );
            senders.spawn(async move { (room, task.await) });
        }
        let mut outcomes = Vec::with_capacity(args.senders);
        while let Some(joined) = senders.join_next().await {
            outcomes.push(joined?);
        }
        let elapsed = start.elapsed();
        let cpu = cpu.finish();

        let mut report = Report::new("throughput", title);
        report.add("config", &args);
        report.add("backend", target.backend());
        let mut per_room = vec![SeqSet::default(); args.rooms];
        let (mut acked, mut errors, mut closes) = (0u64, Tally::default(), Tally::default());
        for (room, outcome) in &outcomes {
            acked += outcome.acked.len() as u64;
            errors.merge(&outcome.errors);
            if let Some(code) = outcome.closed {
                closes.add(code.to_string(), 1);
            }
            for &seq in &outcome.acked {
                per_room[*room].insert(seq);
            }
        }
        // Fresh rooms and only these senders: each room's acked seqs must be 1..=n.
        let distinct: u64 = per_room.iter().map(SeqSet::len).sum();
        let gaps: u64 = per_room.iter().map(|set| set.max() as u64 - set.len()).sum();
        report.add("acked", acked);
        report.add("acked_per_sec", per_sec(acked, elapsed));
        report.latency("latency_ack", &latency.snapshot());
        report.add("cpu", cpu);
        report.add("errors", errors.to_json());
        report.add("server_closes", closes.to_json());
        report.expect_zero("seq_duplicates", acked - distinct);
        report.expect_zero("seq_gaps", gaps);
        report.expect(acked > 0, "no message was acked");
        report.expect(closes.total() == 0, "the server closed senders");
        explain_closes(&mut report, &closes);
        if errors.get("rate_limited") > 0 {
            report.note(format!(
                "{} sends were refused with rate_limited: the server's per-user write budget; \
                 start it with higher PALAVER_LIMITS_WRITES_PER_SEC / PALAVER_LIMITS_WRITE_BURST",
                errors.get("rate_limited")
            ));
        }
        Ok(report)
    })
    .await
}
