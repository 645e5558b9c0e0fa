//! The room event writer. Every post, edit and delete goes through the task that owns its
//! room (rooms are sharded over a few tasks), which stores them and publishes them in seq
//! order. Posts are stored in batches: whatever queued up while the previous transaction
//! ran is committed in one transaction (group commit), so the per-transaction cost (thread
//! hand-offs on SQLite, round trips and the WAL flush on PostgreSQL) is paid once per batch.

use std::sync::Arc;

use palaver_protocol::ws::ServerEvent;
use palaver_protocol::{Message, UserRef};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{events, views};
use crate::realtime::{Broker, Control, Topic};
use crate::store::{self, DynStore, NewMessage, NotifyPlan, Posted};

/// Most posts in one transaction.
const MAX_BATCH: usize = 256;
/// Jobs queued per shard before senders wait (backpressure, not unbounded memory).
const QUEUE: usize = 4096;

type Reply<T> = oneshot::Sender<Result<T, store::Error>>;

enum Job {
    Post { message: NewMessage, notify: NotifyPlan, reply: Reply<Option<(Message, bool)>> },
    Edit { room_id: Uuid, message_id: Uuid, content: String, at: OffsetDateTime, reply: Reply<Option<Message>> },
    Delete { room_id: Uuid, message_id: Uuid, reply: Reply<bool> },
}

pub struct Sequencer {
    shards: Vec<mpsc::Sender<Job>>,
}

impl Sequencer {
    /// One task per shard. SQLite has one writer, so one shard; PostgreSQL can commit
    /// several rooms' batches at once.
    pub fn start(store: DynStore, broker: Arc<dyn Broker>, shards: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(run(store.clone(), broker.clone(), rx));
                tx
            })
            .collect();
        Self { shards }
    }

    async fn submit<T>(&self, room_id: Uuid, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, store::Error> {
        let shard = &self.shards[(room_id.as_u64_pair().1 % self.shards.len() as u64) as usize];
        let (reply, answer) = oneshot::channel();
        shard.send(job(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Stores and publishes a message; `None` if the room does not exist. The flag is
    /// `false` for a retry that returned the message stored before.
    pub async fn post(&self, message: NewMessage, notify: NotifyPlan) -> Result<Option<(Message, bool)>, store::Error> {
        self.submit(message.room_id, |reply| Job::Post { message, notify, reply }).await
    }

    /// `None` if the message is missing or deleted.
    pub async fn edit(
        &self,
        room_id: Uuid,
        message_id: Uuid,
        content: String,
        at: OffsetDateTime,
    ) -> Result<Option<Message>, store::Error> {
        self.submit(room_id, |reply| Job::Edit { room_id, message_id, content, at, reply }).await
    }

    /// `false` if the message is missing or already deleted.
    pub async fn delete(&self, room_id: Uuid, message_id: Uuid) -> Result<bool, store::Error> {
        self.submit(room_id, |reply| Job::Delete { room_id, message_id, reply }).await
    }
}

fn stopped() -> store::Error {
    store::Error::Database(sqlx::Error::WorkerCrashed)
}

struct PendingPost {
    message: NewMessage,
    notify: NotifyPlan,
    reply: Reply<Option<(Message, bool)>>,
}

async fn run(store: DynStore, broker: Arc<dyn Broker>, mut jobs: mpsc::Receiver<Job>) {
    let mut posts: Vec<PendingPost> = Vec::new();
    while let Some(first) = jobs.recv().await {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Post { message, notify, reply } => {
                    posts.push(PendingPost { message, notify, reply });
                    if posts.len() >= MAX_BATCH {
                        flush(&store, &*broker, &mut posts).await;
                    }
                }
                // Edits and deletes keep their place in the order: earlier posts go first.
                Job::Edit { room_id, message_id, content, at, reply } => {
                    flush(&store, &*broker, &mut posts).await;
                    let edited = store.edit_message(room_id, message_id, content, at).await.map(|row| {
                        row.map(|row| {
                            let message = views::message(row);
                            let event =
                                ServerEvent::MessageUpdated { seq: message.updated_seq, message: message.clone() };
                            events::publish(&*broker, Topic::Room(room_id), &event, Control::None);
                            message
                        })
                    });
                    let _ = reply.send(edited);
                }
                Job::Delete { room_id, message_id, reply } => {
                    flush(&store, &*broker, &mut posts).await;
                    let deleted = store.delete_message(room_id, message_id).await.map(|row| {
                        row.map(|row| {
                            let event = ServerEvent::MessageDeleted { seq: row.updated_seq, room_id, message_id };
                            events::publish(&*broker, Topic::Room(room_id), &event, Control::None);
                        })
                        .is_some()
                    });
                    let _ = reply.send(deleted);
                }
            }
            next = jobs.try_recv().ok();
        }
        flush(&store, &*broker, &mut posts).await;
    }
}

async fn flush(store: &DynStore, broker: &dyn Broker, posts: &mut Vec<PendingPost>) {
    if posts.is_empty() {
        return;
    }
    let (items, replies): (Vec<_>, Vec<_>) = posts.drain(..).map(|p| ((p.message, p.notify), p.reply)).unzip();
    metrics::histogram!("palaver_post_batch_size").record(items.len() as f64);
    match store.post_batch(&items).await {
        Ok(outcomes) => {
            for (outcome, reply) in outcomes.into_iter().zip(replies) {
                let _ = reply.send(Ok(outcome.map(|posted| announce(broker, posted))));
            }
        }
        Err(e) => {
            // One bad item must not fail the others: retry them one transaction each.
            tracing::debug!(error = %e, size = items.len(), "batch failed; posting one by one");
            for (item, reply) in items.iter().zip(replies) {
                let outcome = store.post_batch(std::slice::from_ref(item)).await;
                let posted = outcome.map(|mut o| o.pop().flatten().map(|posted| announce(broker, posted)));
                let _ = reply.send(posted);
            }
        }
    }
}

/// Publishes a newly stored message and its notifications; returns the wire message.
fn announce(broker: &dyn Broker, posted: Posted) -> (Message, bool) {
    let Posted { message, created, notified } = posted;
    let message = views::message(message);
    if created {
        let room = Topic::Room(message.room_id);
        events::publish(
            broker,
            room,
            &ServerEvent::Message { seq: message.seq, message: message.clone() },
            Control::None,
        );
        let actor = UserRef { id: message.author.id, username: message.author.username.clone() };
        events::publish_notifications(broker, &notified, message.room_id, Some(message.id), &actor, message.created_at);
    }
    (message, created)
}
