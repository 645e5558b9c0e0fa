//! Talking to the server: REST calls for the fixtures (users, rooms, conversations) and the
//! measured ones (history pages, uploads, image messages, the assistant's streamed replies),
//! and WebSocket connections spread over several loopback source addresses.
//! (Over 400 lines: one client for every scenario, so each call is written once.)

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use palaver_protocol::ws::{ClientEnvelope, ClientFrame, ServerEnvelope};
use palaver_protocol::{
    Attachment, Conversation, CreateConversationRequest, CreateRoomRequest, Message as ChatMessage, MessagePage,
    PostMessageRequest, RegisterRequest, Room, SearchPage, SendChatRequest, TokenPair, Visibility,
};
use reqwest::multipart::{Form, Part};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};
use uuid::Uuid;

pub type WsStream = WebSocketStream<TcpStream>;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Registrations in flight while setting up (thousands of users for a presence run).
const REGISTER_CONCURRENCY: usize = 8;
/// Joins of one room in flight while setting up.
const JOIN_CONCURRENCY: usize = 32;

/// The REST API, with one pooled HTTP client.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Url,
}

/// A registered user and its access token.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: Uuid,
    pub username: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &Url, pool: usize) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(pool.max(1))
            .tcp_nodelay(true)
            .build()?;
        Ok(Api { http, base: base.clone() })
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("API paths are valid")
    }

    async fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<T> {
        let response = request.send().await.with_context(|| what.to_owned())?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("{what}: {status}: {body}");
        }
        response.json().await.with_context(|| format!("{what}: reading the body"))
    }

    pub async fn register(&self, username: &str, password: &str) -> anyhow::Result<Account> {
        let body = RegisterRequest {
            username: username.to_owned(),
            email: format!("{username}@loadgen.example.com"),
            password: password.to_owned(),
        };
        let pair: TokenPair =
            self.call(self.http.post(self.url("/api/v1/auth/register")).json(&body), "registering a user").await?;
        Ok(Account { id: pair.user.id, username: pair.user.username, token: pair.access_token })
    }

    pub async fn create_room(&self, token: &str, name: &str) -> anyhow::Result<Room> {
        let body = CreateRoomRequest { name: name.to_owned(), description: None, visibility: Visibility::Public };
        self.call(self.http.post(self.url("/api/v1/rooms")).bearer_auth(token).json(&body), "creating a room").await
    }

    pub async fn join(&self, token: &str, room_id: Uuid) -> anyhow::Result<Room> {
        let url = self.url(&format!("/api/v1/rooms/{room_id}/join"));
        self.call(self.http.post(url).bearer_auth(token), "joining a room").await
    }

    pub async fn room(&self, token: &str, room_id: Uuid) -> anyhow::Result<Room> {
        let url = self.url(&format!("/api/v1/rooms/{room_id}"));
        self.call(self.http.get(url).bearer_auth(token), "reading a room").await
    }

    /// One history page; `Err` carries the HTTP status when there was one.
    pub async fn history(
        &self,
        token: &str,
        room_id: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<MessagePage, HttpError> {
        let mut url = self.url(&format!("/api/v1/rooms/{room_id}/messages"));
        url.query_pairs_mut().append_pair("limit", &limit.to_string());
        if let Some(before) = before {
            url.query_pairs_mut().append_pair("before", &before.to_string());
        }
        self.measured(self.http.get(url).bearer_auth(token)).await
    }

    /// `GET /search` with these query parameters (`q` and the filters).
    pub async fn search(&self, token: &str, params: &[(&str, String)]) -> Result<SearchPage, HttpError> {
        let mut url = self.url("/api/v1/search");
        url.query_pairs_mut().extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        self.measured(self.http.get(url).bearer_auth(token)).await
    }

    /// `POST /uploads`: one multipart part named `file`. `bytes` is shared, not copied.
    pub async fn upload(
        &self,
        token: &str,
        bytes: Bytes,
        mime: &str,
        file_name: &str,
    ) -> Result<Attachment, HttpError> {
        let length = bytes.len() as u64;
        let part = Part::stream_with_length(bytes, length)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .map_err(HttpError::transport)?;
        let form = Form::new().part("file", part);
        self.measured(self.http.post(self.url("/api/v1/uploads")).bearer_auth(token).multipart(form)).await
    }

    pub async fn post_message(
        &self,
        token: &str,
        room_id: Uuid,
        body: &PostMessageRequest,
    ) -> Result<ChatMessage, HttpError> {
        let url = self.url(&format!("/api/v1/rooms/{room_id}/messages"));
        self.measured(self.http.post(url).bearer_auth(token).json(body)).await
    }

    pub async fn create_conversation(&self, token: &str, title: &str) -> anyhow::Result<Conversation> {
        let body = CreateConversationRequest { title: Some(title.to_owned()) };
        let url = self.url("/api/v1/chat/conversations");
        self.call(self.http.post(url).bearer_auth(token).json(&body), "creating a conversation").await
    }

    /// Sends `message` to the assistant and returns the response once its head is in; its
    /// body is the reply's event stream. `timeout` bounds the whole reply.
    pub async fn stream_reply(
        &self,
        token: &str,
        conversation: Uuid,
        message: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, HttpError> {
        let url = self.url(&format!("/api/v1/chat/conversations/{conversation}/stream"));
        let body = SendChatRequest { message: message.to_owned() };
        let request = self.http.post(url).bearer_auth(token).json(&body).timeout(timeout);
        let response = request.send().await.map_err(HttpError::transport)?;
        match response.status() {
            status if status.is_success() => Ok(response),
            status => Err(HttpError::Status(status)),
        }
    }

    /// For the requests a scenario measures: failures are tallied by status, not fatal.
    async fn measured<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, HttpError> {
        let response = request.send().await.map_err(HttpError::transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(HttpError::Status(status));
        }
        response.json().await.map_err(HttpError::transport)
    }

    /// `count` users with names unique to this run, so a long-lived `--url` server can be loaded
    /// again and again.
    pub async fn register_users(&self, count: usize) -> anyhow::Result<Vec<Account>> {
        let run = format!("{:08x}", rand::random::<u32>());
        let password = format!("loadgen-{run}-password");
        let registering = (0..count.max(1)).map(|i| {
            let (username, password) = (format!("lg{run}_{i}"), password.clone());
            async move { self.register(&username, &password).await }
        });
        // A few at once: the server hashes passwords on one thread per core.
        futures_util::stream::iter(registering).buffered(REGISTER_CONCURRENCY).try_collect().await
    }

    /// `count` public rooms created by the first account and joined by every other one.
    pub async fn create_rooms(&self, accounts: &[Account], count: usize, label: &str) -> anyhow::Result<Vec<Uuid>> {
        let owner = accounts.first().context("no accounts")?;
        let mut rooms = Vec::with_capacity(count);
        for k in 0..count {
            let room = self.create_room(&owner.token, &format!("loadgen {label} {k}")).await?;
            let joining = accounts[1..].iter().map(|account| self.join(&account.token, room.id));
            futures_util::stream::iter(joining).buffer_unordered(JOIN_CONCURRENCY).try_collect::<Vec<_>>().await?;
            rooms.push(room.id);
        }
        Ok(rooms)
    }
}

#[derive(Debug)]
pub enum HttpError {
    Status(StatusCode),
    Transport(String),
}

impl HttpError {
    pub fn transport(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return HttpError::Transport("timeout".to_owned());
        }
        // The innermost cause says what happened (a reset while a body was still being sent);
        // the URL is the same for every request of a tally.
        let cause = std::iter::successors(std::error::Error::source(&e), |e| e.source()).last().map(|c| c.to_string());
        let what = e.without_url().to_string();
        HttpError::Transport(short(&match cause {
            Some(cause) if !what.contains(&cause) => format!("{what}: {cause}"),
            _ => what,
        }))
    }

    /// A short label for tallies.
    pub fn label(&self) -> String {
        match self {
            HttpError::Status(status) => format!("http {}", status.as_u16()),
            HttpError::Transport(e) => e.clone(),
        }
    }
}

/// Opens WebSocket connections: a bounded number at once (a thundering herd would overflow
/// the server's accept backlog), each from the next 127.0.0.K source address, each to one of
/// the servers (of a cluster) picked at random.
pub struct WsConnector {
    servers: Vec<SocketAddr>,
    sources: Vec<IpAddr>,
    next_source: AtomicUsize,
    permits: Semaphore,
    config: WebSocketConfig,
}

impl WsConnector {
    /// `read_buffer`: bytes per connection for reading; small for idle sockets, larger for
    /// sockets that take a stream of frames.
    pub fn new(servers: Vec<SocketAddr>, source_addrs: usize, concurrency: usize, read_buffer: usize) -> Self {
        assert!(!servers.is_empty(), "a connector needs a server");
        // Spreading over source addresses only works when the server is on IPv4 loopback.
        let sources = if servers.iter().all(SocketAddr::is_ipv4) {
            (0..source_addrs.min(200)).map(|k| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + k as u8))).collect()
        } else {
            vec![]
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(read_buffer)
            .write_buffer_size(0)
            .max_write_buffer_size(1 << 20)
            .max_message_size(Some(1 << 20));
        Self { servers, sources, next_source: AtomicUsize::new(0), permits: Semaphore::new(concurrency.max(1)), config }
    }

    /// The same settings, to other servers.
    pub fn to_servers(&self, servers: Vec<SocketAddr>, concurrency: usize) -> Self {
        assert!(!servers.is_empty(), "a connector needs a server");
        Self {
            servers,
            sources: self.sources.clone(),
            next_source: AtomicUsize::new(0),
            permits: Semaphore::new(concurrency.max(1)),
            config: self.config,
        }
    }

    pub async fn connect(&self, token: &str) -> anyhow::Result<WsStream> {
        let _permit = self.permits.acquire().await.context("connector closed")?;
        let server = self.servers[rand::random_range(0..self.servers.len())];
        let socket = if server.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if !self.sources.is_empty() {
            let k = self.next_source.fetch_add(1, Ordering::Relaxed) % self.sources.len();
            socket.bind(SocketAddr::new(self.sources[k], 0)).context("bind")?;
        }
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(server))
            .await
            .map_err(|_| anyhow::anyhow!("connect timeout"))?
            .context("connect")?;
        stream.set_nodelay(true)?;
        let request = format!("ws://{server}/api/v1/ws?token={token}").into_client_request()?;
        let (ws, _) =
            tokio::time::timeout(CONNECT_TIMEOUT, client_async_with_config(request, stream, Some(self.config)))
                .await
                .map_err(|_| anyhow::anyhow!("handshake timeout"))?
                .context("handshake")?;
        Ok(ws)
    }
}

/// A client frame as a text message.
pub fn client_frame(id: Option<u64>, frame: ClientFrame) -> Message {
    let envelope = ClientEnvelope { id: id.map(Into::into), frame };
    Message::text(serde_json::to_string(&envelope).expect("client frames serialize"))
}

/// A whole server frame, for the frames off the hot path (acks, errors, `subscribed`).
pub fn parse_server(text: &str) -> Option<ServerEnvelope> {
    serde_json::from_str(text).ok()
}

/// The close code of a close frame (1005, "no status", when it had none).
pub fn close_code(frame: &Option<CloseFrame>) -> u16 {
    frame.as_ref().map_or(1005, |f| u16::from(f.code))
}

/// Just what the delivery hot path reads from a server frame. Parsing the whole
/// `ServerEnvelope` (three UUIDs and two timestamps per message) for each of up to a million
/// deliveries a second would make the load generator the bottleneck; a test below keeps this
/// in step with `palaver_protocol::ws::ServerEvent`.
#[derive(Debug, Deserialize)]
pub struct EventProbe<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(default)]
    pub seq: Option<i64>,
    #[serde(default, borrow)]
    pub message: Option<MessageProbe<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct MessageProbe<'a> {
    #[serde(borrow)]
    pub content: Cow<'a, str>,
    /// Set on a reply (a UUID: never escaped, so borrowed).
    #[serde(default, borrow)]
    pub thread_root_id: Option<&'a str>,
}

impl<'a> EventProbe<'a> {
    pub fn parse(text: &'a str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// The seq of a room event (post, edit, delete, reaction), as `ServerEvent::seq` has it;
    /// other frames carry none for resume.
    pub fn room_seq(&self) -> Option<i64> {
        match self.kind {
            "message" | "message_updated" | "message_deleted" | "reaction" => self.seq,
            _ => None,
        }
    }

    /// Whether this is a reply's `message` frame.
    pub fn is_reply(&self) -> bool {
        self.message.as_ref().is_some_and(|m| m.thread_root_id.is_some())
    }
}

/// What a published message's content carries: when it was sent (Unix nanoseconds, on the
/// same clock the subscribers read), by which publisher, its counter.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stamp {
    pub t: u64,
    pub p: u32,
    pub n: u64,
}

impl Stamp {
    pub fn now(publisher: u32, counter: u64) -> Stamp {
        Stamp { t: unix_nanos(), p: publisher, n: counter }
    }

    pub fn content(&self) -> String {
        serde_json::to_string(self).expect("stamps serialize")
    }

    /// Time from the stamp to now; `None` if the content is not a stamp.
    pub fn age_of(content: &str) -> Option<Duration> {
        let stamp: Stamp = serde_json::from_str(content).ok()?;
        Some(Duration::from_nanos(unix_nanos().saturating_sub(stamp.t)))
    }
}

pub fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Raises this process's soft open-file limit to the hard one (children such as the server
/// inherit it). Returns the limit in force.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(limit.rlim_cur)
}

/// The first line of an error, cut to a length that fits a tally label.
pub fn short(error: &str) -> String {
    let line = error.lines().next().unwrap_or_default();
    line.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use palaver_protocol::ws::ServerEvent;
    use palaver_protocol::{Message as ChatMessage, MessageKind, UserRef};

    use super::*;

    fn message(seq: i64, content: String, thread_root_id: Option<Uuid>) -> ChatMessage {
        ChatMessage {
            id: Uuid::now_v7(),
            room_id: Uuid::now_v7(),
            seq,
            updated_seq: seq,
            author: UserRef { id: Uuid::now_v7(), username: "a".into() },
            kind: MessageKind::Text,
            content,
            attachment: None,
            client_msg_id: None,
            created_at: time::OffsetDateTime::now_utc(),
            edited_at: None,
            deleted: false,
            thread_root_id,
            thread: None,
            reactions: vec![],
            via: None,
        }
    }

    fn encoded(event: ServerEvent) -> String {
        serde_json::to_string(&ServerEnvelope { id: None, event }).unwrap()
    }

    #[test]
    fn probe_reads_what_the_protocol_writes() {
        let stamp = Stamp { t: 42, p: 3, n: 7 };
        let text = encoded(ServerEvent::Message { seq: 9, message: message(9, stamp.content(), None) });
        let probe = EventProbe::parse(&text).unwrap();
        assert_eq!(probe.room_seq(), Some(9));
        assert!(!probe.is_reply());
        assert_eq!(serde_json::from_str::<Stamp>(&probe.message.unwrap().content).unwrap(), stamp);

        let text = encoded(ServerEvent::Message { seq: 10, message: message(10, "r".into(), Some(Uuid::now_v7())) });
        assert!(EventProbe::parse(&text).unwrap().is_reply(), "a reply: thread_root_id set");
    }

    /// Every frame kind with a `seq`: the probe takes it for resume exactly when the protocol
    /// calls it a room event.
    #[test]
    fn probe_room_seq_agrees_with_the_protocol() {
        let (room_id, user_id, message_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let events = [
            ServerEvent::Message { seq: 1, message: message(1, "m".into(), None) },
            ServerEvent::MessageUpdated { seq: 2, message: message(1, "m".into(), None) },
            ServerEvent::MessageDeleted { seq: 3, room_id, message_id },
            ServerEvent::Reaction { seq: 4, room_id, message_id, emoji: "👍".into(), user_id, added: false },
            ServerEvent::Read { room_id, user_id, seq: 5 },
            ServerEvent::ThreadRead { room_id, root_id: message_id, seq: 6 },
        ];
        for event in events {
            let text = encoded(event.clone());
            let probe = EventProbe::parse(&text).unwrap_or_else(|| panic!("unparsable: {text}"));
            assert_eq!(probe.room_seq(), event.seq(), "{text}");
            assert!(!probe.is_reply(), "{text}");
        }
    }
}
