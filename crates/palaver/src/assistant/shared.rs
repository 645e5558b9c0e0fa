//! Replies across instances (when they share Redis). The instance running a reply mirrors
//! its log to a Redis Stream, `palaver:reply:<message id>`, one entry per event with the
//! event's id (`0-<n>`), kept `KEEP_FINISHED` after the end; another instance replays it
//! from a `Last-Event-ID` and follows it live with a blocking read on a connection of its
//! own, into a local log its readers read as they read any other. A cancel asked of
//! another instance is published on `palaver:cancel`, and the instance running the
//! reply cancels it.

use std::sync::Arc;
use std::time::Duration;

use palaver_protocol::{ReplyEndStatus, ReplyEvent};
use redis::aio::ConnectionManager;

use super::replies::Reply;
use crate::domain::{ChatMessageId, ChatStatus, ConversationId, UserId};
use crate::realtime::redis::{TIMEOUT, wire};
use crate::store::DynStore;

/// How long a finished reply's stream stays for a late resume.
const KEEP_FINISHED: Duration = Duration::from_secs(300);
/// A running reply's stream outlives a crash of its instance by at most this.
const KEEP_RUNNING: Duration = Duration::from_secs(3600);
/// Events written (or read) in one round trip.
const BATCH: usize = 256;
/// A follower's blocking read waits this long before it checks the stored reply.
const BLOCK: Duration = Duration::from_secs(5);
/// Between two attempts to mirror a batch while Redis fails...
const RETRY: Duration = Duration::from_millis(500);
/// ... and how many failed attempts in a row end the copy of an ended reply.
const GIVE_UP_AFTER: u32 = 20;

fn stream_key(message: ChatMessageId) -> String {
    format!("palaver:reply:{}", message.uuid())
}

pub struct SharedReplies {
    client: redis::Client,
    conn: ConnectionManager,
}

impl SharedReplies {
    pub fn new(client: redis::Client, conn: ConnectionManager) -> Self {
        Self { client, conn }
    }

    /// Copies the reply's log to its stream as it grows, until it ends (in a task of its
    /// own: the reply never waits for Redis). While Redis fails the copy retries; followers
    /// elsewhere fall back to the stored reply if it never arrives.
    pub fn mirror(self: &Arc<Self>, reply: Arc<Reply>) {
        let shared = self.clone();
        tokio::spawn(async move {
            let key = stream_key(reply.message);
            let mut sent = 0;
            let mut failures = 0;
            loop {
                let (events, ended) = reply.events_after(sent);
                if events.is_empty() && !ended {
                    reply.wait_beyond(sent).await;
                    continue;
                }
                // The last batch of an ended log holds its last event.
                let done = ended && events.len() <= BATCH;
                let batch: Vec<_> = events.into_iter().take(BATCH).collect();
                let last = batch.last().map_or(sent, |(id, _)| *id);
                let mut pipe = redis::pipe();
                for (id, event) in &batch {
                    let json = serde_json::to_string(event).unwrap_or_default();
                    pipe.cmd("XADD").arg(&key).arg(format!("0-{id}")).arg("e").arg(json).ignore();
                }
                let keep = if done { KEEP_FINISHED } else { KEEP_RUNNING };
                pipe.expire(&key, keep.as_secs() as i64).ignore();
                match pipe.query_async::<()>(&mut shared.conn.clone()).await {
                    Ok(()) => {
                        failures = 0;
                        sent = last;
                        if done {
                            return;
                        }
                    }
                    // An entry already there (a retry after a lost answer) fails the batch.
                    Err(e) if e.to_string().contains("equal or smaller") => sent = last,
                    Err(e) => {
                        if failures == 0 {
                            tracing::warn!(error = %e, "cannot mirror a reply to Redis: other instances cannot follow it");
                        }
                        failures += 1;
                        // An ended reply is stored: followers elsewhere end with it, so
                        // the copy is given up rather than retried for the whole outage.
                        if ended && failures >= GIVE_UP_AFTER {
                            return;
                        }
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
        });
    }

    /// A reply running on another instance, as a local log fed from its stream (from the
    /// start: the reader skips what it has seen).
    pub fn follow(
        self: &Arc<Self>,
        conversation: ConversationId,
        owner: UserId,
        message: ChatMessageId,
        store: DynStore,
    ) -> Arc<Reply> {
        let reply = Arc::new(Reply::new(conversation, owner, message));
        let shared = self.clone();
        let feeding = reply.clone();
        tokio::spawn(async move {
            let last = match shared.feed(&feeding, conversation, &store).await {
                Ok(None) => return,
                Ok(Some(last)) => last,
                Err(e) => {
                    tracing::warn!(error = %e, "lost a reply's stream while following it");
                    ReplyEvent::Error {
                        status: ReplyEndStatus::Error,
                        error: "lost the reply's stream: read the stored message".into(),
                    }
                }
            };
            feeding.end(last);
        });
        reply
    }

    /// Feeds the log from the stream until its last event (`None`: pushed already), or the
    /// stored reply says it ended without the stream saying so (its instance died).
    async fn feed(
        &self,
        reply: &Arc<Reply>,
        conversation: ConversationId,
        store: &DynStore,
    ) -> redis::RedisResult<Option<ReplyEvent>> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(BLOCK + TIMEOUT));
        let mut conn = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        let key = stream_key(reply.message);
        let mut after = "0-0".to_owned();
        loop {
            type Entries = Vec<(String, Vec<(String, Vec<String>)>)>;
            let read: Option<Entries> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(BATCH)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&key)
                .arg(&after)
                .query_async(&mut conn)
                .await?;
            let entries = read.into_iter().flatten().flat_map(|(_, entries)| entries);
            let mut any = false;
            for (id, fields) in entries {
                any = true;
                after = id;
                let Some(event) = fields.get(1).and_then(|json| serde_json::from_str::<ReplyEvent>(json).ok()) else {
                    continue;
                };
                if matches!(event, ReplyEvent::Complete { .. } | ReplyEvent::Error { .. }) {
                    reply.end(event);
                    return Ok(None);
                }
                reply.push(event);
            }
            if !any {
                // Nobody reads this log any more (the client went away): stop feeding it.
                if Arc::strong_count(reply) == 1 {
                    return Ok(None);
                }
                // Nothing for a while: ended elsewhere without a last event in the stream?
                let stored = store.chat_message(conversation, reply.message).await.ok().flatten();
                if let Some(row) = stored.filter(|row| row.status != ChatStatus::Running) {
                    return Ok(Some(super::replies::last_event(&row)));
                }
            }
        }
    }

    /// Asks the instance running the conversation's reply to cancel it.
    pub async fn cancel_elsewhere(&self, conversation: ConversationId) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PUBLISH")
            .arg(wire::CANCEL_CHANNEL)
            .arg(conversation.uuid().to_string())
            .query_async::<i64>(&mut conn)
            .await
            .map(drop)
    }
}
