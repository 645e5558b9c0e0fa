//! Connections: N authenticated idle WebSockets to one server, held for a while; the server's
//! resident memory before and after gives its memory per idle connection, a headline number.
//! With `--rooms`, every user is in those rooms, so each connection hears every user come
//! online: the frames received and when the last one came measure presence announcements.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{Fixture, explain_closes, progress, wait_until, with_target};
use crate::cli::TargetArgs;
use crate::client::{close_code, raise_open_file_limit, short};
use crate::server::{CpuMeter, own_rss_kib};
use crate::stats::{Latency, Report, Tally, round1};

/// Idle sockets read only the odd ping or presence frame.
const IDLE_READ_BUFFER: usize = 4 * 1024;

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Args {
    #[command(flatten)]
    #[serde(skip)]
    pub target: TargetArgs,
    /// Idle WebSocket connections to open (each needs a file descriptor here and one in the server)
    #[arg(long, default_value_t = 100)]
    pub connections: usize,
    /// How long to hold them once all are open
    #[arg(long, default_value_t = 5)]
    pub hold_secs: u64,
    /// Pause before the first RSS reading, so the server's start-up allocations settle
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
    /// Public rooms every user joins (0: users share no room, so no presence reaches others)
    #[arg(long, default_value_t = 0)]
    pub rooms: usize,
}

/// How one connection went.
#[derive(Default)]
struct Held {
    connect_time: Option<Duration>,
    error: Option<String>,
    /// The server's close code, if it closed the socket while held.
    closed: Option<u16>,
    dropped: bool,
    /// Text frames received (presence, with `--rooms`).
    frames: u64,
    /// When the last one came, after the ramp started.
    last_frame: Option<Duration>,
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    let target_args = args.target.clone();
    with_target(&target_args, |target| async move {
        let limit = raise_open_file_limit()?;
        let fixture = Fixture::new(&target, &args.target, args.rooms, "connections", IDLE_READ_BUFFER).await?;
        let mut report = Report::new(
            "connections",
            format!("{} idle WebSockets held {} s; {}", args.connections, args.hold_secs, target.describe()),
        );
        report.add("config", &args);
        report.add("backend", target.backend());
        report.add("open_file_limit", limit);
        if args.connections as u64 + 64 > limit {
            report.note(format!(
                "{} connections need as many file descriptors here and in the server; the limit is {limit}",
                args.connections
            ));
        }

        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
        let server_before = target.rss_kib();
        let own_before = own_rss_kib();

        progress(format_args!("opening {} connections", args.connections));
        let stop = CancellationToken::new();
        let attempted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let ramp = Instant::now();
        let cpu = CpuMeter::start(target.pid);
        let mut tasks = JoinSet::new();
        for i in 0..args.connections {
            let (connector, token) = (fixture.connector.clone(), fixture.account(i).token.clone());
            let (stop, attempted, open) = (stop.clone(), attempted.clone(), open.clone());
            tasks.spawn(async move {
                let mut held = Held::default();
                let started = Instant::now();
                let connected = tokio::select! {
                    () = stop.cancelled() => Err(anyhow::anyhow!("still connecting at the end")),
                    connected = connector.connect(&token) => connected,
                };
                attempted.fetch_add(1, Ordering::Relaxed);
                let mut socket = match connected {
                    Ok(socket) => socket,
                    Err(e) => {
                        held.error = Some(short(&format!("{e:#}")));
                        return held;
                    }
                };
                held.connect_time = Some(started.elapsed());
                open.fetch_add(1, Ordering::Relaxed);
                // Keep reading: that is what answers the server's pings.
                loop {
                    tokio::select! {
                        () = stop.cancelled() => {
                            let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
                            break;
                        }
                        frame = socket.next() => match frame {
                            Some(Ok(Message::Close(frame))) => {
                                held.closed = Some(close_code(&frame));
                                break;
                            }
                            Some(Ok(Message::Text(_))) => {
                                held.frames += 1;
                                held.last_frame = Some(ramp.elapsed());
                            }
                            Some(Ok(_)) => {}
                            None | Some(Err(_)) => {
                                held.dropped = true;
                                break;
                            }
                        },
                    }
                }
                open.fetch_sub(1, Ordering::Relaxed);
                held
            });
        }
        let ramp_limit = Duration::from_secs(60) + Duration::from_millis(5 * args.connections as u64);
        wait_until(ramp_limit, || attempted.load(Ordering::Relaxed) >= args.connections).await;
        let ramp_secs = ramp.elapsed().as_secs_f64();
        let opened = open.load(Ordering::Relaxed);

        progress(format_args!("{opened} open; holding for {} s", args.hold_secs));
        tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
        let open_at_end = open.load(Ordering::Relaxed);
        let server_after = target.rss_kib();
        let cpu = cpu.finish();
        let own_after = own_rss_kib();

        stop.cancel();
        let (mut connect, mut errors, mut closes, mut dropped) =
            (Latency::default(), Tally::default(), Tally::default(), 0);
        let (mut frames, mut last_frame) = (0, Duration::ZERO);
        while let Some(joined) = tasks.join_next().await {
            let held = joined?;
            if let Some(t) = held.connect_time {
                connect.record(t);
            }
            if let Some(e) = held.error {
                errors.add(e, 1);
            }
            if let Some(code) = held.closed {
                closes.add(code.to_string(), 1);
            }
            dropped += u64::from(held.dropped);
            frames += held.frames;
            last_frame = last_frame.max(held.last_frame.unwrap_or_default());
        }
        // Memory the server gives back once the sockets are gone (allocators keep some).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let server_after_close = target.rss_kib();

        let per_connection = |before: Option<u64>, after: Option<u64>| match (before, after) {
            (Some(b), Some(a)) if opened > 0 => Some(round1(a.saturating_sub(b) as f64 / opened as f64)),
            _ => None,
        };
        let mib = |kib: Option<u64>| kib.map(|k| round1(k as f64 / 1024.0));
        report.add("requested", args.connections);
        report.add("opened", opened);
        report.add("failed", errors.total());
        report.add("connect_errors", errors.to_json());
        report.add("ramp_secs", round1(ramp_secs));
        report.latency("latency_connect", &connect);
        report.add("open_at_end", open_at_end);
        report.add("server_closes", closes.to_json());
        report.add("dropped_by_server", dropped);
        report.add("frames_received", frames);
        report.add("last_frame_secs", round1(last_frame.as_secs_f64()));
        report.add("cpu", cpu);
        report.add("server_rss_before_mib", mib(server_before));
        report.add("server_rss_after_mib", mib(server_after));
        report.add("server_rss_after_close_mib", mib(server_after_close));
        report.add("server_rss_per_connection_kib", per_connection(server_before, server_after));
        report.add("loadgen_rss_per_connection_kib", per_connection(own_before, own_after));
        if target.pid.is_none() {
            report.note("no server pid (give --server-pid with --url) so no server memory figures");
        }
        report.expect(opened == args.connections, format!("{opened} of {} connections opened", args.connections));
        report.expect(open_at_end == args.connections, format!("{open_at_end} connections were open at the end"));
        explain_closes(&mut report, &closes);
        Ok(report)
    })
    .await
}
