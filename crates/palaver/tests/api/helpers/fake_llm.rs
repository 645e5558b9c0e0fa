//! A scripted OpenAI-compatible server on `127.0.0.1:0`, the one fake the tests allow: no
//! LLM runs here. It speaks just enough HTTP/1.1 (one request per connection, the reply
//! chunked) to answer `POST /v1/chat/completions` with the next [`FakeReply`], records every
//! request, and counts clients that hang up before their reply was over.
//!
//! The API tests use it from `helpers`; the unit tests of `assistant::llm` include this same
//! file with `#[path]`, so it uses nothing but tokio and serde_json.

// Each of the two includers uses a part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long the `wait_for_*` helpers wait before failing the test.
const PATIENCE: Duration = Duration::from_secs(10);

pub struct FakeLlm {
    address: SocketAddr,
    shared: Arc<Shared>,
    serving: tokio::task::AbortHandle,
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<FakeReply>>,
    fallback: Mutex<Option<FakeReply>>,
    requests: Mutex<Vec<FakeRequest>>,
    request_count: watch::Sender<usize>,
    disconnects: watch::Sender<usize>,
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
}

impl FakeLlm {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("the fake LLM binds a port");
        let address = listener.local_addr().expect("a bound listener has an address");
        let shared = Arc::new(Shared::default());
        let serving = tokio::spawn(accept(listener, shared.clone())).abort_handle();
        Self { address, shared, serving }
    }

    /// What `LlmSettings::base_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// Queues a reply: requests take them in order.
    pub fn push(&self, reply: FakeReply) -> &Self {
        self.shared.replies.lock().unwrap().push_back(reply);
        self
    }

    /// The reply for every request once the queue is empty (without one: a 500).
    pub fn always(&self, reply: FakeReply) -> &Self {
        *self.shared.fallback.lock().unwrap() = Some(reply);
        self
    }

    pub fn requests(&self) -> Vec<FakeRequest> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        *self.shared.request_count.borrow()
    }

    /// Clients that closed their connection before their reply was all sent.
    pub fn disconnects(&self) -> usize {
        *self.shared.disconnects.borrow()
    }

    pub async fn wait_for_requests(&self, count: usize) {
        wait_until(&self.shared.request_count, count, "requests").await;
    }

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

/// One scripted answer. An SSE reply is its parts (each written in one piece, after
/// `delay`), then a usage chunk and `data: [DONE]` unless turned off.
#[derive(Debug, Clone)]
pub struct FakeReply {
    status: u16,
    error_body: String,
    parts: Vec<String>,
    usage: Option<(i64, i64)>,
    done: bool,
    delay: Duration,
    keep_alive: bool,
    hang_after: Option<usize>,
    answer: bool,
}

impl FakeReply {
    /// Raw bytes of the body, written as given: for tests of the SSE reading itself.
    pub fn raw<S: Into<String>>(parts: impl IntoIterator<Item = S>) -> Self {
        Self {
            status: 200,
            error_body: String::new(),
            parts: parts.into_iter().map(Into::into).collect(),
            usage: None,
            done: false,
            delay: Duration::ZERO,
            keep_alive: false,
            hang_after: None,
            answer: true,
        }
    }

    /// A data line per chunk, then usage (10 prompt tokens, a completion token per chunk)
    /// and `[DONE]`.
    pub fn chunks(chunks: impl IntoIterator<Item = Value>) -> Self {
        let parts: Vec<String> = chunks.into_iter().map(|chunk| data_line(&chunk)).collect();
        let completion = parts.len() as i64;
        Self { usage: Some((10, completion)), done: true, ..Self::raw(parts) }
    }

    /// The model says `pieces`, one per chunk, and stops.
    pub fn text(pieces: &[&str]) -> Self {
        let role =
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]});
        let content = pieces.iter().map(|piece| content_chunk(piece));
        let mut reply = Self::chunks(std::iter::once(role).chain(content).chain([finish_chunk("stop")]));
        reply.usage = Some((10, pieces.len() as i64));
        reply
    }

    /// The model asks for `calls` (id, name, arguments), streamed as OpenAI does: the first
    /// delta of each has the id, the name and half the arguments, the second the rest, with
    /// the calls' deltas interleaved so only the index tells them apart.
    pub fn tool_calls(calls: &[(&str, &str, &str)]) -> Self {
        let halves = |arguments: &str| {
            let mut at = arguments.len() / 2;
            while !arguments.is_char_boundary(at) {
                at -= 1;
            }
            (arguments[..at].to_owned(), arguments[at..].to_owned())
        };
        let firsts = calls
            .iter()
            .enumerate()
            .map(|(index, (id, name, arguments))| tool_call_chunk(index, Some(id), Some(name), &halves(arguments).0));
        let seconds = calls
            .iter()
            .enumerate()
            .map(|(index, (_, _, arguments))| tool_call_chunk(index, None, None, &halves(arguments).1));
        let chunks: Vec<Value> = firsts.chain(seconds).chain([finish_chunk("tool_calls")]).collect();
        Self::chunks(chunks)
    }

    /// A non-2xx answer with `body` as `application/json` (or text, if it is not JSON).
    pub fn status(status: u16, body: &str) -> Self {
        Self { status, error_body: body.to_owned(), ..Self::raw(Vec::<String>::new()) }
    }

    /// Reads the request and never answers, not even the response head.
    pub fn no_answer() -> Self {
        Self { answer: false, ..Self::raw(Vec::<String>::new()) }
    }

    /// Usage in a last chunk with empty `choices`, as OpenAI sends it.
    pub fn usage(mut self, prompt_tokens: i64, completion_tokens: i64) -> Self {
        self.usage = Some((prompt_tokens, completion_tokens));
        self
    }

    /// As Ollama and llama.cpp: no usage chunk.
    pub fn without_usage(mut self) -> Self {
        self.usage = None;
        self
    }

    /// The body just ends, without `data: [DONE]`.
    pub fn without_done(mut self) -> Self {
        self.done = false;
        self
    }

    /// Waits this long before each part.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// A `: keep-alive` comment before each part.
    pub fn keep_alive(mut self) -> Self {
        self.keep_alive = true;
        self
    }

    /// Sends the first `parts` parts, then nothing more, keeping the connection open until
    /// the client closes it.
    pub fn hang_after(mut self, parts: usize) -> Self {
        self.hang_after = Some(parts);
        self
    }

    /// The body's pieces in order; `None` stands for "hang here".
    fn script(&self) -> Vec<Option<String>> {
        let mut script = Vec::new();
        for (index, part) in self.parts.iter().enumerate() {
            if self.hang_after == Some(index) {
                script.push(None);
                return script;
            }
            if self.keep_alive {
                script.push(Some(": keep-alive\n\n".to_owned()));
            }
            script.push(Some(part.clone()));
        }
        if self.hang_after.is_some() {
            script.push(None);
            return script;
        }
        if let Some((prompt, completion)) = self.usage {
            let usage =
                json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
            script.push(Some(data_line(&json!({"id": "chatcmpl-fake", "choices": [], "usage": usage}))));
        }
        if self.done {
            script.push(Some("data: [DONE]\n\n".to_owned()));
        }
        script
    }
}

pub fn data_line(chunk: &Value) -> String {
    format!("data: {chunk}\n\n")
}

pub fn content_chunk(text: &str) -> Value {
    json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake",
           "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
}

pub fn finish_chunk(reason: &str) -> Value {
    json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake",
           "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
}

pub fn tool_call_chunk(index: usize, id: Option<&str>, name: Option<&str>, arguments: &str) -> Value {
    let mut call = json!({"index": index, "function": {"arguments": arguments}});
    if let Some(id) = id {
        call["id"] = json!(id);
        call["type"] = json!("function");
    }
    if let Some(name) = name {
        call["function"]["name"] = json!(name);
    }
    json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake",
           "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]})
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(serve(socket, shared.clone()));
    }
}

async fn serve(mut socket: TcpStream, shared: Arc<Shared>) {
    let Some(request) = read_request(&mut socket).await else { return };
    shared.requests.lock().unwrap().push(request);
    shared.request_count.send_modify(|n| *n += 1);
    let reply = shared.replies.lock().unwrap().pop_front().or_else(|| shared.fallback.lock().unwrap().clone());
    let reply =
        reply.unwrap_or_else(|| FakeReply::status(500, r#"{"error":{"message":"fake LLM: no reply scripted"}}"#));
    let (mut reader, mut writer) = socket.split();
    let answering = async {
        if !reply.answer {
            std::future::pending::<()>().await;
        }
        if reply.status != 200 {
            let kind = if serde_json::from_str::<Value>(&reply.error_body).is_ok() {
                "application/json"
            } else {
                "text/plain"
            };
            let head = format!(
                "HTTP/1.1 {} Fake\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                reply.status,
                reply.error_body.len()
            );
            writer.write_all(head.as_bytes()).await?;
            return writer.write_all(reply.error_body.as_bytes()).await;
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
                    transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
        writer.write_all(head.as_bytes()).await?;
        for part in reply.script() {
            let Some(part) = part else {
                return std::future::pending().await;
            };
            tokio::time::sleep(reply.delay).await;
            writer.write_all(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes()).await?;
            writer.flush().await?;
        }
        writer.write_all(b"0\r\n\r\n").await
    };
    // The client sends nothing more after its request: a read that ends is its hang-up.
    let hang_up = async {
        let mut scratch = [0u8; 256];
        while let Ok(1..) = reader.read(&mut scratch).await {}
    };
    let hung_up = tokio::select! {
        written = answering => written.is_err(),
        () = hang_up => true,
    };
    if hung_up {
        shared.disconnects.send_modify(|n| *n += 1);
    }
}

/// The request line, the headers and a `content-length` body; `None` if the client went
/// away or sent something else.
async fn read_request(socket: &mut TcpStream) -> Option<FakeRequest> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > 64 * 1024 {
            return None;
        }
        let mut chunk = [0u8; 4096];
        let read = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8(buffer[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length.min(16 << 20) {
        let mut chunk = [0u8; 16 * 1024];
        let read = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..read]);
    }
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(FakeRequest { method, path, headers, body })
}
