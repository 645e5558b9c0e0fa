//! Seeding a room's history straight into the database of a server this process started:
//! a million messages through the API would take longer than the benchmark itself. Rows are
//! written as the server writes them (see crates/palaver/migrations), and each batch takes
//! its seqs the way the server does, by bumping `rooms.last_seq` in the batch's transaction,
//! so seqs stay gapless and `last_seq` stays consistent even if the server posts meanwhile.

use std::time::Duration;

use anyhow::Context;
use sqlx::{PgPool, Postgres, QueryBuilder, Sqlite, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

/// Rows per INSERT: 8 bound values each stays far below SQLite's 32766 variables.
const ROWS_PER_STATEMENT: i64 = 500;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: i64 = 10_000;

/// What a seeded message says; `filler` pads it to a realistic size.
pub fn content(seq_hint: i64, filler: &str) -> String {
    format!("seeded message {seq_hint} {filler}")
}

macro_rules! seed_batches {
    ($pool:expr, $db:ty, $room_id:expr, $author_id:expr, $count:expr, $filler:expr, $progress:expr) => {{
        let mut written: i64 = 0;
        while written < $count {
            let n = ROWS_PER_TRANSACTION.min($count - written);
            let mut tx = $pool.begin().await?;
            let (last,): (i64,) =
                sqlx::query_as("UPDATE rooms SET last_seq = last_seq + $1 WHERE id = $2 RETURNING last_seq")
                    .bind(n)
                    .bind($room_id)
                    .fetch_one(&mut *tx)
                    .await
                    .context("reserving seqs (is the room there?)")?;
            let first = last - n + 1;
            let now = OffsetDateTime::now_utc();
            let mut seq = first;
            while seq <= last {
                let upto = (seq + ROWS_PER_STATEMENT - 1).min(last);
                let mut insert = QueryBuilder::<$db>::new(
                    "INSERT INTO messages (id, room_id, seq, updated_seq, author_id, kind, content, created_at) ",
                );
                insert.push_values(seq..=upto, |mut row, s| {
                    row.push_bind(Uuid::now_v7())
                        .push_bind($room_id)
                        .push_bind(s)
                        .push_bind(s)
                        .push_bind($author_id)
                        .push_bind("text")
                        .push_bind(content(s, $filler))
                        .push_bind(now);
                });
                insert.build().execute(&mut *tx).await.context("inserting seeded messages")?;
                seq = upto + 1;
            }
            tx.commit().await?;
            written += n;
            $progress(written);
        }
        Ok(())
    }};
}

/// Appends `count` messages by `author_id` to `room_id`.
pub async fn seed_database(
    database_url: &str,
    room_id: Uuid,
    author_id: Uuid,
    count: i64,
    filler: &str,
    mut progress: impl FnMut(i64),
) -> anyhow::Result<()> {
    if database_url.starts_with("postgres") {
        let pool = PgPool::connect(database_url).await.context("connecting to the server's PostgreSQL database")?;
        let result: anyhow::Result<()> =
            seed_batches!(pool, Postgres, room_id, author_id, count, filler, &mut progress);
        pool.close().await;
        result
    } else {
        let options = database_url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()?
            // The server holds the file too; wait for its writer rather than fail.
            .busy_timeout(Duration::from_secs(30))
            // As the server runs it: in WAL mode NORMAL loses nothing on a process crash.
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
        let pool = SqlitePool::connect_with(options).await.context("opening the server's SQLite database")?;
        let result: anyhow::Result<()> = seed_batches!(pool, Sqlite, room_id, author_id, count, filler, &mut progress);
        pool.close().await;
        result
    }
}
