//! Storage: the operations the services need, not a generic ORM.
//!
//! Each operation is written once, as a macro body instantiated for the `sqlite` and the
//! `postgres` backend with that driver's native types (UUID, timestamptz on PostgreSQL;
//! blobs and RFC 3339 text on SQLite). The SQL text is shared (`$1` placeholders work on
//! both), so the two backends cannot drift apart in behaviour.

mod messages;
mod notifications;
mod postgres;
mod rooms;
mod sqlite;
mod tokens;
mod users;

use std::sync::Arc;

pub use messages::{
    EventKind, HistoryRange, HistoryStore, MessageRow, MessageStore, NewMessage, NotifyPlan, Posted, RoomEvent,
};
pub use notifications::{NewNotification, NotificationRow, NotificationStore};
pub use rooms::{DmPair, MemberRow, NewRoom, RoomRow, RoomStore, RoomView};
pub use tokens::{NewRefreshToken, Rotation, TokenStore};
pub use users::{NewUser, UserRow, UserStore};

/// Everything the services need from a database.
#[async_trait::async_trait]
pub trait Store:
    UserStore + TokenStore + RoomStore + MessageStore + HistoryStore + NotificationStore + Send + Sync
{
    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), Error>;
    fn backend(&self) -> &'static str;
}

pub type DynStore = Arc<dyn Store>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique index refused the write; the string names the index or constraint.
    #[error("unique violation: {0}")]
    UniqueViolation(String),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            // PostgreSQL names the constraint; SQLite only says it in the message.
            let which = db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned());
            return Error::UniqueViolation(which);
        }
        Error::Database(e)
    }
}

/// Opens (creating if needed) and migrates the database the URL names.
pub async fn open(url: &str, max_connections: u32) -> Result<DynStore, Error> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url, max_connections).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::open(url, max_connections).await?))
    } else {
        Err(Error::UnsupportedUrl)
    }
}

/// Page sizes are validated by the services; this only guards the SQL.
fn fetch_limit(limit: i64) -> i64 {
    limit.clamp(1, 1000) + 1
}
