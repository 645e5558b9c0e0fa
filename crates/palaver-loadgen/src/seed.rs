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

/// What `seed_corpus` writes: `count` messages over `rooms`, each by one of its room's
/// `authors`, made by `corpus` from `seed`, created evenly over `span` up to now.
pub struct CorpusPlan<'a> {
    pub corpus: &'a crate::corpus::Corpus,
    pub seed: u64,
    pub rooms: &'a [Uuid],
    /// Per room (same order as `rooms`), the users who write in it.
    pub authors: &'a [Vec<Uuid>],
    pub count: i64,
    pub span: time::Duration,
}

/// One seeded row, made before it is written.
struct CorpusRow {
    id: Uuid,
    room_id: Uuid,
    seq: i64,
    author_id: Uuid,
    content: String,
    search_text: String,
    created_at: OffsetDateTime,
}

/// Rows per multi-row INSERT of the corpus: 9 bound values each, 18,000 in all, below
/// SQLite's 32,766 and PostgreSQL's 65,535.
const CORPUS_ROWS_PER_STATEMENT: usize = 2_000;
/// Rows per transaction of the corpus.
const CORPUS_ROWS_PER_TRANSACTION: usize = 20_000;

/// Makes the corpus's rows on a blocking thread, a transaction's worth at a time, while the
/// previous batch is written (at most two batches wait). Seqs continue each room's
/// `last_seq` as read before seeding.
fn corpus_batches(
    plan: &CorpusPlan<'_>,
    mut next_seq: Vec<i64>,
) -> (tokio::sync::mpsc::Receiver<Vec<CorpusRow>>, tokio::task::JoinHandle<Vec<i64>>) {
    use rand::{Rng, SeedableRng};
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    // The generator owns what it reads: the plan's borrowed parts are copied (small).
    let corpus = crate::corpus::Corpus::new(plan.seed);
    let (rooms, authors, count, span) = (plan.rooms.to_vec(), plan.authors.to_vec(), plan.count, plan.span);
    let mut rng = rand::rngs::StdRng::seed_from_u64(plan.seed ^ 0x5eed);
    let handle = tokio::task::spawn_blocking(move || {
        let start = OffsetDateTime::now_utc() - span;
        let step = span / count.max(1) as f64;
        let mut made: i64 = 0;
        while made < count {
            let n = (CORPUS_ROWS_PER_TRANSACTION as i64).min(count - made);
            let mut batch = Vec::with_capacity(n as usize);
            for i in made..made + n {
                let room = rng.random_range(0..rooms.len());
                next_seq[room] += 1;
                let room_authors = &authors[room];
                let content = corpus.message(&mut rng);
                batch.push(CorpusRow {
                    id: Uuid::now_v7(),
                    room_id: rooms[room],
                    seq: next_seq[room],
                    author_id: room_authors[rng.random_range(0..room_authors.len())],
                    // Exactly what the server writes for a posted message.
                    search_text: palaver::search::index_text(&content),
                    content,
                    created_at: start + step * i as f64,
                });
            }
            made += n;
            if tx.blocking_send(batch).is_err() {
                break;
            }
        }
        next_seq
    });
    (rx, handle)
}

macro_rules! seed_corpus_batches {
    ($pool:expr, $db:ty, $plan:expr, $progress:expr) => {{
        let plan = $plan;
        let mut last_seq = Vec::with_capacity(plan.rooms.len());
        for room in plan.rooms {
            let (seq,): (i64,) = sqlx::query_as("SELECT last_seq FROM rooms WHERE id = $1")
                .bind(*room)
                .fetch_one(&$pool)
                .await
                .context("reading a room's last seq (is the room there?)")?;
            last_seq.push(seq);
        }
        let (mut batches, generator) = corpus_batches(plan, last_seq);
        let mut written: i64 = 0;
        while let Some(batch) = batches.recv().await {
            let mut tx = $pool.begin().await?;
            for rows in batch.chunks(CORPUS_ROWS_PER_STATEMENT) {
                let mut insert = QueryBuilder::<$db>::new(
                    "INSERT INTO messages (id, room_id, seq, updated_seq, author_id, kind, content, created_at, search_text) ",
                );
                insert.push_values(rows, |mut b, row| {
                    b.push_bind(row.id)
                        .push_bind(row.room_id)
                        .push_bind(row.seq)
                        .push_bind(row.seq)
                        .push_bind(row.author_id)
                        .push_bind("text")
                        .push_bind(row.content.as_str())
                        .push_bind(row.created_at)
                        .push_bind(row.search_text.as_str());
                });
                insert.build().execute(&mut *tx).await.context("inserting the corpus")?;
            }
            tx.commit().await?;
            written += batch.len() as i64;
            $progress(written);
        }
        let last_seq = generator.await?;
        // Once at the end: nothing else writes into these rooms while they are seeded.
        let mut tx = $pool.begin().await?;
        for (room, seq) in plan.rooms.iter().zip(last_seq) {
            sqlx::query("UPDATE rooms SET last_seq = $1 WHERE id = $2").bind(seq).bind(*room).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }};
}

/// Writes the search corpus straight into the server's database, indexed as the server
/// indexes (`search_text` from `palaver::search::index_text`; SQLite's FTS triggers and
/// PostgreSQL's generated `search_vector` do the rest). Multi-row INSERTs of 2,000 rows,
/// 20,000 per transaction; the rows of the next transaction are made meanwhile.
pub async fn seed_corpus(
    database_url: &str,
    plan: &CorpusPlan<'_>,
    mut progress: impl FnMut(i64),
) -> anyhow::Result<()> {
    anyhow::ensure!(plan.rooms.len() == plan.authors.len() && plan.authors.iter().all(|a| !a.is_empty()));
    if database_url.starts_with("postgres") {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(database_url)
            .await
            .context("connecting to the server's PostgreSQL database")?;
        let result: anyhow::Result<()> = seed_corpus_batches!(pool, Postgres, plan, &mut progress);
        pool.close().await;
        result
    } else {
        let options = database_url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()?
            .busy_timeout(Duration::from_secs(30))
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            // Rooms' index pages and FTS5's segments stay in memory while they fill.
            .pragma("cache_size", "-262144");
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .context("opening the server's SQLite database")?;
        let result: anyhow::Result<()> = seed_corpus_batches!(pool, Sqlite, plan, &mut progress);
        pool.close().await;
        result
    }
}
