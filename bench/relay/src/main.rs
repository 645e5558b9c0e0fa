//! The practical ceiling for the assistant's streamed replies: an SSE relay of an
//! OpenAI-compatible chat-completions stream, speaking just enough of Palaver's HTTP API for
//! `palaver-loadgen assistant --url` to run against it. The send goes straight to the upstream
//! on one shared client; each upstream read becomes one write of the events it completes. No
//! auth, no storage, no rate limits, no keep-alive: what axum, reqwest and the kernel allow.
use std::borrow::Cow;
use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// Any fixed RFC 3339 time does for the fake rows.
const EPOCH: &str = "2025-01-01T00:00:00Z";

struct App {
    http: reqwest::Client,
    completions: String,
    model: String,
}

#[tokio::main]
async fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "9004".into());
    let base = std::env::var("RELAY_LLM_BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:9005/v1".into());
    let model = std::env::var("RELAY_LLM_MODEL").unwrap_or_else(|_| "palaver-loadgen-fake".into());
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let completions = format!("{}/chat/completions", base.trim_end_matches('/'));
    let app = Arc::new(App { http, completions, model });
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/chat/conversations", post(conversation))
        .route("/api/v1/chat/conversations/{id}/stream", post(stream))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await.expect("bind");
    println!("listening on http://127.0.0.1:{port}");
    let listener = listener.tap_io(|socket| {
        let _ = socket.set_nodelay(true);
    });
    axum::serve(listener, router).await.expect("serve");
}

/// A `TokenPair` for anyone: the token is never checked.
async fn register(_body: Bytes) -> Response {
    Json(json!({
        "access_token": "relay", "refresh_token": "relay", "token_type": "Bearer", "expires_in": 86400,
        "user": {"id": Uuid::now_v7().to_string(), "username": "relay", "created_at": EPOCH, "online": false, "last_seen": null}
    }))
    .into_response()
}

/// A `Conversation` that exists nowhere.
async fn conversation(_body: Bytes) -> Response {
    Json(json!({
        "id": Uuid::now_v7().to_string(), "title": "relay", "created_at": EPOCH, "updated_at": EPOCH,
        "total_messages": 0, "total_tokens_used": 0
    }))
    .into_response()
}

#[derive(Deserialize)]
struct SendChat {
    message: String,
}

/// Asks the upstream at once; answers once its response head is in, then relays its content
/// deltas as Palaver's `start`, `chunk`... `complete` events.
async fn stream(State(app): State<Arc<App>>, Json(send): Json<SendChat>) -> Response {
    let body = json!({
        "model": app.model, "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": send.message}]
    });
    let request = app
        .http
        .post(&app.completions)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "text/event-stream")
        .body(serde_json::to_vec(&body).expect("JSON"));
    let upstream = match request.send().await {
        Ok(response) if response.status().is_success() => response,
        Ok(response) => return (StatusCode::BAD_GATEWAY, format!("upstream: {}", response.status())).into_response(),
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("upstream: {e}")).into_response(),
    };
    let mut relay = Relay {
        upstream: Box::pin(upstream.bytes_stream()),
        line: Vec::new(),
        out: Vec::with_capacity(256),
        next_id: 1,
        assistant_id: Uuid::now_v7(),
        usage: Usage::default(),
        state: Phase::Relaying,
    };
    let start = format!(
        "{{\"type\":\"start\",\"user_message_id\":\"{}\",\"assistant_message_id\":\"{}\"}}",
        Uuid::now_v7(),
        relay.assistant_id
    );
    relay.event(start.as_bytes());
    let events = futures_util::stream::unfold(relay, Relay::next);
    let mut response = Body::from_stream(events).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

type Upstream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

#[derive(PartialEq)]
enum Phase {
    Relaying,
    /// The last event is out; the rest of the upstream's body is read so that its connection
    /// goes back to the pool.
    Draining,
    Done,
}

struct Relay {
    upstream: Upstream,
    /// A line split across reads.
    line: Vec<u8>,
    /// The events of the current read, written to the client at once.
    out: Vec<u8>,
    next_id: u64,
    assistant_id: Uuid,
    usage: Usage,
    state: Phase,
}

#[derive(Deserialize, Default, Clone, Copy)]
struct Usage {
    #[serde(default)]
    prompt_tokens: i64,
    #[serde(default)]
    completion_tokens: i64,
}

/// Just what is read of an upstream chunk.
#[derive(Deserialize)]
struct UpChunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<UpChoice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct UpChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<UpDelta<'a>>,
}

#[derive(Deserialize)]
struct UpDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

impl Relay {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Relay)> {
        loop {
            if !self.out.is_empty() {
                let out = std::mem::replace(&mut self.out, Vec::with_capacity(256));
                return Some((Ok(Bytes::from(out)), self));
            }
            if self.state == Phase::Done {
                return None;
            }
            match (self.upstream.next().await, &self.state) {
                (_, Phase::Done) | (None | Some(Err(_)), Phase::Draining) => return None,
                (Some(Ok(_)), Phase::Draining) => {}
                (Some(Ok(bytes)), Phase::Relaying) => self.feed(&bytes),
                (Some(Err(e)), Phase::Relaying) => self.fail(&format!("upstream: {e}")),
                (None, Phase::Relaying) => self.fail("the upstream ended before [DONE]"),
            }
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while self.state == Phase::Relaying {
            let Some(at) = bytes.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(bytes);
                return;
            };
            if self.line.is_empty() {
                self.take_line(&bytes[..at]);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&bytes[..at]);
                self.take_line(&line);
                line.clear();
                self.line = line;
            }
            bytes = &bytes[at + 1..];
        }
    }

    fn take_line(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(data) = line.strip_prefix(b"data:") else { return };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        if data == b"[DONE]" {
            let complete = format!(
                "{{\"type\":\"complete\",\"message_id\":\"{}\",\"usage\":{{\"prompt_tokens\":{},\"completion_tokens\":{}}}}}",
                self.assistant_id, self.usage.prompt_tokens, self.usage.completion_tokens
            );
            self.event(complete.as_bytes());
            self.state = Phase::Draining;
            return;
        }
        let Ok(chunk) = serde_json::from_slice::<UpChunk>(data) else { return };
        if let Some(usage) = chunk.usage {
            self.usage = usage;
        }
        let content = chunk.choices.into_iter().next().and_then(|c| c.delta).and_then(|d| d.content);
        if let Some(content) = content.filter(|c| !c.is_empty()) {
            let mut json = Vec::with_capacity(content.len() + 32);
            json.extend_from_slice(b"{\"type\":\"chunk\",\"content\":");
            serde_json::to_writer(&mut json, content.as_ref()).expect("a string serializes");
            json.push(b'}');
            self.event(&json);
        }
    }

    fn fail(&mut self, error: &str) {
        let mut json = b"{\"type\":\"error\",\"error\":".to_vec();
        serde_json::to_writer(&mut json, error).expect("a string serializes");
        json.push(b'}');
        self.event(&json);
        self.state = Phase::Done;
    }

    fn event(&mut self, data: &[u8]) {
        let _ = write!(self.out, "id: {}\ndata: ", self.next_id);
        self.out.extend_from_slice(data);
        self.out.extend_from_slice(b"\n\n");
        self.next_id += 1;
    }
}
