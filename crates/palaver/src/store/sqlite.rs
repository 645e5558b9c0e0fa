//! SQLite: WAL mode, one writer connection (SQLite allows one writer at a time, so a pool
//! of writers would only queue on the file lock), a pool of readers, and a checkpointer.
//!
//! The writer does not checkpoint: in WAL mode with `synchronous = NORMAL` a commit only
//! appends to the WAL, and the checkpoint (copying the WAL into the database and syncing it
//! to disk, milliseconds on a slow disk) is the one step that waits on the disk. Left to the
//! writer (SQLite's default), every thousandth page committed stalls the writer, and every
//! post queued behind it. Here a connection of its own checkpoints each second instead,
//! beside the writer.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{Error, PoolSettings, Store};

/// How often the WAL is copied into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    /// Stops the checkpointer when the store goes.
    _checkpointer: DropGuard,
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
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let checkpointer = SqliteConnection::connect_with(&options).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.read_only(true))
            .await?;
        let stop = CancellationToken::new();
        tokio::spawn(checkpoint(checkpointer, stop.clone()));
        Ok(Self { write, read, _checkpointer: stop.drop_guard() })
    }
}

/// Copies the WAL into the database every `CHECKPOINT_EVERY` without blocking the writer
/// or the readers (`PASSIVE`), until `stop`; the last connection to close checkpoints what
/// is left.
async fn checkpoint(mut connection: SqliteConnection, stop: CancellationToken) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = every.tick() => {}
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut connection).await {
            tracing::warn!(error = %e, "could not checkpoint the SQLite WAL");
        }
    }
    let _ = connection.close().await;
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
super::search::impl_search_store!(SqliteStore, Sqlite,
    render: super::search::fts5_query,
    from: "FROM message_search s JOIN messages m ON m.rowid = s.rowid",
    matches: ("message_search MATCH ", ""),
    // The index's own rowid, not `m.rowid` (the same value): FTS5 hands its matches out in
    // rowid order, so `ORDER BY s.rowid DESC LIMIT n` stops after n hits in the viewer's
    // rooms; ordered by `m.rowid` SQLite sorted every match first (a common word: hundreds
    // of thousands of rows, see docs/benchmarks.md "Search").
    pos: "s.rowid",
    // Times are RFC 3339 text, whose order is not the times' when fractions differ in length.
    time: "julianday(m.created_at)", time_of: ("julianday(", ")"));

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer does not checkpoint, so the database file grows only if the checkpointer
    /// copies the WAL into it.
    #[tokio::test]
    async fn the_wal_is_checkpointed_beside_the_writer() {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let path = dir.path().join("palaver.db");
        let url = format!("sqlite://{}", path.display());
        let settings = PoolSettings { max_connections: 1, acquire_timeout: Duration::from_secs(3) };
        let store = SqliteStore::open(&url, settings).await.expect("the store opens");
        // Whatever the migrations left in the WAL is copied first.
        tokio::time::sleep(CHECKPOINT_EVERY * 2).await;
        let before = std::fs::metadata(&path).expect("the database file").len();

        sqlx::query("CREATE TABLE filler (bytes BLOB)").execute(&store.write).await.expect("a table");
        for _ in 0..64 {
            sqlx::query("INSERT INTO filler VALUES (zeroblob(16384))").execute(&store.write).await.expect("a row");
        }
        let wal = std::fs::metadata(dir.path().join("palaver.db-wal")).expect("the WAL").len();
        assert!(wal > 1 << 20, "the rows went to the WAL first ({wal} bytes)");

        let deadline = std::time::Instant::now() + CHECKPOINT_EVERY * 10;
        loop {
            let now = std::fs::metadata(&path).expect("the database file").len();
            if now >= before + (1 << 20) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was not copied into the database ({before} -> {now} bytes)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SQLite names an index only when it is on an expression, and otherwise its columns:
    /// each index a service tells apart is recognised from what the migrations create.
    #[tokio::test]
    async fn each_unique_index_is_told_apart() {
        use crate::store::Unique;
        let dir = tempfile::tempdir().expect("a scratch directory");
        let url = format!("sqlite://{}", dir.path().join("palaver.db").display());
        let settings = PoolSettings { max_connections: 1, acquire_timeout: Duration::from_secs(3) };
        let store = SqliteStore::open(&url, settings).await.expect("the store opens");
        let setup = [
            "INSERT INTO users (id, username, email, password_hash, created_at) VALUES (x'01', 'Alice', 'a@x.org', '', '')",
            "INSERT INTO rooms (id, kind, name, visibility, created_by, created_at) VALUES (x'02', 'public', 'r', 'public', x'01', '')",
            "INSERT INTO messages (id, room_id, seq, updated_seq, author_id, kind, content, upload_id, created_at)
                VALUES (x'03', x'02', 1, 1, x'01', 'image', '', x'AA', '')",
            "INSERT INTO conversations (id, owner_id, title, created_at, updated_at, activity) VALUES (x'04', x'01', 't', '', '', 0)",
            "INSERT INTO chat_messages (id, conversation_id, role, status, content, created_at) VALUES (x'05', x'04', 'assistant', 'running', '', '')",
        ];
        for sql in setup {
            sqlx::query(sql).execute(&store.write).await.expect(sql);
        }
        let refused = [
            (
                "INSERT INTO users (id, username, email, password_hash, created_at) VALUES (x'11', 'alice', 'b@x.org', '', '')",
                Unique::Username,
            ),
            (
                "INSERT INTO users (id, username, email, password_hash, created_at) VALUES (x'12', 'bob', 'A@X.org', '', '')",
                Unique::Email,
            ),
            (
                "INSERT INTO messages (id, room_id, seq, updated_seq, author_id, kind, content, upload_id, created_at)
                    VALUES (x'13', x'02', 2, 2, x'01', 'image', '', x'AA', '')",
                Unique::MessageUpload,
            ),
            (
                "INSERT INTO chat_messages (id, conversation_id, role, status, content, created_at) VALUES (x'14', x'04', 'assistant', 'running', '', '')",
                Unique::RunningReply,
            ),
            (
                "INSERT INTO users (id, username, email, password_hash, created_at) VALUES (x'01', 'c', 'c@x.org', '', '')",
                Unique::Other("users.id".into()),
            ),
        ];
        for (sql, expected) in refused {
            let e = Error::from(sqlx::query(sql).execute(&store.write).await.expect_err(sql));
            assert!(matches!(&e, Error::UniqueViolation(u) if *u == expected), "{sql}: {e:?}");
        }
    }
}
