//! SQLite: WAL mode, one writer connection (SQLite allows one writer at a time, so a pool
//! of writers would only queue on the file lock) and a pool of readers.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::{Error, PoolSettings, Store};

pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
}

impl SqliteStore {
    pub async fn open(url: &str, settings: PoolSettings) -> Result<Self, Error> {
        let options = SqliteConnectOptions::from_str(url)?;
        if !url.contains(":memory:") && !url.contains("mode=memory") {
            private_files(options.get_filename()).map_err(|e| Error::Database(sqlx::Error::Io(e)))?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL survives a process crash; only an OS crash can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { write, read })
    }
}

/// SQLite gives the `-wal` and `-shm` files the main file's mode, so creating that file
/// private before SQLite does keeps all three private.
fn private_files(database: &std::path::Path) -> std::io::Result<()> {
    crate::private_fs::prepare_file(database)?;
    for suffix in ["-wal", "-shm"] {
        let mut companion = database.as_os_str().to_owned();
        companion.push(suffix);
        crate::private_fs::tighten(std::path::Path::new(&companion))?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

super::users::impl_user_store!(SqliteStore, Sqlite);
super::tokens::impl_token_store!(SqliteStore, Sqlite);
super::rooms::impl_room_store!(SqliteStore, Sqlite);
super::messages::impl_message_store!(SqliteStore, Sqlite);
super::notifications::impl_notification_store!(SqliteStore, Sqlite);
super::uploads::impl_upload_store!(SqliteStore, Sqlite);
super::conversations::impl_conversation_store!(SqliteStore, Sqlite);
