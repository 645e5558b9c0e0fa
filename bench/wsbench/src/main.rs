//! wsbench: one fan-out workload, several servers. Measures deliveries/s, latency and
//! correctness for Palaver (its real protocol) and for plain broadcast peers (Node `ws`,
//! FastAPI, a Rust ceiling) that echo every text frame to every socket of a room.
//!
//! Plain peers: connect to `<url>?room=<r>`; any text frame sent is broadcast to the room.
//! Palaver: users registered over REST, one room, `subscribe` + `send` frames as `docs/protocol.md` describes.
use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

static T0: OnceLock<Instant> = OnceLock::new();
fn now_us() -> u64 {
    T0.get_or_init(Instant::now).elapsed().as_micros() as u64
}

#[derive(Clone, Copy, ValueEnum, Debug, PartialEq)]
enum Target {
    Plain,
    Palaver,
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// S subscribers and P publishers in one room; publishers send at a total rate.
    Fanout {
        #[arg(long, value_enum)]
        target: Target,
        /// ws URL (plain: ws://host:port/path ; palaver: http://host:port base)
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 1)]
        publishers: usize,
        /// total messages per second across publishers
        #[arg(long, default_value_t = 100)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        #[arg(long, default_value_t = 100)]
        payload: usize,
        /// palaver: distinct users the sockets are spread over
        #[arg(long, default_value_t = 20)]
        users: usize,
        #[arg(long)]
        json: bool,
    },
    /// Open N idle sockets and report the server's RSS growth per socket.
    Connections {
        #[arg(long, value_enum)]
        target: Target,
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 10000)]
        n: usize,
        #[arg(long)]
        pid: u32,
        #[arg(long, default_value_t = 20)]
        users: usize,
        #[arg(long, default_value_t = 10)]
        hold: u64,
        #[arg(long)]
        json: bool,
    },
}

fn rss_kib(pid: u32) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for l in s.lines() {
        if let Some(v) = l.strip_prefix("VmRSS:") {
            return Ok(v.trim().trim_end_matches("kB").trim().parse()?);
        }
    }
    bail!("no VmRSS")
}

/// Connects from 127.0.0.(2 + i % 50) so ephemeral ports never run out.
async fn connect(url: &str, i: usize) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
    let u: reqwest::Url = url.parse()?;
    let host = u.host_str().ok_or_else(|| anyhow!("no host"))?;
    let port = u.port().unwrap_or(80);
    let addr: SocketAddr = format!("{host}:{port}").parse()?;
    let sock = TcpSocket::new_v4()?;
    if host == "127.0.0.1" {
        sock.bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % 50) as u8)), 0))?;
    }
    let stream = sock.connect(addr).await?;
    stream.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(url, stream).await.context("ws handshake")?;
    Ok(ws)
}

struct Palaver {
    http: reqwest::Client,
    base: String,
    tokens: Vec<String>,
    room: String,
}

async fn palaver_setup(base: &str, users: usize) -> Result<Palaver> {
    let http = reqwest::Client::new();
    let api = format!("{base}/api/v1");
    let mut tokens = Vec::new();
    let tag = std::process::id();
    for i in 0..users.max(1) {
        let name = format!("b{tag}x{i}");
        let r: serde_json::Value = http
            .post(format!("{api}/auth/register"))
            .json(&serde_json::json!({"username": name, "email": format!("{name}@bench.test"), "password": "bench-password-1"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        tokens.push(r["access_token"].as_str().ok_or_else(|| anyhow!("no token: {r}"))?.to_string());
    }
    let room: serde_json::Value = http
        .post(format!("{api}/rooms"))
        .bearer_auth(&tokens[0])
        .json(&serde_json::json!({"name": "bench", "visibility": "public"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let room_id = room["id"].as_str().ok_or_else(|| anyhow!("no room id"))?.to_string();
    for t in &tokens[1..] {
        http.post(format!("{api}/rooms/{room_id}/join")).bearer_auth(t).send().await?.error_for_status()?;
    }
    Ok(Palaver { http, base: base.to_string(), tokens, room: room_id })
}

impl Palaver {
    fn ws_url(&self, i: usize) -> String {
        let ws = self.base.replacen("http", "ws", 1);
        format!("{ws}/api/v1/ws?token={}", self.tokens[i % self.tokens.len()])
    }
}

/// Pulls the microsecond stamp that publishers put at the start of the content: "@<us>@".
fn stamp(text: &str) -> Option<u64> {
    let i = text.find('@')?;
    let rest = &text[i + 1..];
    let j = rest.find('@')?;
    rest[..j].parse().ok()
}

fn seq_of(text: &str) -> Option<u64> {
    // first "seq": in a palaver message frame is the event seq
    let i = text.find("\"seq\":")?;
    let rest = &text[i + 6..];
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[tokio::main]
async fn main() -> Result<()> {
    now_us();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Fanout { target, url, subscribers, publishers, rate, seconds, warmup, payload, users, json } => {
            fanout(target, url, subscribers, publishers, rate, seconds, warmup, payload, users, json).await
        }
        Cmd::Connections { target, url, n, pid, users, hold, json } => connections(target, url, n, pid, users, hold, json).await,
    }
}

#[allow(clippy::too_many_arguments)]
async fn fanout(
    target: Target,
    url: String,
    subscribers: usize,
    publishers: usize,
    rate: u64,
    seconds: u64,
    warmup: u64,
    payload: usize,
    users: usize,
    json: bool,
) -> Result<()> {
    let pal = if target == Target::Palaver { Some(Arc::new(palaver_setup(&url, users).await?)) } else { None };
    let ws_url = |i: usize| match &pal {
        Some(p) => p.ws_url(i),
        None => format!("{url}?room=bench"),
    };
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let gaps = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut subs = Vec::new();
    let t_conn = Instant::now();
    for i in 0..subscribers {
        let mut ws = connect(&ws_url(i), i).await.with_context(|| format!("subscriber {i}"))?;
        if let Some(p) = &pal {
            ws.send(Message::text(format!(r#"{{"type":"subscribe","room_id":"{}","id":"s"}}"#, p.room))).await?;
        }
        let (measuring, delivered, gaps, hist) = (measuring.clone(), delivered.clone(), gaps.clone(), hist.clone());
        let mut stop_rx = stop_rx.clone();
        let palaver = pal.is_some();
        subs.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let mut n = 0u64;
            let mut last_seq = 0u64;
            loop {
                let m = tokio::select! {
                    m = ws.next() => m,
                    _ = stop_rx.changed() => break,
                };
                let Some(Ok(m)) = m else { break };
                let Message::Text(t) = m else { continue };
                let t: &str = t.as_ref();
                if palaver {
                    if !t.contains("\"type\":\"message\"") {
                        continue;
                    }
                    if let Some(s) = seq_of(t) {
                        if last_seq != 0 && s != last_seq + 1 {
                            gaps.fetch_add(1, Ordering::Relaxed);
                        }
                        last_seq = s;
                    }
                }
                if let Some(st) = stamp(t) {
                    if measuring.load(Ordering::Relaxed) {
                        n += 1;
                        let _ = local.record(now_us().saturating_sub(st).max(1));
                    }
                }
            }
            delivered.fetch_add(n, Ordering::Relaxed);
            hist.lock().unwrap().add(&local).unwrap();
        }));
    }
    let conn_secs = t_conn.elapsed().as_secs_f64();
    let mut pubs = Vec::new();
    let per_pub_interval = Duration::from_secs_f64(publishers as f64 / rate as f64);
    let sent = Arc::new(AtomicU64::new(0));
    for j in 0..publishers {
        let ws = connect(&ws_url(subscribers + j), subscribers + j).await?;
        let pad = "x".repeat(payload);
        let stop = stop.clone();
        let sent = sent.clone();
        let room = pal.as_ref().map(|p| p.room.clone());
        pubs.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(per_pub_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let (mut tx, mut rx) = ws.split();
            // drain acks/echoes so the server never sees a slow publisher
            let drain = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let body = format!("@{}@{pad}", now_us());
                let frame = match &room {
                    Some(r) => format!(r#"{{"type":"send","room_id":"{r}","content":"{body}","client_msg_id":"p{j}-{k}"}}"#),
                    None => body,
                };
                if tx.send(Message::text(frame)).await.is_err() {
                    break;
                }
                k += 1;
                sent.fetch_add(1, Ordering::Relaxed);
            }
            drain.abort();
        }));
    }
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let sent0 = sent.load(Ordering::Relaxed);
    measuring.store(true, Ordering::Relaxed);
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let secs = t.elapsed().as_secs_f64();
    let sent_n = sent.load(Ordering::Relaxed) - sent0;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for p in pubs {
        p.abort();
    }
    let _ = stop_tx.send(true);
    for s in subs {
        let _ = s.await;
    }
    let h = hist.lock().unwrap();
    let d = delivered.load(Ordering::Relaxed);
    let out = serde_json::json!({
        "target": format!("{target:?}"), "subscribers": subscribers, "publishers": publishers,
        "rate": rate, "seconds": secs, "sent": sent_n, "deliveries": d,
        "deliveries_per_s": d as f64 / secs, "expected_per_s": sent_n as f64 * subscribers as f64 / secs,
        "p50_ms": h.value_at_quantile(0.5) as f64 / 1000.0, "p99_ms": h.value_at_quantile(0.99) as f64 / 1000.0,
        "max_ms": h.max() as f64 / 1000.0, "seq_gaps": gaps.load(Ordering::Relaxed), "connect_s": conn_secs,
    });
    if json {
        println!("{out}");
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

async fn connections(target: Target, url: String, n: usize, pid: u32, users: usize, hold: u64, json: bool) -> Result<()> {
    let pal = if target == Target::Palaver { Some(palaver_setup(&url, users).await?) } else { None };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid)?;
    let mut held = Vec::with_capacity(n);
    let t = Instant::now();
    for i in 0..n {
        let u = match &pal {
            Some(p) => p.ws_url(i),
            None => format!("{url}?room=idle{}", i % 100),
        };
        let ws = connect(&u, i).await.with_context(|| format!("socket {i}"))?;
        held.push(ws);
    }
    let connect_s = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let after = rss_kib(pid)?;
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    let out = serde_json::json!({"target": format!("{target:?}"), "sockets": n, "rss_before_kib": before,
        "rss_after_kib": after, "bytes_per_socket": per, "connect_s": connect_s});
    if json { println!("{out}") } else { println!("{}", serde_json::to_string_pretty(&out)?) }
    drop(held);
    drop(pal.map(|p| p.http));
    Ok(())
}
