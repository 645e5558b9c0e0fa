//! The reader: parses client frames and calls the services, one frame at a time and in
//! order. Sends to one room are pipelined: each is queued for the room's writer in order,
//! and the reader goes on to the next frame while the earlier ones are stored, so a busy
//! sender's posts are committed together and acked in order. Any other frame (or a send
//! to another room) waits until the sends before it are answered.
//!
//! A frame that is not a valid client frame gets an `error` frame; flooding (1008),
//! oversized frames (1009), token expiry (1008), text that is not UTF-8 (1007) and WebSocket
//! protocol violations (1002) close the socket.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::stream::{FuturesOrdered, SplitStream};
use futures_util::{Future, StreamExt};
use palaver_protocol::PostMessageRequest;
use palaver_protocol::ws::{ClientEnvelope, ClientFrame, ServerEvent, close};
use tokio::sync::oneshot;

use super::SessionServices;
use super::session::Activity;
use crate::config::WsConfig;
use crate::domain::{ConversationId, MessageId, RoomId};
use crate::error::Error;
use crate::ratelimit::RateLimit;
use crate::realtime::{KillSwitch, Outbox, Outgoing, SubscribeRequest, encode};
use crate::service::{Caller, Posting, Sender};

/// Typing lasts this long without renewal (contract: 6 s).
const TYPING_TTL: Duration = Duration::from_secs(6);
/// A renewal is re-announced at most this often.
const TYPING_REANNOUNCE: Duration = Duration::from_secs(3);
/// Sends queued and not yet answered before the reader stops reading the socket.
const SENDS_IN_FLIGHT: usize = 64;

/// A send's outcome: its room, whether it was stored, and the frame that says so (its ack
/// or its error). Encoded as soon as it is known, so what waits in the reader's loop is a
/// few words rather than the whole message.
struct Answer {
    room_id: RoomId,
    stored: bool,
    frame: Utf8Bytes,
}

/// A queued send's answer, to await.
type Pending = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// Sends queued and not answered yet, in the order they were sent, all to one room.
/// Allocated by the socket's first send: most sockets only listen.
#[derive(Default)]
struct Sending {
    room: Option<RoomId>,
    answers: Option<Box<FuturesOrdered<Pending>>>,
}

impl Sending {
    fn len(&self) -> usize {
        self.answers.as_ref().map_or(0, |answers| answers.len())
    }

    /// Whether a send to `room_id` may queue behind these.
    fn takes(&self, room_id: RoomId) -> bool {
        self.len() == 0 || self.room == Some(room_id)
    }

    fn push(&mut self, room_id: RoomId, answer: impl Future<Output = Answer> + Send + 'static) {
        self.room = Some(room_id);
        self.answers.get_or_insert_default().push_back(Box::pin(answer));
    }

    async fn next(&mut self) -> Option<Answer> {
        self.answers.as_mut()?.next().await
    }
}

pub struct Reader {
    services: Arc<SessionServices>,
    caller: Caller,
    outbox: Outbox,
    rate: RateLimit,
    activity: Arc<Activity>,
    /// Room → (expires, last announced) for rooms the user is typing in.
    typing: HashMap<RoomId, (Instant, Instant)>,
    /// The socket's sends, from its first one (most sockets only listen).
    sender: Option<Box<Sender>>,
}

pub fn error_event(e: &Error) -> ServerEvent {
    let message = match e {
        Error::Internal(inner) => {
            tracing::error!(error = format!("{inner:#}"), "internal error in a WebSocket frame");
            "internal error".to_owned()
        }
        other => other.to_string(),
    };
    ServerEvent::Error { code: e.code().to_owned(), message }
}

impl Reader {
    pub fn new(
        services: Arc<SessionServices>,
        caller: Caller,
        outbox: Outbox,
        config: &WsConfig,
        activity: Arc<Activity>,
    ) -> Self {
        Self {
            services,
            caller,
            outbox,
            rate: RateLimit::new(config.rate_per_sec, config.rate_burst),
            activity,
            typing: HashMap::new(),
            sender: None,
        }
    }

    /// Reads the socket until it ends or the session is killed. (By reference: a reader
    /// moved into its own future would be held there twice.)
    pub async fn run(&mut self, mut stream: SplitStream<WebSocket>, kill: KillSwitch, expires_at: i64) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let expiry = tokio::time::Instant::now() + Duration::from_secs(expires_at.saturating_sub(now).max(0) as u64);
        // Only while the user is typing somewhere: an idle socket holds no timer for it.
        let mut typing_tick: Option<tokio::time::Interval> = None;
        let killed = kill.reader_tripped();
        let expired = tokio::time::sleep_until(expiry);
        let mut sending = Sending::default();
        tokio::pin!(killed, expired);
        loop {
            match (&typing_tick, self.typing.is_empty()) {
                (None, false) => typing_tick = Some(tokio::time::interval(Duration::from_secs(1))),
                (Some(_), true) => typing_tick = None,
                _ => {}
            }
            tokio::select! {
                biased;
                () = &mut killed => break,
                () = &mut expired => {
                    kill.trip(close::POLICY);
                    break;
                }
                Some(answer) = sending.next(), if sending.len() > 0 => self.answered(answer),
                _ = tick(&mut typing_tick) => self.expire_typing(),
                // A full pipeline stops reading: the client's sends wait in the socket.
                message = stream.next(), if sending.len() < SENDS_IN_FLIGHT => {
                    let message = match message {
                        None => break,
                        Some(Ok(message)) => message,
                        Some(Err(e)) => {
                            if let Some(code) = close_code_for(e) {
                                kill.trip(code);
                            }
                            break;
                        }
                    };
                    self.activity.touch();
                    match message {
                        Message::Text(text) => {
                            if !self.rate.take() {
                                kill.trip(close::POLICY);
                                break;
                            }
                            // Boxed: the idle socket's task should not be sized for the
                            // deepest service call.
                            let placed = Box::pin(self.frame(text.as_str(), &mut sending)).await;
                            // A subscription takes effect before the next frame does.
                            if let Some(placed) = placed {
                                tokio::select! {
                                    biased;
                                    () = &mut killed => break,
                                    () = &mut expired => {
                                        kill.trip(close::POLICY);
                                        break;
                                    }
                                    _ = placed => {}
                                }
                            }
                        }
                        Message::Binary(_) => {
                            if !self.rate.take() {
                                kill.trip(close::POLICY);
                                break;
                            }
                            self.settle(&mut sending).await;
                            let message = "frames are JSON text".into();
                            self.reply(None, &ServerEvent::Error { code: "bad_frame".into(), message });
                        }
                        Message::Close(_) => break,
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                }
            }
        }
        for room_id in std::mem::take(&mut self.typing).into_keys() {
            self.services.messages.publish_typing(&self.caller, room_id, false);
        }
    }

    fn reply(&self, id: Option<serde_json::Value>, event: &ServerEvent) {
        self.outbox.push(Outgoing::Reply(Box::new(encode(id, event))));
    }

    /// Answers a send: its ack, or why it failed.
    fn answered(&mut self, Answer { room_id, stored, frame }: Answer) {
        if stored {
            self.typing.remove(&room_id);
        }
        self.outbox.push(Outgoing::Reply(Box::new(frame)));
    }

    /// Waits for every send in flight and answers it.
    async fn settle(&mut self, sending: &mut Sending) {
        while let Some(answer) = sending.next().await {
            self.answered(answer);
        }
    }

    /// Acts on one frame. For a `subscribe`, returns what completes once the writer has
    /// put the subscription in place: the next frame must wait for it. A `send` is queued
    /// behind the sends in flight (to the same room); anything else waits for their answers.
    async fn frame(&mut self, text: &str, sending: &mut Sending) -> Option<oneshot::Receiver<()>> {
        let envelope: ClientEnvelope = match serde_json::from_str(text) {
            Ok(envelope) => envelope,
            Err(e) => {
                // Answered in its turn, after the sends before it.
                self.settle(sending).await;
                // Echo the id if the frame had one, so the client can match the error.
                let id = serde_json::from_str::<serde_json::Value>(text).ok().and_then(|v| v.get("id").cloned());
                let event = ServerEvent::Error { code: "bad_frame".into(), message: e.to_string() };
                self.reply(id, &event);
                return None;
            }
        };
        let id = envelope.id;
        match &envelope.frame {
            ClientFrame::Send { room_id, .. } if sending.takes(RoomId::from_uuid(*room_id)) => {}
            _ => self.settle(sending).await,
        }
        // The frame's ids are the wire's bare UUIDs; typed once, here.
        let result = match envelope.frame {
            ClientFrame::Ping => {
                self.reply(id, &ServerEvent::Pong);
                return None;
            }
            ClientFrame::Subscribe { room_id, since_seq } => {
                let room_id = RoomId::from_uuid(room_id);
                let (placed, in_place) = oneshot::channel();
                let request = SubscribeRequest { id, room_id, since_seq, placed: Some(placed) };
                self.outbox.push(Outgoing::Subscribe(Box::new(request)));
                return Some(in_place);
            }
            ClientFrame::Unsubscribe { room_id } => {
                let room_id = RoomId::from_uuid(room_id);
                let request = SubscribeRequest { id, room_id, since_seq: None, placed: None };
                self.outbox.push(Outgoing::Unsubscribe(Box::new(request)));
                return None;
            }
            ClientFrame::Send { room_id, content, upload_id, client_msg_id, thread_root_id } => {
                let room_id = RoomId::from_uuid(room_id);
                let req = PostMessageRequest { content, upload_id, client_msg_id, thread_root_id };
                // Even a send refused at once is answered in its turn, after the earlier acks.
                let posting = self.send(room_id, req).await;
                sending.push(room_id, async move {
                    let result = match posting {
                        Ok(posting) => posting.answer().await.map(|(message, _)| message),
                        Err(e) => Err(e),
                    };
                    let stored = result.is_ok();
                    let frame = match result {
                        Ok(message) => encode(id, &ServerEvent::Ack { message }),
                        Err(e) => encode(id, &error_event(&e)),
                    };
                    Answer { room_id, stored, frame }
                });
                return None;
            }
            ClientFrame::React { room_id, message_id, emoji, added } => {
                let (room_id, message_id) = (RoomId::from_uuid(room_id), MessageId::from_uuid(message_id));
                let reacted = self.services.messages.react(&self.caller, room_id, message_id, &emoji, added).await;
                reacted.map(|message| self.reply(id.clone(), &ServerEvent::Ack { message }))
            }
            ClientFrame::Typing { room_id, active } => self.typing(RoomId::from_uuid(room_id), active).await,
            ClientFrame::Read { room_id, seq } => {
                self.services.messages.mark_read(&self.caller, RoomId::from_uuid(room_id), seq).await
            }
            // The reply's events reach every session of the user as `assistant.*` frames.
            ClientFrame::AssistantSend { conversation_id, message } => {
                let conversation = ConversationId::from_uuid(conversation_id);
                self.services.assistant.start_reply(&self.caller, conversation, &message).await.map(drop)
            }
            ClientFrame::AssistantCancel { conversation_id } => {
                self.services.assistant.cancel_reply(&self.caller, ConversationId::from_uuid(conversation_id)).await
            }
        };
        if let Err(e) = result {
            self.reply(id, &error_event(&e));
        }
        None
    }

    /// Queues a post through the socket's sender (the send path REST takes too).
    async fn send(&mut self, room_id: RoomId, req: PostMessageRequest) -> Result<Posting, Error> {
        let (messages, caller) = (&self.services.messages, &self.caller);
        let sender = self.sender.get_or_insert_with(|| Box::new(messages.sender(caller.clone())));
        sender.send(room_id, req).await
    }

    async fn typing(&mut self, room_id: RoomId, active: bool) -> Result<(), Error> {
        let now = Instant::now();
        if !active {
            if self.typing.remove(&room_id).is_some() {
                self.services.messages.publish_typing(&self.caller, room_id, false);
            }
            return Ok(());
        }
        match self.typing.get_mut(&room_id) {
            Some((expires, announced)) => {
                *expires = now + TYPING_TTL;
                if now.duration_since(*announced) >= TYPING_REANNOUNCE {
                    *announced = now;
                    self.services.messages.publish_typing(&self.caller, room_id, true);
                }
                Ok(())
            }
            None => {
                self.services.messages.typing(&self.caller, room_id, true).await?;
                self.typing.insert(room_id, (now + TYPING_TTL, now));
                Ok(())
            }
        }
    }

    fn expire_typing(&mut self) {
        let now = Instant::now();
        let expired: Vec<RoomId> =
            self.typing.iter().filter(|(_, (expires, _))| *expires <= now).map(|(room, _)| *room).collect();
        for room_id in expired {
            self.typing.remove(&room_id);
            self.services.messages.publish_typing(&self.caller, room_id, false);
        }
    }
}

/// The next tick of a timer that may not be running (then never).
async fn tick(interval: &mut Option<tokio::time::Interval>) -> tokio::time::Instant {
    match interval {
        Some(interval) => interval.tick().await,
        None => std::future::pending().await,
    }
}

/// The close code for what the WebSocket layer refused to read; `None` when the connection
/// just went away (nobody is left to tell).
fn close_code_for(e: axum::Error) -> Option<u16> {
    use tungstenite::error::{Error, ProtocolError};
    match e.into_inner().downcast_ref::<Error>()? {
        // A frame over `max_message_size`.
        Error::Capacity(_) => Some(close::TOO_BIG),
        Error::Utf8(_) => Some(close::INVALID_PAYLOAD),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        Error::Protocol(_) => Some(close::PROTOCOL_ERROR),
        _ => None,
    }
}
