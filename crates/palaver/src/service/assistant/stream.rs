//! A reply as its reader sees it: its events from a position in its log on, each with its
//! id, live until its last. What SSE, a resume and the request waiting for a whole reply
//! read, whichever instance runs the reply.

use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use palaver_protocol::ReplyEvent;

use crate::assistant::replies::Reply;
use crate::domain::ChatMessageId;

/// A reply's events after a position. Reading it does not keep the reply running: a
/// reply runs to its end whoever reads it.
pub struct ReplyStream {
    reply: Arc<Reply>,
    seen: usize,
}

impl ReplyStream {
    pub(super) fn new(reply: Arc<Reply>, seen: usize) -> Self {
        Self { reply, seen }
    }

    /// The assistant's message the reply writes.
    pub fn message(&self) -> ChatMessageId {
        self.reply.message
    }

    /// Waits for the reply's last event.
    pub async fn ended(&self) {
        self.reply.wait_ended().await;
    }

    /// The events, each with its id (its 1-based position in the reply, which a resume's
    /// `Last-Event-ID` names), the ones logged already at once, then live ones; the stream
    /// ends after the reply's last (`complete` or `error`).
    pub fn events(self) -> impl Stream<Item = (usize, ReplyEvent)> + Send + 'static {
        futures_util::stream::unfold((self.reply, self.seen, false), |(reply, seen, done)| async move {
            if done {
                return None;
            }
            loop {
                let (events, ended) = reply.events_after(seen);
                if events.is_empty() {
                    if ended {
                        return None;
                    }
                    reply.wait_beyond(seen).await;
                    continue;
                }
                let last = events.last().map_or(seen, |(id, _)| *id);
                // An ended log hands out everything it holds: this batch is the rest.
                return Some((futures_util::stream::iter(events), (reply, last, ended)));
            }
        })
        .flatten()
    }
}
