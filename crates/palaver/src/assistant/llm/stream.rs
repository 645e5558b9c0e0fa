//! [`ChatStream`]: the response body read into [`StreamEvent`]s, with a stall timeout.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, Stream, StreamExt};

use super::chunk::{Flow, Round};
use super::error::describe;
use super::sse::SseDecoder;
use super::{LlmError, StreamEvent};

/// One round's reply as it arrives. It ends after `Done` or after the first error.
///
/// It owns the response body: dropping it drops the connection (hyper does not pool a
/// connection whose body was not read to the end), so the upstream sees it closed and can
/// stop generating. That is how a cancelled reply stops costing tokens.
pub struct ChatStream {
    events: BoxStream<'static, Result<StreamEvent, LlmError>>,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream").finish_non_exhaustive()
    }
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_next_unpin(cx)
    }
}

struct Reading {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: SseDecoder,
    round: Round,
    /// Events read but not yet handed out: one read can complete many.
    ready: VecDeque<StreamEvent>,
    ended: bool,
    stall_timeout: Duration,
}

impl ChatStream {
    pub(super) fn new(response: reqwest::Response, stall_timeout: Duration, api_key: Option<String>) -> Self {
        let reading = Reading {
            body: response.bytes_stream().boxed(),
            decoder: SseDecoder::default(),
            round: Round::new(api_key),
            ready: VecDeque::new(),
            ended: false,
            stall_timeout,
        };
        // The state is `None` once an error was handed out: the stream ends there.
        let events = stream::unfold(Some(reading), |reading| async move {
            let mut reading = reading?;
            match reading.next_event().await {
                Ok(Some(event)) => Some((Ok(event), Some(reading))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        });
        Self { events: events.boxed() }
    }
}

impl Reading {
    async fn next_event(&mut self) -> Result<Option<StreamEvent>, LlmError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            match tokio::time::timeout(self.stall_timeout, self.body.next()).await {
                Err(_) => return Err(LlmError::Stalled),
                Ok(Some(Ok(bytes))) => self.read(&bytes)?,
                Ok(Some(Err(error))) => return Err(LlmError::Connect(describe(error))),
                Ok(None) => self.read_end()?,
            }
        }
    }

    fn read(&mut self, bytes: &[u8]) -> Result<(), LlmError> {
        let mut data = Vec::new();
        self.decoder.feed(bytes, &mut data)?;
        self.read_events(data)
    }

    fn read_end(&mut self) -> Result<(), LlmError> {
        let mut data = Vec::new();
        self.decoder.finish(&mut data)?;
        self.read_events(data)?;
        if !self.ended {
            let mut out = Vec::new();
            self.round.on_eof(&mut out)?;
            self.end(out);
        }
        Ok(())
    }

    fn read_events(&mut self, data: Vec<String>) -> Result<(), LlmError> {
        let mut out = Vec::new();
        for data in data {
            if self.round.on_data(&data, &mut out)? == Flow::Done {
                self.end(out);
                return Ok(());
            }
        }
        self.ready.extend(out);
        Ok(())
    }

    /// After `[DONE]` nothing more is read; the connection is let go at once rather than
    /// when the caller drops the stream.
    fn end(&mut self, last: Vec<StreamEvent>) {
        self.ready.extend(last);
        self.ended = true;
        self.body = stream::empty().boxed();
    }
}
