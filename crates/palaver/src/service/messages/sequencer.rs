//! The room event writer. Every post, edit, delete and reaction goes through the task that owns its
//! room (rooms are sharded over a few tasks), which stores them and publishes them in seq
//! order. Posts are stored in batches: whatever queued up while the previous transaction
//! ran is committed in one transaction (group commit), so the per-transaction cost (thread
//! hand-offs on SQLite, round trips and the WAL flush on PostgreSQL) is paid once per batch.
//!
//! (Over 400 lines with the tests of a panicking writer and a bad row, which need its private
//! `Sequencer::post`.)

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use palaver_protocol::ws::ServerEvent;
use palaver_protocol::{Message, UserRef};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::breaker::Breaker;
use super::decorate::decorated;
use crate::domain::{MessageId, RoomId};
use crate::error::{Conflict, DATABASE_RETRY_AFTER, Error, Result};
use crate::service::{Publisher, views};
use crate::store::{self, DynStore, NewMessage, NotifyPlan, Posted, ReactOutcome, ReactionChange, Unique};
use crate::uploads::signed::UrlSigner;

/// Most posts in one transaction.
const MAX_BATCH: usize = 256;
/// Jobs queued per shard before senders wait (backpressure, not unbounded memory).
const QUEUE: usize = 4096;
/// How long writes fail at once after one found the database unavailable, before the
/// next one tries it again. Short: recovery waits for it after the database is back.
const BREAKER_PAUSE: Duration = Duration::from_secs(1);

type Reply<T> = oneshot::Sender<Result<T>>;

enum Job {
    Post { message: NewMessage, notify: NotifyPlan, reply: Reply<Option<(Message, bool)>> },
    Edit { room_id: RoomId, message_id: MessageId, content: String, at: OffsetDateTime, reply: Reply<Option<Message>> },
    Delete { room_id: RoomId, message_id: MessageId, reply: Reply<bool> },
    React { change: ReactionChange, reply: Reply<ReactOutcome> },
}

pub struct Sequencer {
    shards: Vec<mpsc::Sender<Job>>,
    breaker: Arc<Breaker>,
}

impl Sequencer {
    /// One task per shard. SQLite has one writer, so one shard; PostgreSQL can commit
    /// several rooms' batches at once.
    pub fn start(store: DynStore, publisher: Publisher, signer: UrlSigner, shards: usize) -> Self {
        let breaker = Arc::new(Breaker::new(BREAKER_PAUSE));
        let writer = Writer { store, publisher, breaker: breaker.clone(), signer };
        let shards = (0..shards.max(1))
            .map(|shard| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(supervise(shard, writer.clone(), rx));
                tx
            })
            .collect();
        Self { shards, breaker }
    }

    /// Whether every shard has a task taking its jobs.
    pub fn running(&self) -> bool {
        self.shards.iter().all(|shard| !shard.is_closed())
    }

    /// Queues a job behind those queued before it on its room's shard; the answer comes
    /// later. Jobs of one room queued in order are stored in that order.
    async fn queue<T>(&self, room_id: RoomId, job: impl FnOnce(Reply<T>) -> Job) -> Result<Queued<T>> {
        // While the database is known to be down, do not even queue.
        self.breaker.check(Instant::now()).map_err(database_unavailable)?;
        let shard = &self.shards[(room_id.uuid().as_u64_pair().1 % self.shards.len() as u64) as usize];
        let (reply, answer) = oneshot::channel();
        shard
            .send(job(reply))
            .await
            .map_err(|_| Error::Unavailable { what: "the message writer", retry_after: DATABASE_RETRY_AFTER })?;
        Ok(Queued(answer))
    }

    async fn submit<T>(&self, room_id: RoomId, job: impl FnOnce(Reply<T>) -> Job) -> Result<T> {
        self.queue(room_id, job).await?.answer().await
    }

    /// Queues a message to store and publish; its answer is `None` if the room does not
    /// exist, and the flag `false` for a retry that returned the message stored before. A
    /// socket queues its sends one after another without waiting for each answer, so a
    /// busy sender's posts are committed together.
    pub async fn queue_post(&self, message: NewMessage, notify: NotifyPlan) -> Result<Queued<Option<(Message, bool)>>> {
        self.queue(message.room_id, |reply| Job::Post { message, notify, reply }).await
    }

    #[cfg(test)]
    async fn post(&self, message: NewMessage, notify: NotifyPlan) -> Result<Option<(Message, bool)>> {
        self.queue_post(message, notify).await?.answer().await
    }

    /// `None` if the message is missing or deleted.
    pub async fn edit(
        &self,
        room_id: RoomId,
        message_id: MessageId,
        content: String,
        at: OffsetDateTime,
    ) -> Result<Option<Message>> {
        self.submit(room_id, |reply| Job::Edit { room_id, message_id, content, at, reply }).await
    }

    /// `false` if the message is missing or already deleted.
    pub async fn delete(&self, room_id: RoomId, message_id: MessageId) -> Result<bool> {
        self.submit(room_id, |reply| Job::Delete { room_id, message_id, reply }).await
    }

    /// Adds or removes a reaction; published as a `reaction` event when it changed something.
    pub async fn react(&self, change: ReactionChange) -> Result<ReactOutcome> {
        self.submit(change.room_id, |reply| Job::React { change, reply }).await
    }
}

/// A queued job's answer, to await.
pub struct Queued<T>(oneshot::Receiver<Result<T>>);

impl<T> Queued<T> {
    pub async fn answer(self) -> Result<T> {
        // Dropped unanswered only if the writer panicked on this job (it is restarted).
        self.0.await.map_err(|_| Error::Internal(anyhow::anyhow!("the message writer failed while storing this")))?
    }
}

fn database_unavailable(wait: Duration) -> Error {
    Error::Unavailable { what: "database", retry_after: wait }
}

/// Runs a shard's writer, and runs it again if it panics: the queue (the receiver) outlives
/// the panic, so only the jobs in hand are lost (their callers get an error). Ends when
/// every sender is gone.
async fn supervise(shard: usize, writer: Writer, mut jobs: mpsc::Receiver<Job>) {
    while AssertUnwindSafe(writer.run(&mut jobs)).catch_unwind().await.is_err() {
        metrics::counter!("palaver_writer_restarts_total").increment(1);
        tracing::error!(shard, "the message writer panicked; restarting it");
    }
}

struct PendingPost {
    message: NewMessage,
    notify: NotifyPlan,
    reply: Reply<Option<(Message, bool)>>,
}

/// One shard's writer: what it needs to store and publish.
#[derive(Clone)]
struct Writer {
    store: DynStore,
    publisher: Publisher,
    breaker: Arc<Breaker>,
    /// Events carry attachments with signed URLs.
    signer: UrlSigner,
}

impl Writer {
    async fn run(&self, jobs: &mut mpsc::Receiver<Job>) {
        let mut posts: Vec<PendingPost> = Vec::new();
        while let Some(first) = jobs.recv().await {
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Post { message, notify, reply } => {
                        posts.push(PendingPost { message, notify, reply });
                        if posts.len() >= MAX_BATCH {
                            self.flush(&mut posts).await;
                        }
                    }
                    // Edits and deletes keep their place in the order: earlier posts go first.
                    Job::Edit { room_id, message_id, content, at, reply } => {
                        self.flush(&mut posts).await;
                        let edited = self.attempt(self.store.edit_message(room_id, message_id, content, at)).await;
                        let edited = match edited {
                            Ok(Some(row)) => {
                                let message = self.decorated(row).await;
                                let event =
                                    ServerEvent::MessageUpdated { seq: message.updated_seq, message: message.clone() };
                                self.publisher.publish_room(room_id, &event);
                                Ok(Some(message))
                            }
                            other => other.map(|_| None),
                        };
                        let _ = reply.send(edited);
                    }
                    Job::React { change, reply } => {
                        self.flush(&mut posts).await;
                        let reacted = self.attempt(self.store.react(&change)).await;
                        if let Ok(ReactOutcome::Changed(seq)) = reacted {
                            let event = ServerEvent::Reaction {
                                seq: seq.get(),
                                room_id: change.room_id.into(),
                                message_id: change.message_id.into(),
                                emoji: change.emoji,
                                user_id: change.user_id.into(),
                                added: change.added,
                            };
                            self.publisher.publish_room(change.room_id, &event);
                        }
                        let _ = reply.send(reacted);
                    }
                    Job::Delete { room_id, message_id, reply } => {
                        self.flush(&mut posts).await;
                        let deleted = self.attempt(self.store.delete_message(room_id, message_id)).await;
                        let _ = reply.send(deleted.map(|row| {
                            row.map(|row| {
                                let event = ServerEvent::MessageDeleted {
                                    seq: row.updated_seq.get(),
                                    room_id: room_id.into(),
                                    message_id: message_id.into(),
                                };
                                self.publisher.publish_room(room_id, &event);
                            })
                            .is_some()
                        }));
                    }
                }
                next = jobs.try_recv().ok();
            }
            self.flush(&mut posts).await;
        }
    }

    /// An edited message as its event shows it: with its repliers and reactions. The edit
    /// is stored and its seq taken, so the event goes out even if they cannot be read.
    async fn decorated(&self, row: store::MessageRow) -> Message {
        let plain = views::message(row.clone(), &self.signer);
        match decorated(&self.store, &self.signer, vec![row]).await {
            Ok(mut messages) => messages.pop().unwrap_or(plain),
            Err(e) => {
                tracing::warn!(error = %e, "an edited message's reactions could not be read; its event goes without them");
                plain
            }
        }
    }

    async fn flush(&self, posts: &mut Vec<PendingPost>) {
        if posts.is_empty() {
            return;
        }
        let (items, replies): (Vec<_>, Vec<_>) = posts.drain(..).map(|p| ((p.message, p.notify), p.reply)).unzip();
        metrics::histogram!("palaver_post_batch_size").record(items.len() as f64);
        let stored = match self.breaker.check(Instant::now()) {
            Ok(()) => {
                // The store's share of a post's latency (a connection, the statements, the
                // commit's flush): what an ack and every delivery wait for.
                let started = Instant::now();
                let stored = self.store.post_batch(&items).await;
                metrics::histogram!("palaver_post_batch_seconds").record(started.elapsed().as_secs_f64());
                stored
            }
            Err(wait) => {
                for reply in replies {
                    let _ = reply.send(Err(database_unavailable(wait)));
                }
                return;
            }
        };
        match stored {
            Ok(outcomes) => {
                self.succeeded();
                for (outcome, reply) in outcomes.into_iter().zip(replies) {
                    let _ = reply.send(Ok(outcome.map(|posted| announce(&self.publisher, &self.signer, posted))));
                }
            }
            // One bad row must not fail the others: retry them one transaction each.
            Err(e) if e.is_row_error() && items.len() > 1 => {
                tracing::debug!(error = %e, size = items.len(), "batch failed on a row; posting one by one");
                for (item, reply) in items.iter().zip(replies) {
                    let outcome = self.attempt(self.store.post_batch(std::slice::from_ref(item))).await;
                    let posted = outcome
                        .map(|mut o| o.pop().flatten().map(|posted| announce(&self.publisher, &self.signer, posted)));
                    let _ = reply.send(posted);
                }
            }
            // Anything else (the database is down, ...) would fail every item again.
            Err(e) => {
                let failure = self.failed(e);
                for reply in replies {
                    let _ = reply.send(Err(failure.error()));
                }
            }
        }
    }

    /// One write, unless the database is known to be down; keeps the breaker informed.
    async fn attempt<T>(&self, write: impl Future<Output = Result<T, store::Error>>) -> Result<T> {
        self.breaker.check(Instant::now()).map_err(database_unavailable)?;
        match write.await {
            Ok(done) => {
                self.succeeded();
                Ok(done)
            }
            Err(e) => Err(self.failed(e).error()),
        }
    }

    fn succeeded(&self) {
        if self.breaker.reset() {
            tracing::info!("the database is reachable again; writes resume");
        }
    }

    fn failed(&self, e: store::Error) -> Failure {
        match e {
            // Two messages raced to attach one upload: the later one is refused.
            store::Error::UniqueViolation(Unique::MessageUpload) => Failure::Conflict(Conflict::UploadAttached),
            store::Error::Unavailable(cause) => {
                if self.breaker.trip(Instant::now()) {
                    tracing::warn!(error = %cause, "the database is unavailable; writes fail at once until it is back");
                }
                Failure::Unavailable
            }
            other => {
                tracing::error!(error = %other, "storing room events failed");
                Failure::Other(other.to_string())
            }
        }
    }
}

/// Why a write failed, shared by every job of a batch (store errors cannot be cloned).
enum Failure {
    Unavailable,
    Conflict(Conflict),
    Other(String),
}

impl Failure {
    fn error(&self) -> Error {
        match self {
            Failure::Unavailable => database_unavailable(DATABASE_RETRY_AFTER),
            Failure::Conflict(conflict) => Error::Conflict(*conflict),
            Failure::Other(cause) => Error::Internal(anyhow::anyhow!("storing room events failed: {cause}")),
        }
    }
}

/// Publishes a newly stored message and its notifications; returns the wire message.
fn announce(publisher: &Publisher, signer: &UrlSigner, posted: Posted) -> (Message, bool) {
    let Posted { message, created, notified } = posted;
    let (room_id, message_id, root_id) = (message.room_id, message.id, message.thread_root_id);
    let message = views::message(message, signer);
    if created {
        publisher.publish_room(room_id, &ServerEvent::Message { seq: message.seq, message: message.clone() });
        let actor = UserRef { id: message.author.id, username: message.author.username.clone() };
        crate::service::publish::publish_notifications(
            &**publisher.broker(),
            &notified,
            room_id,
            Some((message_id, root_id)),
            &actor,
            message.created_at,
        );
    }
    (message, created)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::domain::{MessageKind, RoomKind, UserId, Visibility};
    use crate::realtime::{Broker, Envelope};
    use crate::store::{NewRoom, NewUser, PoolSettings};

    /// Panics on its first publish, as a bug after a commit would; delivers nothing.
    #[derive(Default)]
    struct PanicsOnce(AtomicBool);

    impl Broker for PanicsOnce {
        fn publish(&self, _: Envelope) {
            if !self.0.swap(true, Ordering::SeqCst) {
                panic!("a bug while publishing");
            }
        }
    }

    /// A SQLite store with one user and one room.
    async fn store_with_room(dir: &tempfile::TempDir) -> (DynStore, UserId, RoomId) {
        let url = format!("sqlite://{}", dir.path().join("palaver.db").display());
        let pool = PoolSettings { max_connections: 2, acquire_timeout: Duration::from_secs(3) };
        let store = store::open(&url, pool).await.expect("the store opens");
        let now = crate::clock::now();
        let user = UserId::generate();
        let new_user = NewUser {
            id: user,
            username: "alice".into(),
            email: "alice@example.com".into(),
            password_hash: "-".into(),
            created_at: now,
        };
        store.insert_user(new_user).await.expect("a user");
        let room = RoomId::generate();
        let new_room = NewRoom {
            id: room,
            kind: RoomKind::Room,
            name: "general".into(),
            description: String::new(),
            visibility: Visibility::Public,
            created_by: user,
            created_at: now,
        };
        store.create_room(new_room).await.expect("a room");
        (store, user, room)
    }

    fn publisher(broker: Arc<dyn Broker>) -> Publisher {
        Publisher::new(broker, tokio_util::sync::CancellationToken::new())
    }

    fn signer() -> UrlSigner {
        UrlSigner::new(b"a test secret", 3600)
    }

    fn message(room_id: RoomId, author_id: UserId, content: &str) -> NewMessage {
        NewMessage {
            id: MessageId::generate(),
            room_id,
            author_id,
            author_username: "alice".into(),
            kind: MessageKind::Text,
            content: content.into(),
            attachment: None,
            client_msg_id: None,
            created_at: crate::clock::now(),
            thread_root_id: None,
            via: None,
            author_name: None,
        }
    }

    #[tokio::test]
    async fn a_writer_that_panics_is_restarted_with_its_queue() {
        let dir = tempfile::tempdir().unwrap();
        let (store, user, room) = store_with_room(&dir).await;
        let sequencer = Sequencer::start(store, publisher(Arc::new(PanicsOnce::default())), signer(), 1);

        let first = sequencer.post(message(room, user, "one"), NotifyPlan::default()).await;
        assert!(matches!(first, Err(Error::Internal(_))), "the job in hand when it panicked fails: {first:?}");
        let second = sequencer.post(message(room, user, "two"), NotifyPlan::default()).await;
        let (posted, created) = second.expect("the restarted writer stores the next post").expect("the room exists");
        assert!(created);
        assert_eq!(posted.seq, 2, "the first post was committed before the panic");
        assert!(sequencer.running());
    }

    #[tokio::test]
    async fn a_bad_row_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (store, user, room) = store_with_room(&dir).await;
        let ghost = UserId::generate();
        let batch = [
            (message(room, user, "good"), NotifyPlan::default()),
            (message(room, ghost, "by nobody"), NotifyPlan::default()),
        ];
        let failed = store.post_batch(&batch).await.err().expect("an unknown author fails the batch");
        assert!(failed.is_row_error(), "a foreign key violation belongs to one row: {failed:?}");

        let sequencer = Sequencer::start(
            store,
            publisher(Arc::new(crate::realtime::InProcessBroker::new(Default::default()))),
            signer(),
            1,
        );
        let [good, bad] = batch.map(|(m, n)| sequencer.post(m, n));
        let (good, bad) = tokio::join!(good, bad);
        assert_eq!(good.expect("the good post is stored").expect("the room exists").0.seq, 1);
        assert!(matches!(bad, Err(Error::Internal(_))), "{bad:?}");
    }
}
