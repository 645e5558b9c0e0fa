//! A WebSocket client for the tests: connects to `/api/v1/ws` (token in the query or in an
//! `Authorization` header), sends JSON frames and reads them with a timeout, so a missing
//! frame fails the test with a message instead of hanging it.
//!
//! Frames read while looking for something else (a reply by `id`, a frame of some `type`)
//! are kept, in arrival order, and handed out by the next reads.
//! (Over 400 lines: the one client every WebSocket test uses; its reads are its substance.)

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::{Api, TestUser};

/// How long a frame that must arrive may take.
pub const WS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a close that must arrive may take (frames before it are skipped).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);

/// The types of the room events that carry a `seq`.
pub const ROOM_EVENTS: [&str; 4] = ["message", "message_updated", "message_deleted", "reaction"];

/// What came off the socket.
#[derive(Debug)]
enum Incoming {
    Frame(Value),
    /// A close frame with its code, or (`code: None`) the connection ending without one
    /// (`ended` says how).
    Closed {
        code: Option<u16>,
        ended: Option<String>,
    },
}

pub struct WsClient {
    /// Who this is, for failure messages (`alice`, `alice#2`, ...).
    pub label: String,
    stream: WebSocketStream<TcpStream>,
    pending: VecDeque<Value>,
    next_id: u64,
    closed: bool,
}

/// How a handshake was refused.
#[derive(Debug)]
pub enum HandshakeError {
    /// The server answered HTTP with this status instead of upgrading.
    Status(u16),
    Other(String),
}

impl Api {
    /// `ws://127.0.0.1:<port>/api/v1/ws` followed by `query` (e.g. `"?token=..."` or `""`).
    pub fn ws_url(&self, query: &str) -> String {
        let host = self.address.strip_prefix("http://").expect("the app address is http://");
        format!("ws://{host}/api/v1/ws{query}")
    }

    /// Connects as `user` with `?token=`.
    pub async fn ws(&self, user: &TestUser) -> WsClient {
        self.ws_connect(&format!("?token={}", user.access_token), None, None)
            .await
            .unwrap_or_else(|e| panic!("{} could not connect with ?token=: {e:?}", user.username))
            .labelled(&user.username)
    }

    /// Connects as `user` with an `Authorization: Bearer` header.
    pub async fn ws_with_header(&self, user: &TestUser) -> WsClient {
        self.ws_connect("", Some(&user.access_token), None)
            .await
            .unwrap_or_else(|e| panic!("{} could not connect with a Bearer header: {e:?}", user.username))
            .labelled(&user.username)
    }

    /// Connects as `user` (`?token=`) over a socket whose kernel receive buffer is `bytes`:
    /// a client that stops reading then backs up into the server quickly.
    pub async fn ws_with_recv_buffer(&self, user: &TestUser, bytes: u32) -> WsClient {
        self.ws_connect(&format!("?token={}", user.access_token), None, Some(bytes))
            .await
            .unwrap_or_else(|e| panic!("{} could not connect: {e:?}", user.username))
            .labelled(&user.username)
    }

    /// The handshake as given: `query` appended to the URL, `bearer` as an `Authorization`
    /// header, `recv_buffer` as the socket's receive buffer size.
    pub async fn ws_connect(
        &self,
        query: &str,
        bearer: Option<&str>,
        recv_buffer: Option<u32>,
    ) -> Result<WsClient, HandshakeError> {
        let url = self.ws_url(query);
        let mut request = url.as_str().into_client_request().expect("a valid WebSocket URL");
        if let Some(token) = bearer {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("a token is a valid header value");
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        let address = self.address.strip_prefix("http://").unwrap().parse().expect("the app listens on an IP address");
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        if let Some(bytes) = recv_buffer {
            socket.set_recv_buffer_size(bytes).expect("setting the receive buffer size");
        }
        let tcp = tokio::time::timeout(WS_TIMEOUT, socket.connect(address))
            .await
            .expect("the TCP connection is made within 5 s")
            .map_err(|e| HandshakeError::Other(format!("TCP connect: {e}")))?;
        let handshake = tokio::time::timeout(WS_TIMEOUT, tokio_tungstenite::client_async(request, tcp))
            .await
            .expect("the server answers the WebSocket handshake within 5 s");
        match handshake {
            Ok((stream, _response)) => {
                Ok(WsClient { label: "client".into(), stream, pending: VecDeque::new(), next_id: 0, closed: false })
            }
            Err(WsError::Http(response)) => Err(HandshakeError::Status(response.status().as_u16())),
            Err(e) => Err(HandshakeError::Other(e.to_string())),
        }
    }

    /// Asserts the handshake is refused with this HTTP status.
    pub async fn ws_refused(&self, query: &str, bearer: Option<&str>, status: u16) {
        match self.ws_connect(query, bearer, None).await {
            Err(HandshakeError::Status(got)) => {
                assert_eq!(got, status, "handshake {query:?} (bearer {bearer:?}) refused with {got}, not {status}")
            }
            Err(HandshakeError::Other(e)) => {
                panic!("handshake {query:?} (bearer {bearer:?}) failed without an HTTP status ({e}), not {status}")
            }
            Ok(_) => panic!("handshake {query:?} (bearer {bearer:?}) was accepted; expected HTTP {status}"),
        }
    }
}

/// Frames for a failure message: long strings cut short, and only the first and last few
/// frames of a long list.
pub fn brief<'a>(frames: impl IntoIterator<Item = &'a Value>) -> String {
    fn shorten(value: &Value) -> Value {
        match value {
            Value::String(s) if s.chars().count() > 40 => {
                Value::String(format!("{}… ({} chars)", s.chars().take(20).collect::<String>(), s.chars().count()))
            }
            Value::Array(items) => Value::Array(items.iter().map(shorten).collect()),
            Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shorten(v))).collect()),
            other => other.clone(),
        }
    }
    let frames: Vec<&Value> = frames.into_iter().collect();
    let show = |list: &[&Value]| list.iter().map(|f| shorten(f).to_string()).collect::<Vec<_>>().join(", ");
    if frames.len() <= 12 {
        format!("[{}]", show(&frames))
    } else {
        let (head, tail) = (&frames[..4], &frames[frames.len() - 6..]);
        format!("[{}, … {} more …, {}] ({} frames)", show(head), frames.len() - 10, show(tail), frames.len())
    }
}

/// The frame's `type`, or `""`.
pub fn type_of(frame: &Value) -> &str {
    frame["type"].as_str().unwrap_or("")
}

/// The `seq` of a room event.
#[track_caller]
pub fn seq_of(frame: &Value) -> i64 {
    frame["seq"].as_i64().unwrap_or_else(|| panic!("a room event without an integer `seq`: {frame}"))
}

pub fn is_room_event(frame: &Value) -> bool {
    ROOM_EVENTS.contains(&type_of(frame))
}

/// The room events of `room_id` among `frames`, in order.
pub fn room_events(frames: &[Value], room_id: &str) -> Vec<Value> {
    frames.iter().filter(|f| is_room_event(f) && event_room(f) == room_id).cloned().collect()
}

/// The room a room event belongs to (`message_deleted` names it; the others carry the message).
pub fn event_room(frame: &Value) -> &str {
    frame["room_id"].as_str().or_else(|| frame["message"]["room_id"].as_str()).unwrap_or("")
}

/// `(seq, type)` of each room event.
pub fn seqs_and_types(events: &[Value]) -> Vec<(i64, String)> {
    events.iter().map(|e| (seq_of(e), type_of(e).to_owned())).collect()
}

impl WsClient {
    pub fn labelled(mut self, label: &str) -> Self {
        self.label = label.to_owned();
        self
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    /// Sends a text frame as is (it need not be JSON).
    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        let label = self.label.clone();
        self.send_message(Message::text(text)).await.unwrap_or_else(|e| panic!("{label}: sending a frame failed: {e}"));
    }

    /// Sends any message; the error is the caller's to judge (a flood may outrun a close).
    pub async fn send_message(&mut self, message: Message) -> Result<(), WsError> {
        tokio::time::timeout(WS_TIMEOUT, self.stream.send(message))
            .await
            .unwrap_or_else(|_| panic!("{}: sending a frame took over 5 s", self.label))
    }

    /// Writes one WebSocket frame byte for byte, past the client library (which would refuse
    /// to send a bad one): `head` is the first byte (FIN, reserved bits, opcode), `masked`
    /// whether the payload is masked as a client must (RFC 6455 5.3), `payload` under 126 bytes.
    pub async fn send_raw_frame(&mut self, head: u8, masked: bool, payload: &[u8]) {
        assert!(payload.len() < 126, "a raw frame here has a one-byte length");
        const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
        let mut bytes = vec![head, payload.len() as u8 | if masked { 0x80 } else { 0 }];
        if masked {
            bytes.extend_from_slice(&MASK);
            bytes.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        } else {
            bytes.extend_from_slice(payload);
        }
        let label = self.label.clone();
        let tcp = self.stream.get_mut();
        tokio::time::timeout(WS_TIMEOUT, tcp.write_all(&bytes))
            .await
            .unwrap_or_else(|_| panic!("{label}: writing a raw frame took over 5 s"))
            .unwrap_or_else(|e| panic!("{label}: writing a raw frame failed: {e}"));
    }

    /// Reads the next thing off the socket before `deadline`; `None` on timeout.
    async fn read(&mut self, deadline: Instant) -> Option<Incoming> {
        if self.closed {
            return Some(Incoming::Closed { code: None, ended: Some("already closed".into()) });
        }
        loop {
            let next = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(next) => next,
            };
            let message = match next {
                None => {
                    self.closed = true;
                    return Some(Incoming::Closed { code: None, ended: Some("the stream ended".into()) });
                }
                Some(Err(e)) => {
                    self.closed = true;
                    return Some(Incoming::Closed { code: None, ended: Some(e.to_string()) });
                }
                Some(Ok(message)) => message,
            };
            match message {
                Message::Text(text) => {
                    let frame = serde_json::from_str(text.as_str()).unwrap_or_else(|e| {
                        panic!("{}: the server sent a frame that is not JSON ({e}): {text}", self.label)
                    });
                    return Some(Incoming::Frame(frame));
                }
                Message::Binary(bytes) => panic!("{}: the server sent a binary frame: {bytes:?}", self.label),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(frame) => {
                    self.closed = true;
                    let code = frame.map(|f| u16::from(f.code));
                    let ended = code.is_none().then(|| "a close frame without a code".to_owned());
                    return Some(Incoming::Closed { code, ended });
                }
            }
        }
    }

    /// The next frame off the network (not the kept ones), or a panic on timeout or close.
    async fn read_frame(&mut self, timeout: Duration, waiting_for: &dyn Fn() -> String) -> Value {
        match self.read(Instant::now() + timeout).await {
            Some(Incoming::Frame(frame)) => frame,
            None => panic!(
                "{}: no frame within {timeout:?} while waiting for {}; frames kept unread: {}",
                self.label,
                waiting_for(),
                brief(&self.pending)
            ),
            Some(Incoming::Closed { code, ended }) => panic!(
                "{}: the socket closed (code {code:?}, {ended:?}) while waiting for {}; frames kept unread: {}",
                self.label,
                waiting_for(),
                brief(&self.pending)
            ),
        }
    }

    /// The next frame (a kept one first), within 5 s.
    pub async fn next_json(&mut self) -> Value {
        self.next_json_within(WS_TIMEOUT).await
    }

    pub async fn next_json_within(&mut self, timeout: Duration) -> Value {
        if let Some(frame) = self.pending.pop_front() {
            return frame;
        }
        self.read_frame(timeout, &|| "any frame".to_owned()).await
    }

    /// The next frame, which must be of type `kind`.
    #[track_caller]
    pub fn expect_type(&mut self, kind: &str) -> impl Future<Output = Value> + '_ {
        let caller = std::panic::Location::caller();
        let kind = kind.to_owned();
        async move {
            let frame = self.next_json().await;
            let shown = brief([&frame]);
            assert_eq!(type_of(&frame), kind, "{}: expected a `{kind}` frame at {caller}, got {shown}", self.label);
            frame
        }
    }

    /// The first frame (kept ones first, then new ones within 5 s each) that `matches`;
    /// the frames passed over are kept for later reads.
    pub async fn next_matching(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        self.next_matching_within(WS_TIMEOUT, what, matches).await
    }

    /// [`next_matching`](Self::next_matching), each new frame within `timeout`.
    pub async fn next_matching_within(
        &mut self,
        timeout: Duration,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(index) = self.pending.iter().position(&matches) {
            return self.pending.remove(index).expect("the index is in range");
        }
        loop {
            let frame = self.read_frame(timeout, &|| what.to_owned()).await;
            if matches(&frame) {
                return frame;
            }
            self.pending.push_back(frame);
        }
    }

    /// The first frame of type `kind`, passing over (and keeping) others.
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        let what = format!("a `{kind}` frame");
        self.next_matching(&what, |f| type_of(f) == kind).await
    }

    /// Sends `frame` (given an `id` if it has none) and returns the frame that answers it
    /// (same `id`); pushed events received meanwhile are kept.
    pub async fn request(&mut self, mut frame: Value) -> Value {
        if frame.get("id").is_none() {
            self.next_id += 1;
            frame["id"] = json!(format!("{}-{}", self.label, self.next_id));
        }
        let id = frame["id"].clone();
        self.send(frame.clone()).await;
        let what = format!("the reply to {}", brief([&frame]));
        self.next_matching(&what, |f| f.get("id") == Some(&id)).await
    }

    /// `subscribe` (with `since_seq` if given), asserting the `subscribed` reply.
    pub async fn subscribe(&mut self, room_id: &str, since_seq: Option<i64>) -> Value {
        let mut frame = json!({"type": "subscribe", "room_id": room_id});
        if let Some(since) = since_seq {
            frame["since_seq"] = json!(since);
        }
        let reply = self.request(frame).await;
        assert_eq!(type_of(&reply), "subscribed", "{}: subscribing to {room_id}: {reply}", self.label);
        assert_eq!(reply["room_id"], room_id, "{}: {reply}", self.label);
        assert!(reply["last_seq"].is_i64(), "{}: `subscribed` without an integer last_seq: {reply}", self.label);
        reply
    }

    /// Every frame (kept ones first) up to and including the first that `done` accepts;
    /// each must arrive within 5 s of the previous one.
    pub async fn collect_until(&mut self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Some(frame) = self.pending.pop_front() {
            let last = done(&frame);
            frames.push(frame);
            if last {
                return frames;
            }
        }
        loop {
            let what = || format!("the end of a collection; collected so far: {}", brief(&frames));
            let frame = self.read_frame(WS_TIMEOUT, &what).await;
            let last = done(&frame);
            frames.push(frame);
            if last {
                return frames;
            }
        }
    }

    /// Room events of `room_id` up to and including the one with `seq`, skipping (and
    /// dropping) everything else.
    pub async fn room_events_until(&mut self, room_id: &str, seq: i64) -> Vec<Value> {
        let frames = self.collect_until(|f| is_room_event(f) && event_room(f) == room_id && f["seq"] == seq).await;
        room_events(&frames, room_id)
    }

    /// The frames received until the server closes (within 15 s) and the close code (`None`:
    /// the connection ended without a close frame, `ended` says how).
    pub async fn frames_until_close(&mut self) -> (Vec<Value>, Option<u16>, Option<String>) {
        let mut frames: Vec<Value> = self.pending.drain(..).collect();
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        loop {
            match self.read(deadline).await {
                Some(Incoming::Frame(frame)) => frames.push(frame),
                Some(Incoming::Closed { code, ended }) => return (frames, code, ended),
                None => panic!(
                    "{}: the server did not close the socket within {} s; received meanwhile: {}",
                    self.label,
                    CLOSE_TIMEOUT.as_secs(),
                    brief(&frames)
                ),
            }
        }
    }

    /// Waits (up to 15 s, skipping frames) for the server to close with `code`; returns the
    /// code received.
    pub async fn expect_close(&mut self, code: u16) -> u16 {
        let (frames, got, ended) = self.frames_until_close().await;
        let got = got.unwrap_or_else(|| {
            let frames = brief(&frames);
            panic!(
                "{}: the connection ended without a close frame ({ended:?}), not {code}; frames before: {frames}",
                self.label
            )
        });
        assert_eq!(got, code, "{}: closed with {got} instead of {code}; frames before: {}", self.label, brief(&frames));
        got
    }

    /// Sends a `ping` and reads up to its `pong`; returns the frames that came before it.
    ///
    /// The server acts on a socket's frames one at a time, in order, and writes what it
    /// queued for the socket in order: whatever this socket's earlier frames (and requests
    /// that have been answered, since the server publishes before it answers) caused for
    /// this socket was queued before the `pong`, so it has arrived by now. Use it as a
    /// barrier instead of waiting for "long enough".
    async fn frames_before_pong(&mut self) -> Vec<Value> {
        self.next_id += 1;
        let id = json!(format!("{}-barrier-{}", self.label, self.next_id));
        self.send(json!({"type": "ping", "id": id})).await;
        let mut before = Vec::new();
        loop {
            let what = || format!("the pong of the barrier {id}; before it: {}", brief(&before));
            let frame = self.read_frame(WS_TIMEOUT, &what).await;
            if type_of(&frame) == "pong" && frame["id"] == id {
                return before;
            }
            before.push(frame);
        }
    }

    /// [`frames_before_pong`](Self::frames_before_pong), keeping those frames for later
    /// reads: once this returns, everything this socket's handled frames caused is here.
    pub async fn barrier(&mut self) {
        let frames = self.frames_before_pong().await;
        self.pending.extend(frames);
    }

    /// Asserts that nothing is kept unread and nothing arrives before a ping's pong.
    pub async fn assert_silent(&mut self) {
        assert!(
            self.pending.is_empty(),
            "{}: expected silence, but frames are unread: {}",
            self.label,
            brief(&self.pending)
        );
        let frames = self.frames_before_pong().await;
        assert!(frames.is_empty(), "{}: expected nothing before the pong, got {}", self.label, brief(&frames));
    }

    /// Asserts that no frame `matching` is kept or arrives before a ping's pong; other
    /// frames are kept for later reads.
    pub async fn assert_none_matching(&mut self, what: &str, matching: impl Fn(&Value) -> bool) {
        if let Some(frame) = self.pending.iter().find(|f| matching(f)) {
            panic!("{}: expected no {what}, got {}", self.label, brief([frame]));
        }
        let frames = self.frames_before_pong().await;
        if let Some(frame) = frames.iter().find(|f| matching(f)) {
            panic!("{}: expected no {what} before the pong, got {}", self.label, brief([frame]));
        }
        self.pending.extend(frames);
    }

    /// Asserts that no room event (`message`, `message_updated`, `message_deleted`) of
    /// `room_id` is kept or arrives before a ping's pong.
    pub async fn assert_no_room_events(&mut self, room_id: &str) {
        let what = format!("room event of {room_id}");
        self.assert_none_matching(&what, |f| is_room_event(f) && event_room(f) == room_id).await;
    }

    /// Asserts that no frame `matching` is kept or arrives for `duration`; other frames are
    /// kept. Only for what neither this socket's frames nor an answered request cause (a
    /// timer on the server, such as the presence grace period), where no barrier can tell
    /// that it will not come: say why at the call.
    pub async fn assert_none_matching_for(
        &mut self,
        duration: Duration,
        what: &str,
        matching: impl Fn(&Value) -> bool,
    ) {
        if let Some(frame) = self.pending.iter().find(|f| matching(f)) {
            panic!("{}: expected no {what}, got {}", self.label, brief([frame]));
        }
        let deadline = Instant::now() + duration;
        loop {
            match self.read(deadline).await {
                None => return,
                Some(Incoming::Frame(frame)) if matching(&frame) => {
                    panic!("{}: expected no {what} for {duration:?}, got {}", self.label, brief([&frame]))
                }
                Some(Incoming::Frame(frame)) => self.pending.push_back(frame),
                Some(Incoming::Closed { code, ended }) => {
                    panic!("{}: expected the socket to stay open, but it closed ({code:?}, {ended:?})", self.label)
                }
            }
        }
    }

    /// The frames kept so far (read while looking for something else), removed.
    pub fn take_kept(&mut self) -> Vec<Value> {
        self.pending.drain(..).collect()
    }

    /// `ping` with an id, asserting the `pong` with that id: the socket is open and served.
    pub async fn assert_alive(&mut self) {
        let reply = self.request(json!({"type": "ping"})).await;
        assert_eq!(type_of(&reply), "pong", "{}: ping answered with {reply}", self.label);
    }

    /// Closes from the client side and waits for the server's close (so the server has
    /// seen the socket go before this returns).
    pub async fn close(mut self) {
        if self.closed {
            return;
        }
        let _ = self.stream.close(None).await;
        let deadline = Instant::now() + WS_TIMEOUT;
        loop {
            match self.read(deadline).await {
                Some(Incoming::Frame(_)) => continue,
                Some(Incoming::Closed { .. }) => return,
                None => panic!("{}: the server did not answer a close within 5 s", self.label),
            }
        }
    }
}
