//! The answers of [`FakeLlm::paced`](super::FakeLlm::paced): numbered content chunks at a set
//! rate, then a finish chunk, a usage chunk and `data: [DONE]`.
//!
//! A request names its reply by the marker in its last user message ([`marker`]); the fake
//! records when that request arrived and when its first chunk went out, so the `assistant`
//! scenario can take the upstream's own time to first chunk out of what the client saw.
//! Every chunk's content is one [`Token`]: its number and when it was sent, on the clock of
//! [`unix_nanos`], so the client measures each chunk's delivery through the server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::WriteHalf;
use tokio::time::Instant;

use super::reply::{content_chunk, data_line, finish_chunk, usage_chunk};
use super::{LAST_CHUNK, SSE_HEAD, write_chunk};
use crate::client::unix_nanos;
use crate::stats::{LatencyBatch, SharedLatency};

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

/// The timing of the reply `body` names, if it names one that had no request yet.
pub(super) fn timing_of<'t>(body: &Value, timings: &'t [Timing], received_at: u64) -> Option<&'t Timing> {
    let messages = body.get("messages")?.as_array()?;
    let last_user = messages.iter().rev().find(|m| m["role"] == "user")?;
    let timing = timings.get(parse_marker(last_user["content"].as_str()?)?)?;
    let first = timing.request_at.compare_exchange(0, received_at, Ordering::Relaxed, Ordering::Relaxed);
    first.is_ok().then_some(timing)
}

/// The streamed answer: numbered content chunks on schedule, then the finish, the usage and
/// `[DONE]`.
pub(super) async fn write(
    writer: &mut WriteHalf<'_>,
    pace: Pace,
    timing: Option<&Timing>,
    lateness: &SharedLatency,
) -> std::io::Result<()> {
    writer.write_all(SSE_HEAD).await?;
    let interval = Duration::from_secs_f64(1.0 / pace.tokens_per_sec);
    let mut lateness = LatencyBatch::new(lateness);
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
        write_chunk(writer, &data_line(&content_chunk(&token.text()))).await?;
        if n == 0
            && let Some(timing) = timing
        {
            timing.first_sent_at.store(sent_at, Ordering::Relaxed);
        }
    }
    write_chunk(writer, &data_line(&finish_chunk("stop"))).await?;
    write_chunk(writer, &data_line(&usage_chunk(PROMPT_TOKENS, pace.tokens as i64))).await?;
    write_chunk(writer, "data: [DONE]\n\n").await?;
    writer.write_all(LAST_CHUNK).await
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

    #[test]
    fn a_reply_is_timed_once_by_the_marker_of_its_last_user_message() {
        let timings: Vec<Timing> = (0..2).map(|_| Timing::default()).collect();
        let asking = |content: &str| {
            serde_json::json!({"messages": [{"role": "user", "content": marker(0)},
                                            {"role": "assistant", "content": "n0t1 "},
                                            {"role": "user", "content": content}]})
        };
        assert!(timing_of(&asking(&marker(1)), &timings, 7).is_some());
        assert_eq!(timings[1].request_at.load(Ordering::Relaxed), 7);
        assert!(timing_of(&asking(&marker(1)), &timings, 8).is_none(), "a second request for reply 1");
        assert!(timing_of(&asking(&marker(2)), &timings, 8).is_none(), "no reply 2");
        assert!(timing_of(&asking("hello"), &timings, 8).is_none());
        assert_eq!(timings[0].request_at.load(Ordering::Relaxed), 0, "only the last user message counts");
    }
}
