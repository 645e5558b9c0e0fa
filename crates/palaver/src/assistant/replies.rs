//! Running replies and their event logs. A reply runs in a task of its own and appends
//! every event it produces to its log; whoever watches it (an SSE stream, a resume with
//! `Last-Event-ID`, the request waiting for the whole reply) reads the log from a position
//! and waits for more. The log is the only buffer: a slow reader falls behind in it, and it
//! is bounded (a reply that outgrows it is ended). Chunks are most of a reply's events and
//! a few bytes each, so the log keeps their text end to end in one string and each chunk
//! as where its text ends: about 20 bytes a chunk where a `ReplyEvent` each took 160.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use palaver_protocol::{ReplyEndStatus, ReplyEvent};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::domain::{ChatMessageId, ConversationId, UserId};

/// Events one reply may log; a reply of that many chunks is cut (about 16,000 tokens).
pub const MAX_EVENTS: usize = 16_384;
/// How long a finished reply's log stays for a late resume.
const KEEP_FINISHED: Duration = Duration::from_secs(300);
/// Finished logs kept at most, whatever their age.
const MAX_FINISHED: usize = 1024;

pub struct Reply {
    pub conversation: ConversationId,
    pub owner: UserId,
    pub message: ChatMessageId,
    /// Cancelled by the user (or by deleting the conversation).
    pub cancel: CancellationToken,
    log: Mutex<Log>,
    /// The number of events logged, and whether the log has ended; readers wait on it.
    progress: watch::Sender<(usize, bool)>,
}

#[derive(Default)]
struct Log {
    /// Every chunk's text, one after another.
    text: String,
    events: Vec<Logged>,
    ended: bool,
}

/// One event of a log.
enum Logged {
    /// A chunk, by the end of its text in `Log::text` (its start is the previous chunk's end).
    Chunk {
        end: usize,
    },
    Other(Box<ReplyEvent>),
}

impl Log {
    fn push(&mut self, event: ReplyEvent) {
        let logged = match event {
            ReplyEvent::Chunk { content } => {
                self.text.push_str(&content);
                Logged::Chunk { end: self.text.len() }
            }
            other => Logged::Other(Box::new(other)),
        };
        self.events.push(logged);
    }

    /// Where the text of the chunks before event `index` ends.
    fn text_before(&self, index: usize) -> usize {
        self.events[..index]
            .iter()
            .rev()
            .find_map(|e| match e {
                Logged::Chunk { end } => Some(*end),
                Logged::Other(_) => None,
            })
            .unwrap_or(0)
    }
}

impl Reply {
    pub fn new(conversation: ConversationId, owner: UserId, message: ChatMessageId) -> Self {
        Self::cancelled_by(conversation, owner, message, CancellationToken::new())
    }

    fn cancelled_by(
        conversation: ConversationId,
        owner: UserId,
        message: ChatMessageId,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            conversation,
            owner,
            message,
            cancel,
            log: Mutex::new(Log::default()),
            progress: watch::Sender::new((0, false)),
        }
    }

    /// The log of a reply finished before this process knew it (or long enough ago to be
    /// forgotten): its stored text, then how it ended.
    pub fn stored(conversation: ConversationId, owner: UserId, row: crate::store::ChatMessageRow) -> Self {
        let reply = Self::new(conversation, owner, row.id);
        let last = last_event(&row);
        if !row.content.is_empty() {
            reply.push(ReplyEvent::Chunk { content: row.content });
        }
        reply.end(last);
        reply
    }

    /// Appends an event; `false` when the log is full (the reply must end) or has ended.
    pub fn push(&self, event: ReplyEvent) -> bool {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.ended || log.events.len() >= MAX_EVENTS {
            return false;
        }
        log.push(event);
        let progress = (log.events.len(), false);
        drop(log);
        self.progress.send_replace(progress);
        true
    }

    /// Appends the last event (even to a full log) and ends the log.
    pub fn end(&self, last: ReplyEvent) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.ended {
            return;
        }
        log.push(last);
        log.ended = true;
        let progress = (log.events.len(), true);
        drop(log);
        self.progress.send_replace(progress);
    }

    /// The events after the first `seen` (each with its 1-based id), and whether the log
    /// has ended.
    pub fn events_after(&self, seen: usize) -> (Vec<(usize, ReplyEvent)>, bool) {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let from = seen.min(log.events.len());
        let mut start = log.text_before(from);
        let events = log.events[from..]
            .iter()
            .enumerate()
            .map(|(i, logged)| {
                let event = match logged {
                    Logged::Chunk { end } => {
                        let content = log.text[start..*end].to_owned();
                        start = *end;
                        ReplyEvent::Chunk { content }
                    }
                    Logged::Other(event) => (**event).clone(),
                };
                (from + i + 1, event)
            })
            .collect();
        (events, log.ended)
    }

    /// The length of the reply's text so far (in bytes): where its next chunk starts.
    pub fn text_len(&self) -> usize {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).text.len()
    }

    /// The reply's text from `from` (a `text_len`) on: its chunks' content, one after another.
    pub fn text_from(&self, from: usize) -> String {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.text.get(from..).unwrap_or_default().to_owned()
    }

    /// Waits until there are more than `seen` events or the log has ended.
    pub async fn wait_beyond(&self, seen: usize) {
        let mut progress = self.progress.subscribe();
        let _ = progress.wait_for(|(len, ended)| *len > seen || *ended).await;
    }

    /// Waits until the log has ended.
    pub async fn wait_ended(&self) {
        let mut progress = self.progress.subscribe();
        let _ = progress.wait_for(|(_, ended)| *ended).await;
    }

    pub fn ended(&self) -> bool {
        self.progress.borrow().1
    }
}

/// How a stored reply ended, as its last event.
pub fn last_event(row: &crate::store::ChatMessageRow) -> ReplyEvent {
    use crate::domain::ChatStatus;
    let usage = palaver_protocol::Usage {
        prompt_tokens: row.prompt_tokens.unwrap_or(0),
        completion_tokens: row.completion_tokens.unwrap_or(0),
    };
    let (status, error) = match row.status {
        ChatStatus::Complete => return ReplyEvent::Complete { message_id: row.id.into(), usage },
        ChatStatus::Cancelled => (ReplyEndStatus::Cancelled, "cancelled"),
        ChatStatus::Interrupted => (ReplyEndStatus::Interrupted, "interrupted: the server stopped"),
        ChatStatus::Error => (ReplyEndStatus::Error, "the reply failed"),
        ChatStatus::Running => (ReplyEndStatus::Error, "the reply is running on another server"),
    };
    ReplyEvent::Error { status, error: error.into() }
}

/// Why a reply could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A reply is already running in this conversation.
    Busy,
    /// The user has as many replies running as allowed.
    TooMany,
}

/// Every reply running on this instance, and the recently finished ones.
#[derive(Default)]
pub struct Replies {
    state: Mutex<State>,
    /// Each running reply's `cancel` is a child of this (the server stopping), so a reply
    /// waits on its own token alone: the shared one is not polled at every chunk of every
    /// reply (a mutex both cores contend for).
    stopping: CancellationToken,
}

#[derive(Default)]
struct State {
    running: HashMap<ConversationId, Arc<Reply>>,
    finished: VecDeque<(Instant, Arc<Reply>)>,
}

impl Replies {
    /// Replies cancelled when `stopping` is (the server's shutdown).
    pub fn new(stopping: &CancellationToken) -> Self {
        Self { state: Mutex::default(), stopping: stopping.clone() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new running reply, unless one runs in the conversation or the owner has
    /// `max_per_user` running.
    pub fn begin(
        &self,
        conversation: ConversationId,
        owner: UserId,
        message: ChatMessageId,
        max_per_user: usize,
    ) -> Result<Arc<Reply>, Refusal> {
        let mut state = self.state();
        if state.running.contains_key(&conversation) {
            return Err(Refusal::Busy);
        }
        if state.running.values().filter(|r| r.owner == owner).count() >= max_per_user {
            return Err(Refusal::TooMany);
        }
        let reply = Arc::new(Reply::cancelled_by(conversation, owner, message, self.stopping.child_token()));
        state.running.insert(conversation, reply.clone());
        Ok(reply)
    }

    /// Moves an ended reply to the finished ones, kept a while for late resumes.
    pub fn finish(&self, reply: &Arc<Reply>) {
        let mut state = self.state();
        if state.running.get(&reply.conversation).is_some_and(|r| Arc::ptr_eq(r, reply)) {
            state.running.remove(&reply.conversation);
        }
        let now = Instant::now();
        while state.finished.front().is_some_and(|(at, _)| now.duration_since(*at) > KEEP_FINISHED)
            || state.finished.len() >= MAX_FINISHED
        {
            state.finished.pop_front();
        }
        state.finished.push_back((now, reply.clone()));
    }

    /// The reply that writes `message`, running or recently finished.
    pub fn find(&self, conversation: ConversationId, message: ChatMessageId) -> Option<Arc<Reply>> {
        let state = self.state();
        let running = state.running.get(&conversation).filter(|r| r.message == message);
        running.cloned().or_else(|| {
            state
                .finished
                .iter()
                .rev()
                .find(|(_, r)| r.conversation == conversation && r.message == message)
                .map(|(_, r)| r.clone())
        })
    }

    /// The conversation's running reply, if any.
    pub fn running(&self, conversation: ConversationId) -> Option<Arc<Reply>> {
        self.state().running.get(&conversation).cloned()
    }

    /// Cancels the conversation's running reply; `false` if none runs.
    pub fn cancel(&self, conversation: ConversationId) -> bool {
        let reply = self.running(conversation);
        reply.map(|r| r.cancel.cancel()).is_some()
    }

    pub fn all_running(&self) -> Vec<Arc<Reply>> {
        self.state().running.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> ReplyEvent {
        ReplyEvent::Chunk { content: text.into() }
    }

    #[tokio::test]
    async fn readers_get_every_event_from_where_they_are_and_wait_for_more() {
        let replies = Replies::default();
        let (conversation, owner) = (ConversationId::generate(), UserId::generate());
        let reply = replies.begin(conversation, owner, ChatMessageId::generate(), 3).unwrap();
        assert_eq!(replies.begin(conversation, owner, ChatMessageId::generate(), 3).err(), Some(Refusal::Busy));
        assert!(reply.push(chunk("a")) && reply.push(chunk("b")));
        let (events, ended) = reply.events_after(1);
        assert_eq!(events, vec![(2, chunk("b"))]);
        assert!(!ended);
        let waiter = {
            let reply = reply.clone();
            tokio::spawn(async move {
                reply.wait_beyond(2).await;
                reply.events_after(2)
            })
        };
        tokio::task::yield_now().await;
        reply.end(ReplyEvent::Error { status: ReplyEndStatus::Cancelled, error: "stopped".into() });
        let (events, ended) = waiter.await.unwrap();
        assert_eq!(events.len(), 1);
        assert!(ended);
        assert!(!reply.push(chunk("late")), "an ended log takes nothing more");
        replies.finish(&reply);
        assert!(replies.running(conversation).is_none());
        assert!(replies.find(conversation, reply.message).is_some(), "kept for a late resume");
    }

    #[test]
    fn chunks_between_other_events_come_back_whole_from_any_position() {
        let reply = Reply::new(ConversationId::generate(), UserId::generate(), ChatMessageId::generate());
        let call = ReplyEvent::ToolCall { name: "t__echo".into(), arguments: serde_json::json!({"m": "é"}) };
        let logged = [chunk("Bonjour, "), chunk("é"), call, chunk(""), chunk("à toi")];
        for event in logged.clone() {
            assert!(reply.push(event));
        }
        for seen in 0..=logged.len() {
            let (events, _) = reply.events_after(seen);
            let expected: Vec<_> = logged[seen..].iter().cloned().enumerate().map(|(i, e)| (seen + i + 1, e)).collect();
            assert_eq!(events, expected, "after {seen}");
        }
        assert_eq!(reply.text_from(0), "Bonjour, éà toi");
        let round = reply.text_len();
        reply.push(chunk("!"));
        assert_eq!(reply.text_from(round), "!");
    }

    #[test]
    fn a_user_runs_a_bounded_number_of_replies() {
        let replies = Replies::default();
        let owner = UserId::generate();
        for _ in 0..2 {
            replies.begin(ConversationId::generate(), owner, ChatMessageId::generate(), 2).unwrap();
        }
        let third = replies.begin(ConversationId::generate(), owner, ChatMessageId::generate(), 2);
        assert_eq!(third.err(), Some(Refusal::TooMany));
        assert!(replies.begin(ConversationId::generate(), UserId::generate(), ChatMessageId::generate(), 2).is_ok());
    }

    #[test]
    fn a_full_log_refuses_more_but_still_ends() {
        let replies = Replies::default();
        let reply =
            replies.begin(ConversationId::generate(), UserId::generate(), ChatMessageId::generate(), 1).unwrap();
        for _ in 0..MAX_EVENTS {
            assert!(reply.push(chunk("x")));
        }
        assert!(!reply.push(chunk("x")));
        reply.end(ReplyEvent::Error { status: ReplyEndStatus::Error, error: "too long".into() });
        assert_eq!(reply.events_after(0).0.len(), MAX_EVENTS + 1);
        assert!(reply.ended());
    }
}
