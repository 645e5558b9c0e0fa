//! Storage: the operations the services need, not a generic ORM.
//!
//! Each operation is written once, as a macro body instantiated for the `sqlite` and the
//! `postgres` backend with that driver's native types (UUID, timestamptz on PostgreSQL;
//! blobs and RFC 3339 text on SQLite). The SQL text is shared (`$1` placeholders work on
//! both), so the two backends cannot drift apart in behaviour.

mod conversations;
mod error;
mod messages;
mod notifications;
mod postgres;
mod rooms;
mod search;
mod sqlite;
mod tokens;
mod uploads;
mod users;

use std::sync::Arc;
use std::time::Duration;

pub use conversations::{ChatMessageRow, ConversationRow, ConversationStore, FinishedReply};
pub use error::{Error, Unique};
pub use messages::{
    AttachmentRow, EventKind, FollowedRow, HistoryRange, HistoryStore, MAX_REACTIONS, MessageRow, MessageStore,
    NewMessage, Notified, NotifyPlan, ParticipantRow, Posted, ReactOutcome, ReactionChange, ReactionRow, RoomEvent,
    Timeline,
};
pub use notifications::{NewNotification, NotificationRow, NotificationStore};
pub use rooms::{DmPair, MemberRow, NewRoom, RoomRow, RoomStore, RoomView};
pub use search::{SearchFilter, SearchOrder, SearchRequest, SearchRow, SearchStore};
pub use tokens::{NewRefreshToken, Rotation, TokenStore};
pub use uploads::{AttachedTo, UploadRow, UploadStore};
pub use users::{AccountState, NewBot, NewUser, TokenAccount, UserRow, UserStore};

/// Everything the services need from a database.
#[async_trait::async_trait]
pub trait Store:
    UserStore
    + TokenStore
    + RoomStore
    + MessageStore
    + HistoryStore
    + NotificationStore
    + UploadStore
    + ConversationStore
    + SearchStore
    + Send
    + Sync
{
    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), Error>;
    fn backend(&self) -> &'static str;
    /// The pool of a PostgreSQL store, for what else lives in that database (blobs).
    fn postgres_pool(&self) -> Option<sqlx::PgPool> {
        None
    }
}

pub type DynStore = Arc<dyn Store>;

/// How the connection pools are sized and how long a caller waits for a connection.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// PostgreSQL pool size; SQLite reader pool size (SQLite has one writer).
    pub max_connections: u32,
    /// How long to wait for a connection before failing with `Error::Unavailable`. It
    /// bounds how long a request waits when the database is down.
    pub acquire_timeout: Duration,
}

/// Opens (creating if needed) and migrates the database the URL names, and indexes for
/// search what was written before search existed.
pub async fn open(url: &str, pool: PoolSettings) -> Result<DynStore, Error> {
    let store: DynStore = if url.starts_with("sqlite:") {
        Arc::new(sqlite::SqliteStore::open(url, pool).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(postgres::PgStore::open(url, pool).await?)
    } else {
        return Err(Error::UnsupportedUrl);
    };
    index_for_search(&*store).await?;
    Ok(store)
}

/// Messages stored before search was added have no terms yet: index them, a batch per
/// transaction, before serving (once; every later write indexes its own message).
async fn index_for_search(store: &dyn Store) -> Result<(), Error> {
    const BATCH: i64 = 2_000;
    let mut indexed = 0;
    loop {
        let done = store.index_unindexed(BATCH).await?;
        indexed += done;
        if done < BATCH as u64 {
            break;
        }
        if indexed % 100_000 < BATCH as u64 {
            tracing::info!(indexed, "indexing earlier messages for search");
        }
    }
    if indexed > 0 {
        tracing::info!(indexed, "indexed earlier messages for search");
    }
    Ok(())
}

/// Page sizes are validated by the services; this only guards the SQL.
fn fetch_limit(limit: i64) -> i64 {
    limit.clamp(1, 1000) + 1
}
