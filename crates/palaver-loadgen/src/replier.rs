//! One streamed reply of the assistant, as a client sees it: send a message
//! (`POST /chat/conversations/{id}/stream`), read the server-sent events to their end, check
//! them against what the fake upstream sent (every numbered chunk once, in order, event ids
//! gapless, the last event `complete` with the upstream's usage) and time them.

use std::time::Duration;

use palaver_protocol::{ReplyEvent, Usage};
use uuid::Uuid;

use crate::checker::{SeqCheck, SeqLedger, SeqSet};
use crate::client::{Api, HttpError, short, unix_nanos};
use crate::stats::LatencyBatch;
use crate::upstream::Token;

/// The longest line of the event stream read; the server's events are a few hundred bytes.
const MAX_LINE: usize = 64 * 1024;

pub struct ReplySpec {
    pub token: String,
    pub conversation: Uuid,
    pub message: String,
    /// Chunks the upstream sends, numbered from 0.
    pub tokens: u64,
    /// Bounds the whole reply.
    pub timeout: Duration,
}

/// How a reply ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Complete,
    /// The server's `error` event.
    Error(String),
    /// The send was refused (HTTP status) or never answered.
    Refused(String),
    /// The stream broke (transport error, timeout, garbled SSE).
    Broken(String),
    /// The stream ended without a last event.
    Truncated,
}

impl Ending {
    /// A label for tallies.
    pub fn label(&self) -> String {
        match self {
            Ending::Complete => "complete".into(),
            Ending::Error(e) => format!("error event: {e}"),
            Ending::Refused(e) => format!("refused: {e}"),
            Ending::Broken(e) => format!("broken: {e}"),
            Ending::Truncated => "ended without complete or error".into(),
        }
    }
}

/// Times are Unix nanoseconds, the upstream's clock.
pub struct ReplyOutcome {
    pub ending: Ending,
    pub sent_at: u64,
    /// When the response head came: the server has stored the message and started the reply.
    pub head_at: Option<u64>,
    pub first_chunk_at: Option<u64>,
    pub ended_at: u64,
    /// The upstream's chunk numbers + 1, in arrival order.
    pub chunks: SeqLedger,
    pub event_ids: SeqLedger,
    /// Events that a plain streamed answer does not have (tool calls, a second `start`,
    /// anything after the last event, data that is no event, content that is no token).
    pub unexpected_events: u64,
    pub usage: Option<Usage>,
}

impl ReplyOutcome {
    /// The upstream's chunks: each once, in order.
    pub fn chunk_check(&self, tokens: u64) -> SeqCheck {
        self.chunks.verify(&SeqSet::upto(tokens as i64))
    }

    /// The event ids: 1, 2, 3, ... without a gap up to the last one received.
    pub fn event_id_check(&self) -> SeqCheck {
        self.event_ids.verify(&SeqSet::upto(self.event_ids.max_seen()))
    }
}

/// Runs one reply to its end; each chunk's delivery time (arrival minus the upstream's send
/// stamp) goes to `delivery`.
pub async fn run(api: &Api, spec: &ReplySpec, delivery: &mut LatencyBatch<'_>) -> ReplyOutcome {
    let sent_at = unix_nanos();
    let mut out = ReplyOutcome {
        ending: Ending::Truncated,
        sent_at,
        head_at: None,
        first_chunk_at: None,
        ended_at: sent_at,
        chunks: SeqLedger::default(),
        event_ids: SeqLedger::default(),
        unexpected_events: 0,
        usage: None,
    };
    let mut response = match api.stream_reply(&spec.token, spec.conversation, &spec.message, spec.timeout).await {
        Ok(response) => response,
        Err(e) => {
            out.ending = Ending::Refused(e.label());
            out.ended_at = unix_nanos();
            return out;
        }
    };
    out.head_at = Some(unix_nanos());
    let (mut reader, mut events, mut ended) = (SseReader::default(), Vec::new(), false);
    loop {
        let bytes = match response.chunk().await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => break,
            Err(e) => {
                out.ending = Ending::Broken(HttpError::transport(e).label());
                break;
            }
        };
        // Everything in one read arrived at once.
        let at = unix_nanos();
        if let Err(e) = reader.feed(&bytes, &mut events) {
            out.ending = Ending::Broken(e);
            break;
        }
        for event in events.drain(..) {
            if ended {
                out.unexpected_events += 1;
                continue;
            }
            ended = out.take(event, at, delivery);
        }
    }
    out.ended_at = unix_nanos();
    out
}

impl ReplyOutcome {
    /// Takes one event; `true` if it was the last one.
    fn take(&mut self, event: SseEvent, at: u64, delivery: &mut LatencyBatch<'_>) -> bool {
        let first = self.event_ids.max_seen() == 0;
        match event.id {
            Some(id) => {
                self.event_ids.record(id);
            }
            None => self.unexpected_events += 1,
        }
        let Ok(event) = serde_json::from_str::<ReplyEvent>(&event.data) else {
            self.unexpected_events += 1;
            return false;
        };
        match event {
            ReplyEvent::Start { .. } if first => {}
            ReplyEvent::Chunk { content } => match Token::parse_all(&content) {
                Some(tokens) => {
                    self.first_chunk_at.get_or_insert(at);
                    for token in tokens {
                        self.chunks.record(token.n as i64 + 1);
                        delivery.record_micros((at / 1000).saturating_sub(token.sent_micros));
                    }
                }
                None => self.unexpected_events += 1,
            },
            ReplyEvent::Complete { usage, .. } => {
                self.usage = Some(usage);
                self.ending = Ending::Complete;
                return true;
            }
            ReplyEvent::Error { error, .. } => {
                self.ending = Ending::Error(short(&error));
                return true;
            }
            ReplyEvent::Start { .. } | ReplyEvent::ToolCall { .. } | ReplyEvent::ToolResult { .. } => {
                self.unexpected_events += 1;
            }
        }
        false
    }
}

/// One server-sent event: its own `id:` (the server gives every event one, so unlike a
/// browser this does not carry an id over to the next event) and its `data:` lines joined
/// by `\n`.
#[derive(Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub data: String,
}

/// Lines into events. `event:`, `retry:` and `:` comments (keep-alives) are dropped.
#[derive(Default)]
pub struct SseReader {
    line: Vec<u8>,
    id: Option<i64>,
    data: Option<String>,
}

impl SseReader {
    pub fn feed(&mut self, mut bytes: &[u8], events: &mut Vec<SseEvent>) -> Result<(), String> {
        while !bytes.is_empty() {
            let (piece, rest, ends) = match bytes.iter().position(|&b| b == b'\n') {
                Some(at) => (&bytes[..at], &bytes[at + 1..], true),
                None => (bytes, &[][..], false),
            };
            if self.line.len() + piece.len() > MAX_LINE {
                return Err(format!("an SSE line over {MAX_LINE} bytes"));
            }
            self.line.extend_from_slice(piece);
            if ends {
                self.end_line(events)?;
            }
            bytes = rest;
        }
        Ok(())
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) -> Result<(), String> {
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                events.push(SseEvent { id: self.id.take(), data });
            }
            return Ok(());
        }
        let line = String::from_utf8(line).map_err(|_| "the event stream is not UTF-8".to_owned())?;
        let (field, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => match &mut self.data {
                Some(data) if data.len() + value.len() < MAX_LINE => {
                    data.push('\n');
                    data.push_str(value);
                }
                Some(_) => return Err(format!("an SSE event over {MAX_LINE} bytes")),
                None => self.data = Some(value.to_owned()),
            },
            "id" => self.id = Some(value.trim().parse().map_err(|_| format!("an SSE id that is no number: {value}"))?),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_reads_with_comments_and_crlf() {
        let stream = "id: 1\ndata: {\"a\":1}\n\n: keep-alive\n\nid: 2\r\ndata: x\r\ndata: y\r\n\r\n";
        let mut reader = SseReader::default();
        let mut events = Vec::new();
        for piece in stream.as_bytes().chunks(5) {
            reader.feed(piece, &mut events).unwrap();
        }
        assert_eq!(
            events,
            vec![SseEvent { id: Some(1), data: "{\"a\":1}".into() }, SseEvent { id: Some(2), data: "x\ny".into() }]
        );
        assert!(SseReader::default().feed(&vec![b'a'; MAX_LINE + 1], &mut events).is_err());
        assert!(SseReader::default().feed(b"id: seven\n", &mut events).is_err());
    }
}
