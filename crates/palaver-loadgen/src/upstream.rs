//! The fake OpenAI-compatible upstream of the `assistant` scenario, the one fake the project
//! allows (no LLM runs here): a small HTTP/1.1 server on loopback answering
//! `POST /v1/chat/completions` with an SSE stream of numbered content chunks at a set rate,
//! then a finish chunk, a usage chunk and `data: [DONE]`.
//!
//! It finds which reply a request is for by the marker in its last user message
//! ([`marker`]), and records when that request arrived and when its first chunk went out, so
//! the scenario can take the upstream's own time to first chunk out of what the client saw.
//! Every chunk's content is one [`Token`]: its number and when it was sent, on the clock of
//! [`unix_nanos`], so the client measures each chunk's delivery through the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::client::unix_nanos;
use crate::stats::{LatencyBatch, SharedLatency};

/// The longest request head, and the longest body, read: the server's prompts are short.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 1 << 20;
/// How long a kept-alive connection may wait for its next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The prompt tokens the usage chunk reports; the client checks the completion tokens.
pub const PROMPT_TOKENS: i64 = 10;

/// The content of a user message that names reply `index`.
pub fn marker(index: usize) -> String {
    format!("palaver-loadgen reply {index}")
}

fn parse_marker(content: &str) -> Option<usize> {
    content.strip_prefix("palaver-loadgen reply ")?.trim().parse().ok()
}

/// One chunk's content: `n<number>t<unix micros when sent> `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub n: u64,
    pub sent_micros: u64,
}

impl Token {
    pub fn text(&self) -> String {
        format!("n{}t{} ", self.n, self.sent_micros)
    }

    /// Every token in a chunk's content (a server may split or join chunks); `None` if any
    /// piece is not a token.
    pub fn parse_all(content: &str) -> Option<Vec<Token>> {
        content
            .split_whitespace()
            .map(|piece| {
                let (n, t) = piece.strip_prefix('n')?.split_once('t')?;
                Some(Token { n: n.parse().ok()?, sent_micros: t.parse().ok()? })
            })
            .collect()
    }
}

/// How each streamed answer goes.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub tokens: u64,
    pub tokens_per_sec: f64,
}

/// Per reply index: when its request arrived and when its first chunk was sent (Unix
/// nanoseconds; 0 for not yet).
#[derive(Default)]
pub struct Timing {
    pub request_at: AtomicU64,
    pub first_sent_at: AtomicU64,
}

#[derive(Default)]
pub struct UpstreamStats {
    pub requests: AtomicU64,
    /// Requests without a known marker, or for a reply that had one already.
    pub unmatched: AtomicU64,
    /// Requests that were not `POST /v1/chat/completions` with a JSON body.
    pub refused: AtomicU64,
    /// Answers cut short because the server closed the connection.
    pub hung_up: AtomicU64,
    /// How late each chunk went out against its schedule: whether this process kept up.
    pub lateness: SharedLatency,
}

struct Shared {
    pace: Pace,
    timings: Vec<Timing>,
    stats: UpstreamStats,
}

pub struct Upstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    serving: tokio::task::AbortHandle,
}

impl Upstream {
    /// Listens on 127.0.0.1:`port` (0 for any) for `replies` replies.
    pub async fn start(port: u16, replies: usize, pace: Pace) -> anyhow::Result<Upstream> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let timings = (0..replies).map(|_| Timing::default()).collect();
        let shared = Arc::new(Shared { pace, timings, stats: UpstreamStats::default() });
        let serving = tokio::spawn(accept(listener, shared.clone())).abort_handle();
        Ok(Upstream { addr, shared, serving })
    }

    /// What the server's `PALAVER_LLM_BASE_URL` must be.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn timing(&self, index: usize) -> Option<&Timing> {
        self.shared.timings.get(index)
    }

    pub fn stats(&self) -> &UpstreamStats {
        &self.shared.stats
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        // The accept task owns the connections' JoinSet: they all go with it.
        self.serving.abort();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            // Out of file descriptors, most likely: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(serve(socket, shared.clone()));
    }
}

/// Requests one after the other on a kept-alive connection, as an upstream serves them.
async fn serve(mut socket: TcpStream, shared: Arc<Shared>) {
    // Each chunk is one small write that must leave at once.
    if socket.set_nodelay(true).is_err() {
        return;
    }
    let mut buffer = Vec::new();
    loop {
        let next = tokio::time::timeout(IDLE_TIMEOUT, read_request(&mut socket, &mut buffer)).await;
        let Ok(Ok(next)) = next else { return };
        let received_at = unix_nanos();
        let body = match next {
            Next::Closed => return,
            Next::Request(request) if request.is_completion() => request.body,
            Next::Request(_) | Next::Unreadable => None,
        };
        shared.stats.requests.fetch_add(1, Ordering::Relaxed);
        let Some(body) = body else {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            let _ = socket.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            return;
        };
        let timing = body
            .marker()
            .and_then(|i| shared.timings.get(i))
            .filter(|t| t.request_at.compare_exchange(0, received_at, Ordering::Relaxed, Ordering::Relaxed).is_ok());
        if timing.is_none() {
            shared.stats.unmatched.fetch_add(1, Ordering::Relaxed);
        }
        if answer(&mut socket, &shared, timing).await.is_err() {
            shared.stats.hung_up.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
}

/// The streamed answer: numbered content chunks on schedule, then the finish, the usage and
/// `[DONE]`, in chunked transfer encoding.
async fn answer(socket: &mut TcpStream, shared: &Shared, timing: Option<&Timing>) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
                transfer-encoding: chunked\r\n\r\n";
    socket.write_all(head.as_bytes()).await?;
    let pace = shared.pace;
    let interval = Duration::from_secs_f64(1.0 / pace.tokens_per_sec);
    let mut lateness = LatencyBatch::new(&shared.stats.lateness);
    let start = Instant::now();
    for n in 0..pace.tokens {
        let due = start + interval.mul_f64(n as f64);
        // A timer fires on the next millisecond tick even when it is due already.
        if Instant::now() < due {
            tokio::time::sleep_until(due).await;
        }
        lateness.record(Instant::now().saturating_duration_since(due));
        let sent_at = unix_nanos();
        let token = Token { n, sent_micros: sent_at / 1000 };
        let chunk = json!({"id": "chatcmpl-loadgen", "object": "chat.completion.chunk", "model": "fake",
                           "choices": [{"index": 0, "delta": {"content": token.text()}, "finish_reason": null}]});
        write_event(socket, &chunk.to_string()).await?;
        if n == 0
            && let Some(timing) = timing
        {
            timing.first_sent_at.store(sent_at, Ordering::Relaxed);
        }
    }
    let finish = json!({"id": "chatcmpl-loadgen", "object": "chat.completion.chunk", "model": "fake",
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    write_event(socket, &finish.to_string()).await?;
    let completion = pace.tokens as i64;
    let usage = json!({"id": "chatcmpl-loadgen", "choices": [], "usage": {"prompt_tokens": PROMPT_TOKENS,
                       "completion_tokens": completion, "total_tokens": PROMPT_TOKENS + completion}});
    write_event(socket, &usage.to_string()).await?;
    write_event(socket, "[DONE]").await?;
    socket.write_all(b"0\r\n\r\n").await
}

async fn write_event(socket: &mut TcpStream, data: &str) -> std::io::Result<()> {
    let event = format!("data: {data}\n\n");
    socket.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes()).await
}

struct Request {
    method: String,
    path: String,
    body: Option<CompletionBody>,
}

impl Request {
    fn is_completion(&self) -> bool {
        self.method == "POST" && self.path == "/v1/chat/completions"
    }
}

/// Just what the fake reads of a chat-completions request.
#[derive(Deserialize)]
struct CompletionBody {
    messages: Vec<PromptMessage>,
}

#[derive(Deserialize)]
struct PromptMessage {
    role: String,
    #[serde(default)]
    content: Option<String>,
}

impl CompletionBody {
    fn marker(&self) -> Option<usize> {
        let last_user = self.messages.iter().rev().find(|m| m.role == "user")?;
        parse_marker(last_user.content.as_deref()?)
    }
}

/// What came next on a connection.
enum Next {
    Request(Request),
    /// Over the size limits, or a chunked body: answered with a 404, and the connection closed.
    Unreadable,
    /// The peer closed the connection.
    Closed,
}

/// The next request of the connection. `buffer` keeps what was read past its end.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<Next> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > MAX_HEAD {
            return Ok(Next::Unreadable);
        }
        if !read_more(socket, buffer).await? {
            return Ok(Next::Closed);
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let mut length = 0;
    for (name, value) in lines.filter_map(|line| line.split_once(':')) {
        let name = name.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            // A chunked request body is not read here: the connection cannot go on.
            return Ok(Next::Unreadable);
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap_or(usize::MAX);
        }
    }
    if length > MAX_BODY {
        return Ok(Next::Unreadable);
    }
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        if !read_more(socket, buffer).await? {
            return Ok(Next::Closed);
        }
    }
    let body = serde_json::from_slice(&buffer[body_start..body_start + length]).ok();
    buffer.drain(..body_start + length);
    Ok(Next::Request(Request { method, path, body }))
}

/// Reads what is there into `buffer`; `false` at the end of the stream.
async fn read_more(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let read = socket.read(&mut chunk).await?;
    buffer.extend_from_slice(&chunk[..read]);
    Ok(read > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_markers_round_trip() {
        let a = Token { n: 0, sent_micros: 1_700_000_000_000_000 };
        let b = Token { n: 41, sent_micros: 7 };
        assert_eq!(Token::parse_all(&a.text()), Some(vec![a]));
        assert_eq!(Token::parse_all(&format!("{}{}", a.text(), b.text())), Some(vec![a, b]));
        assert_eq!(Token::parse_all("n1t2 hello"), None);
        assert_eq!(Token::parse_all("n1"), None);
        assert_eq!(parse_marker(&marker(999)), Some(999));
        assert_eq!(parse_marker("hello"), None);
    }
}
