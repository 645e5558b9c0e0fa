//! The project's one fake OpenAI-compatible upstream (no LLM runs in a test, a benchmark or
//! CI): a small HTTP/1.1 server on loopback answering `POST /v1/chat/completions` with an SSE
//! stream, in chunked transfer encoding, on kept-alive connections.
//!
//! It answers in one of two ways, chosen when it starts:
//! - scripted ([`FakeLlm::scripted`], for palaver's tests, through a dev-dependency): each
//!   request takes the next queued [`FakeReply`] (exact text, tool calls, usage or none,
//!   errors, stalls, hangs), and every request is recorded for the test to assert on;
//! - paced ([`FakeLlm::paced`], for the `assistant` scenario and for CI's schemathesis run,
//!   `palaver-loadgen upstream`): numbered [`Token`] chunks at a set rate, and the timing of
//!   each request found by its [`marker`].
//!
//! Either way it counts requests and the clients that hang up before their answer is over.

mod paced;
mod reply;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::WriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use paced::{PROMPT_TOKENS, Pace, Timing, Token, marker};
pub use reply::{FakeReply, content_chunk, data_line, finish_chunk, tool_call_chunk, usage_chunk};

use crate::client::unix_nanos;
use crate::stats::SharedLatency;

/// The longest request head, and the longest body, read: the server's prompts are short.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 << 20;
/// How long a kept-alive connection may wait for its next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Requests a scripted fake keeps for [`FakeLlm::requests`]: a test sends a few, and a long
/// run must not grow without bound.
const MAX_RECORDED: usize = 1000;
/// How long the `wait_for_*` helpers wait before failing the test.
const PATIENCE: Duration = Duration::from_secs(10);

pub struct FakeLlm {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    serving: tokio::task::AbortHandle,
}

struct Shared {
    answers: Answers,
    request_count: watch::Sender<usize>,
    disconnects: watch::Sender<usize>,
    stats: UpstreamStats,
}

enum Answers {
    Scripted {
        replies: Mutex<VecDeque<FakeReply>>,
        fallback: Mutex<Option<FakeReply>>,
        requests: Mutex<Vec<FakeRequest>>,
    },
    Paced {
        pace: Pace,
        timings: Vec<Timing>,
    },
}

#[derive(Default)]
pub struct UpstreamStats {
    /// Paced: requests without a known marker, or for a reply that had one already.
    pub unmatched: AtomicU64,
    /// Requests that were not `POST /v1/chat/completions` with a JSON body.
    pub refused: AtomicU64,
    /// Paced: how late each chunk went out against its schedule: whether this process kept up.
    pub lateness: SharedLatency,
}

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    pub method: String,
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    /// `Value::Null` when the body was not JSON.
    pub body: Value,
}

impl FakeRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    fn is_completion(&self) -> bool {
        self.method == "POST" && self.path == "/v1/chat/completions" && self.body.is_object()
    }
}

impl FakeLlm {
    /// On 127.0.0.1, any port, answering with the replies queued by [`push`](Self::push).
    pub async fn scripted() -> std::io::Result<FakeLlm> {
        let answers =
            Answers::Scripted { replies: Mutex::default(), fallback: Mutex::default(), requests: Mutex::default() };
        Self::start(0, answers).await
    }

    /// On 127.0.0.1:`port` (0 for any), streaming `pace` to every request and timing
    /// `replies` replies by their [`marker`].
    pub async fn paced(port: u16, replies: usize, pace: Pace) -> std::io::Result<FakeLlm> {
        let timings = (0..replies).map(|_| Timing::default()).collect();
        Self::start(port, Answers::Paced { pace, timings }).await
    }

    async fn start(port: u16, answers: Answers) -> std::io::Result<FakeLlm> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            answers,
            request_count: watch::Sender::new(0),
            disconnects: watch::Sender::new(0),
            stats: UpstreamStats::default(),
        });
        let serving = tokio::spawn(accept(listener, shared.clone())).abort_handle();
        Ok(FakeLlm { addr, shared, serving })
    }

    /// What the server's `PALAVER_LLM_BASE_URL` (`LlmSettings::base_url`) must be.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Scripted: queues a reply; requests take them in order.
    pub fn push(&self, reply: FakeReply) -> &Self {
        if let Answers::Scripted { replies, .. } = &self.shared.answers {
            replies.lock().unwrap().push_back(reply);
        }
        self
    }

    /// Scripted: the reply for every request once the queue is empty (without one: a 500).
    pub fn always(&self, reply: FakeReply) -> &Self {
        if let Answers::Scripted { fallback, .. } = &self.shared.answers {
            *fallback.lock().unwrap() = Some(reply);
        }
        self
    }

    /// Scripted: the requests received, the first [`MAX_RECORDED`] of them.
    pub fn requests(&self) -> Vec<FakeRequest> {
        match &self.shared.answers {
            Answers::Scripted { requests, .. } => requests.lock().unwrap().clone(),
            Answers::Paced { .. } => Vec::new(),
        }
    }

    /// Paced: when reply `index`'s request came and its first chunk went out.
    pub fn timing(&self, index: usize) -> Option<&Timing> {
        match &self.shared.answers {
            Answers::Paced { timings, .. } => timings.get(index),
            Answers::Scripted { .. } => None,
        }
    }

    pub fn stats(&self) -> &UpstreamStats {
        &self.shared.stats
    }

    pub fn request_count(&self) -> usize {
        *self.shared.request_count.borrow()
    }

    /// Clients that closed their connection before their answer was all sent.
    pub fn disconnects(&self) -> usize {
        *self.shared.disconnects.borrow()
    }

    /// For tests: waits until `count` requests came, and fails the test if they do not.
    pub async fn wait_for_requests(&self, count: usize) {
        wait_until(&self.shared.request_count, count, "requests").await;
    }

    /// For tests: waits until `count` clients hung up, and fails the test if they do not.
    pub async fn wait_for_disconnects(&self, count: usize) {
        wait_until(&self.shared.disconnects, count, "disconnects").await;
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        // The accept task owns the connections' JoinSet: they all go with it.
        self.serving.abort();
    }
}

async fn wait_until(counter: &watch::Sender<usize>, count: usize, what: &str) {
    let mut seen = counter.subscribe();
    let reached = tokio::time::timeout(PATIENCE, seen.wait_for(|n| *n >= count)).await;
    assert!(reached.is_ok(), "the fake LLM saw {} {what}, not {count}, in {PATIENCE:?}", *counter.borrow());
}

/// Serves until the process ends: `palaver-loadgen upstream`, the fake a server started by
/// hand (or CI's schemathesis run) is pointed at.
pub async fn serve_forever(args: crate::cli::UpstreamArgs) -> anyhow::Result<crate::Report> {
    let pace = Pace { tokens: args.tokens, tokens_per_sec: args.tokens_per_sec };
    anyhow::ensure!(pace.tokens_per_sec > 0.0, "--tokens-per-sec must be > 0");
    let upstream = FakeLlm::paced(args.port, 0, pace).await?;
    println!("listening on {}", upstream.base_url());
    let never: Infallible = std::future::pending().await;
    match never {}
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
        let request = match next {
            Ok(Ok(Next::Request(request))) => Some(request),
            Ok(Ok(Next::Unreadable)) => None,
            Ok(Ok(Next::Closed) | Err(_)) | Err(_) => return,
        };
        let received_at = unix_nanos();
        if let (Some(request), Answers::Scripted { requests, .. }) = (&request, &shared.answers) {
            let mut requests = requests.lock().unwrap();
            if requests.len() < MAX_RECORDED {
                requests.push(request.clone());
            }
        }
        shared.request_count.send_modify(|n| *n += 1);
        let Some(request) = request.filter(FakeRequest::is_completion) else {
            shared.stats.refused.fetch_add(1, Ordering::Relaxed);
            let _ = socket.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            return;
        };
        let (mut reader, mut writer) = socket.split();
        let answering = async {
            match &shared.answers {
                Answers::Scripted { replies, fallback, .. } => {
                    let reply = replies.lock().unwrap().pop_front().or_else(|| fallback.lock().unwrap().clone());
                    let reply = reply.unwrap_or_else(|| {
                        FakeReply::status(500, r#"{"error":{"message":"fake LLM: no reply scripted"}}"#)
                    });
                    reply.write(&mut writer).await
                }
                Answers::Paced { pace, timings } => {
                    let timing = paced::timing_of(&request.body, timings, received_at);
                    if timing.is_none() {
                        shared.stats.unmatched.fetch_add(1, Ordering::Relaxed);
                    }
                    paced::write(&mut writer, *pace, timing, &shared.stats.lateness).await
                }
            }
        };
        // An answer written whole counts as answered even if the client closes right after.
        let answered = tokio::select! {
            biased;
            written = answering => written.is_ok(),
            () = hang_up(&mut reader, &mut buffer) => false,
        };
        if !answered {
            shared.disconnects.send_modify(|n| *n += 1);
            return;
        }
    }
}

/// Ends when the client closes its connection. A client sends nothing while its answer
/// streams (HTTP/1.1 without pipelining): what it does send is kept for the next request.
async fn hang_up(reader: &mut (impl AsyncRead + Unpin), buffer: &mut Vec<u8>) {
    while buffer.len() <= MAX_HEAD + MAX_BODY {
        if !matches!(read_more(reader, buffer).await, Ok(true)) {
            return;
        }
    }
    // A client that floods: stop reading, the next request is refused as unreadable.
    std::future::pending().await
}

const SSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
                          transfer-encoding: chunked\r\n\r\n";
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// One piece of a chunked body, written in one write.
async fn write_chunk(writer: &mut WriteHalf<'_>, part: &str) -> std::io::Result<()> {
    writer.write_all(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes()).await
}

/// What came next on a connection.
enum Next {
    Request(FakeRequest),
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
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut length = 0;
    for (name, value) in &headers {
        if name == "transfer-encoding" {
            // A chunked request body is not read here: the connection cannot go on.
            return Ok(Next::Unreadable);
        }
        if name == "content-length" {
            length = value.parse().unwrap_or(usize::MAX);
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
    let body = serde_json::from_slice(&buffer[body_start..body_start + length]).unwrap_or(Value::Null);
    buffer.drain(..body_start + length);
    Ok(Next::Request(FakeRequest { method, path, headers, body }))
}

/// Reads what is there into `buffer`; `false` at the end of the stream.
async fn read_more(reader: &mut (impl AsyncRead + Unpin), buffer: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let read = reader.read(&mut chunk).await?;
    buffer.extend_from_slice(&chunk[..read]);
    Ok(read > 0)
}
