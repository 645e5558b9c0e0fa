//! Search: seed a corpus of N messages over many rooms straight into the database (Zipf
//! words in several languages, indexed as the server indexes), then send `GET /search` at a
//! fixed rate as one user who is in some of the rooms, in classes of query (rare words, the
//! commonest words, phrases, prefixes, Chinese and Japanese, accents, filters, relevance).
//! Latency per class; every answer is checked: 200, hits only in the user's rooms, each
//! message holding what was asked (by the server's own terms) and passing the filters, a
//! snippet with a match, in the order asked. Also the index's size on disk.
//! (Over 400 lines: the classes of query and the check of an answer belong together.)

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use palaver::search::{Query, Term};
use palaver_protocol::SearchPage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

use super::{progress, with_target};
use crate::cli::TargetArgs;
use crate::client::{Account, Api};
use crate::corpus::{Corpus, PHRASES};
use crate::seed::{CorpusPlan, seed_corpus};
use crate::server::CpuMeter;
use crate::stats::{LatencyBatch, Report, SharedLatency, Tally, per_sec, round1};

/// Rooms created or joined at once while setting up.
const SETUP_CONCURRENCY: usize = 16;

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Args {
    #[command(flatten)]
    #[serde(skip)]
    pub target: TargetArgs,
    /// Messages to seed (straight into the database of a server started here)
    #[arg(long, default_value_t = 5_000_000)]
    pub messages: i64,
    /// Rooms the messages are spread over (evenly, at random)
    #[arg(long, default_value_t = 1000)]
    pub rooms: usize,
    /// Rooms each user is in: the searching user, and every author
    #[arg(long, default_value_t = 50)]
    pub rooms_per_user: usize,
    /// Users who write the messages (each in --rooms-per-user rooms, at random)
    #[arg(long, default_value_t = 40)]
    pub authors: usize,
    /// Seed of the corpus and of the queries: the same seed, the same corpus
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The messages' `created_at` spread evenly over this many days up to now
    #[arg(long, default_value_t = 365)]
    pub span_days: i64,
    /// Searches per second over all workers
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Concurrent requests (workers)
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// How long to search
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,
    /// Hits per page (`limit`), 1 to 100
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
}

/// The classes of query, each a share of the requests (round-robin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// One English word of rank 2,000 to 30,000 (a handful of hits, or none).
    Rare,
    /// One of the 10 commonest English words (in a large share of all messages).
    Common,
    /// Two of the 20 commonest words, anywhere in the message.
    CommonPair,
    /// A recurring phrase (`"release notes"`), or two common words as a phrase.
    Phrase,
    /// The first 3 letters of a word of rank 50 to 2,000, with `*`.
    Prefix,
    /// A Chinese word or two in a row (one in five: Japanese).
    Cjk,
    /// An accented word typed without its accents, or in capitals.
    Accented,
    /// A common word with a filter: one of the user's rooms, an author who writes in one of
    /// them, or the last 7 days.
    Filtered,
    /// A common word within a 30-day window (`since` and `until`) anywhere in the year.
    Window,
    /// A word of rank 30 to 300, `sort=relevance`.
    Relevance,
}

const CLASSES: [Class; 10] = [
    Class::Rare,
    Class::Common,
    Class::CommonPair,
    Class::Phrase,
    Class::Prefix,
    Class::Cjk,
    Class::Accented,
    Class::Filtered,
    Class::Window,
    Class::Relevance,
];

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Rare => "rare",
            Class::Common => "common",
            Class::CommonPair => "common_pair",
            Class::Phrase => "phrase",
            Class::Prefix => "prefix",
            Class::Cjk => "cjk",
            Class::Accented => "accented",
            Class::Filtered => "filtered",
            Class::Window => "window",
            Class::Relevance => "relevance",
        }
    }
}

/// What the searches may be narrowed by, known from the fixture.
struct World {
    corpus: Corpus,
    /// The searching user's rooms.
    rooms: Vec<Uuid>,
    /// Authors who write in at least one of the user's rooms.
    authors: Vec<Uuid>,
    first: OffsetDateTime,
    last: OffsetDateTime,
}

/// One search: its parameters, and what each hit must satisfy.
struct Search {
    params: Vec<(&'static str, String)>,
    query: Query,
    room_id: Option<Uuid>,
    author_id: Option<Uuid>,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    relevance: bool,
}

impl World {
    fn english(&self, rng: &mut StdRng, ranks: std::ops::Range<usize>) -> &str {
        &self.corpus.english.words[rng.random_range(ranks)]
    }

    fn search(&self, class: Class, rng: &mut StdRng) -> Search {
        let mut params = vec![];
        let (mut room_id, mut author_id, mut since, mut until) = (None, None, None, None);
        let q = match class {
            Class::Rare => self.english(rng, 2_000..30_000).to_owned(),
            Class::Common => self.english(rng, 0..10).to_owned(),
            Class::CommonPair | Class::Phrase if class == Class::Phrase && rng.random_bool(0.5) => {
                format!("\"{}\"", PHRASES[rng.random_range(0..PHRASES.len())])
            }
            Class::CommonPair | Class::Phrase => {
                let a = self.english(rng, 0..20);
                let mut b = self.english(rng, 0..20);
                while b == a {
                    b = self.english(rng, 0..20);
                }
                if class == Class::Phrase { format!("\"{a} {b}\"") } else { format!("{a} {b}") }
            }
            Class::Prefix => loop {
                let word = self.english(rng, 50..2_000);
                if word.len() >= 4 {
                    break format!("{}*", &word[..3]);
                }
            },
            Class::Cjk if rng.random_bool(0.2) => self.corpus.japanese.words[rng.random_range(0..100)].clone(),
            Class::Cjk => {
                let word = &self.corpus.chinese.words[rng.random_range(0..300)];
                if word.chars().count() >= 2 {
                    word.clone()
                } else {
                    // A lone character is rarely what anyone searches: with the next word.
                    format!("{word}{}", self.corpus.chinese.words[rng.random_range(0..300)])
                }
            }
            Class::Accented => loop {
                let word = &self.corpus.european.words[rng.random_range(0..500)];
                let folded = palaver::search::index_text(word);
                if folded != *word {
                    break if rng.random_bool(0.5) { folded } else { word.to_uppercase() };
                }
            },
            Class::Filtered => {
                match rng.random_range(0..3) {
                    0 => room_id = Some(self.rooms[rng.random_range(0..self.rooms.len())]),
                    1 => author_id = Some(self.authors[rng.random_range(0..self.authors.len())]),
                    _ => since = Some(self.last - time::Duration::days(7)),
                }
                self.english(rng, 0..10).to_owned()
            }
            Class::Window => {
                let span = (self.last - self.first - time::Duration::days(30)).whole_seconds().max(1);
                let from = self.first + time::Duration::seconds(rng.random_range(0..span));
                since = Some(from);
                until = Some(from + time::Duration::days(30));
                self.english(rng, 0..10).to_owned()
            }
            Class::Relevance => {
                params.push(("sort", "relevance".to_owned()));
                self.english(rng, 30..300).to_owned()
            }
        };
        let rfc3339 = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        if let Some(room) = room_id {
            params.push(("room_id", room.to_string()));
        }
        if let Some(author) = author_id {
            params.push(("author_id", author.to_string()));
        }
        if let Some(t) = since {
            params.push(("since", rfc3339(t)));
        }
        if let Some(t) = until {
            params.push(("until", rfc3339(t)));
        }
        // Queries are made from the corpus's own words, so they always parse.
        let query = Query::parse(&q).unwrap_or(Query { must: vec![], not: vec![] });
        params.push(("q", q));
        Search { params, query, room_id, author_id, since, until, relevance: class == Class::Relevance }
    }
}

/// Whether the terms of a message (in order) hold `part`.
fn holds(terms: &[&str], part: &Term) -> bool {
    match part {
        Term::Word(word) => terms.contains(&word.as_str()),
        Term::Prefix(stem) => terms.iter().any(|t| t.starts_with(stem.as_str())),
        Term::Phrase { terms: phrase, prefix } => terms.windows(phrase.len()).any(|w| {
            w.iter()
                .zip(phrase)
                .enumerate()
                .all(|(i, (t, p))| if *prefix && i == phrase.len() - 1 { t.starts_with(p.as_str()) } else { t == p })
        }),
    }
}

/// Why an answer is wrong, or `None` when it is right.
fn check(page: &SearchPage, search: &Search, rooms: &HashSet<Uuid>, limit: i64) -> Option<&'static str> {
    if page.items.len() as i64 > limit {
        return Some("more hits than the limit");
    }
    if (page.items.len() as i64) < limit && page.next_cursor.is_some() {
        return Some("a cursor after a short page");
    }
    if search.query.must.is_empty() {
        return Some("the query did not parse here");
    }
    let mut previous: Option<(usize, OffsetDateTime)> = None;
    for hit in &page.items {
        let m = &hit.message;
        if !rooms.contains(&hit.room.id) || m.room_id != hit.room.id {
            return Some("a hit in a room the user is not in");
        }
        if m.deleted {
            return Some("a deleted message");
        }
        if !hit.snippet.iter().any(|s| s.matched && !s.text.is_empty()) {
            return Some("a snippet without a match");
        }
        let text = palaver::search::index_text(&m.content);
        let terms: Vec<&str> = text.split(' ').collect();
        if !search.query.must.iter().all(|part| holds(&terms, part)) {
            return Some("a message without what was asked");
        }
        if search.room_id.is_some_and(|r| r != m.room_id) || search.author_id.is_some_and(|a| a != m.author.id) {
            return Some("a hit outside the room or author filter");
        }
        if search.since.is_some_and(|t| m.created_at < t) || search.until.is_some_and(|t| m.created_at > t) {
            return Some("a hit outside since/until");
        }
        // Seeded messages were created in insertion order, so `recent` is newest first by
        // `created_at`; `relevance` is shortest indexed text first.
        // Characters, as the server's `length(search_text)` counts them.
        let key = (text.chars().count(), m.created_at);
        if let Some((len, at)) = previous {
            let in_order = if search.relevance { len <= key.0 } else { at >= key.1 };
            if !in_order {
                return Some("hits out of order");
            }
        }
        previous = Some(key);
    }
    None
}

/// Per class: latency, hits, and answers that were wrong.
#[derive(Default)]
struct ClassStats {
    latency: SharedLatency,
    queries: AtomicU64,
    hits: AtomicU64,
    empty: AtomicU64,
    bad: AtomicU64,
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.messages > 0, "--messages must be > 0");
    anyhow::ensure!((1..=100).contains(&args.limit), "--limit must be 1 to 100");
    anyhow::ensure!(args.concurrency > 0 && args.rate > 0.0, "--concurrency and --rate must be > 0");
    anyhow::ensure!(
        args.rooms > 0 && (1..=args.rooms).contains(&args.rooms_per_user),
        "--rooms-per-user must be 1 to --rooms"
    );
    anyhow::ensure!(args.authors > 0, "--authors must be > 0");
    let target_args = args.target.clone();
    with_target(&target_args, |target| async move {
        let url = target.database_url().context("search seeds the database: start the server here (--server-bin)")?;
        let api = Api::new(&target.base, 64)?;
        progress(format_args!("registering {} users", args.authors + 2));
        let accounts = api.register_users(args.authors + 2).await?;
        let (owner, searcher, authors) = (&accounts[0], &accounts[1], &accounts[2..]);
        progress(format_args!("creating {} rooms", args.rooms));
        let rooms: Vec<Uuid> = futures_util::stream::iter(0..args.rooms)
            .map(|k| {
                let api = api.clone();
                async move { api.create_room(&owner.token, &format!("search {k}")).await.map(|r| r.id) }
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await?;
        let mut rng = StdRng::seed_from_u64(args.seed);
        let pick_rooms = |rng: &mut StdRng| {
            rand::seq::index::sample(rng, args.rooms, args.rooms_per_user).into_iter().collect::<Vec<usize>>()
        };
        let searcher_rooms = pick_rooms(&mut rng);
        let author_rooms: Vec<Vec<usize>> = authors.iter().map(|_| pick_rooms(&mut rng)).collect();
        progress(format_args!("joining {} rooms each", args.rooms_per_user));
        let joins = std::iter::once((searcher, &searcher_rooms)).chain(authors.iter().zip(&author_rooms));
        let all_rooms = &rooms;
        let joins: Vec<(&Account, Uuid)> =
            joins.flat_map(|(account, rs)| rs.iter().map(move |&r| (account, all_rooms[r]))).collect();
        futures_util::stream::iter(joins)
            .map(|(account, room)| {
                let api = api.clone();
                async move { api.join(&account.token, room).await }
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        // Who writes in each room: its authors, or its owner (in every room) where none is.
        let mut room_authors: Vec<Vec<Uuid>> = vec![vec![]; args.rooms];
        for (author, rs) in authors.iter().zip(&author_rooms) {
            for &r in rs {
                room_authors[r].push(author.id);
            }
        }
        for writers in &mut room_authors {
            if writers.is_empty() {
                writers.push(owner.id);
            }
        }

        progress(format_args!("seeding {} messages", args.messages));
        let corpus = Corpus::new(args.seed);
        let span = time::Duration::days(args.span_days.max(1));
        let plan = CorpusPlan {
            corpus: &corpus,
            seed: args.seed,
            rooms: &rooms,
            authors: &room_authors,
            count: args.messages,
            span,
        };
        let seed_start = Instant::now();
        let step = (args.messages / 10).max(100_000);
        let mut reported = 0;
        seed_corpus(url, &plan, |n| {
            if n / step > reported || n == args.messages {
                reported = n / step;
                progress(format_args!("seeded {n} ({:.0}/s)", n as f64 / seed_start.elapsed().as_secs_f64()));
            }
        })
        .await?;
        let seed_elapsed = seed_start.elapsed();
        progress(format_args!("settling and measuring the index"));
        let settle_start = Instant::now();
        let sizes = settle_and_measure(url, args.messages).await?;
        let settle_elapsed = settle_start.elapsed();

        let mut report = Report::new(
            "search",
            format!(
                "{} messages over {} rooms, the user in {}; {} q/s for {} s; {}",
                args.messages,
                args.rooms,
                args.rooms_per_user,
                args.rate,
                args.duration_secs,
                target.describe()
            ),
        );
        report.add("config", &args);
        report.add("backend", target.backend());
        report.add("seed_secs", round1(seed_elapsed.as_secs_f64()));
        report.add("seed_messages_per_sec", per_sec(args.messages as u64, seed_elapsed));
        report.add("settle_secs", round1(settle_elapsed.as_secs_f64()));
        report.add("index", sizes);

        let world = Arc::new(World {
            corpus,
            rooms: searcher_rooms.iter().map(|&r| rooms[r]).collect(),
            authors: authors
                .iter()
                .zip(&author_rooms)
                .filter(|(_, rs)| rs.iter().any(|r| searcher_rooms.contains(r)))
                .map(|(a, _)| a.id)
                .chain(std::iter::once(owner.id))
                .collect(),
            first: OffsetDateTime::now_utc() - span,
            last: OffsetDateTime::now_utc(),
        });
        progress(format_args!("searching at {} q/s for {} s", args.rate, args.duration_secs));
        let stats: Arc<Vec<ClassStats>> = Arc::new(CLASSES.iter().map(|_| ClassStats::default()).collect());
        let from_due = Arc::new(SharedLatency::default());
        let slots = Arc::new(AtomicI64::new(0));
        let start = Instant::now();
        let cpu = CpuMeter::start(target.pid);
        let deadline = start + Duration::from_secs(args.duration_secs);
        let interval = Duration::from_secs_f64(1.0 / args.rate);
        let mut workers = JoinSet::new();
        for w in 0..args.concurrency {
            let (api, token, world, stats, from_due, slots) =
                (api.clone(), searcher.token.clone(), world.clone(), stats.clone(), from_due.clone(), slots.clone());
            let mut rng = StdRng::seed_from_u64(args.seed.wrapping_mul(1000).wrapping_add(w as u64));
            let limit = args.limit;
            workers.spawn(async move {
                let mut errors = Tally::default();
                let rooms: HashSet<Uuid> = world.rooms.iter().copied().collect();
                let mut from_due = LatencyBatch::new(&from_due);
                loop {
                    // The next slot of one schedule shared by all workers: a slow answer
                    // delays only its worker, and the wait shows in latency_from_due.
                    let slot = slots.fetch_add(1, Ordering::Relaxed);
                    let due = start + interval.mul_f64(slot as f64);
                    if due >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(due).await;
                    // A server that takes longer than the schedule allows does not stretch
                    // the run: what was due after the deadline is not sent.
                    if Instant::now() >= deadline {
                        break;
                    }
                    let class = CLASSES[slot as usize % CLASSES.len()];
                    let search = world.search(class, &mut rng);
                    let mut params = search.params.clone();
                    params.push(("limit", limit.to_string()));
                    let sent = Instant::now();
                    let result = api.search(&token, &params).await;
                    let stat = &stats[slot as usize % CLASSES.len()];
                    stat.latency.record(sent.elapsed());
                    from_due.record(due.elapsed());
                    stat.queries.fetch_add(1, Ordering::Relaxed);
                    match result {
                        Ok(page) => {
                            stat.hits.fetch_add(page.items.len() as u64, Ordering::Relaxed);
                            if page.items.is_empty() {
                                stat.empty.fetch_add(1, Ordering::Relaxed);
                            }
                            if let Some(why) = check(&page, &search, &rooms, limit) {
                                stat.bad.fetch_add(1, Ordering::Relaxed);
                                errors.add(format!("{}: {why}", class.name()), 1);
                            }
                        }
                        Err(e) => errors.add(format!("{}: {}", class.name(), e.label()), 1),
                    }
                }
                errors
            });
        }
        let mut errors = Tally::default();
        while let Some(joined) = workers.join_next().await {
            errors.merge(&joined?);
        }
        let elapsed = start.elapsed();
        let cpu = cpu.finish();
        let mut total = 0;
        let mut bad = 0;
        for (class, stat) in CLASSES.iter().zip(stats.iter()) {
            let queries = stat.queries.load(Ordering::Relaxed);
            total += queries;
            bad += stat.bad.load(Ordering::Relaxed);
            let mut row = stat.latency.snapshot().summary();
            row["mean_hits"] = json!(round1(stat.hits.load(Ordering::Relaxed) as f64 / queries.max(1) as f64));
            row["no_hits"] = json!(stat.empty.load(Ordering::Relaxed));
            report.add(class.name(), row);
        }
        report.add("requests", total);
        report.add("requests_per_sec", per_sec(total, elapsed));
        // From when each search was due: a server that falls behind the rate shows it here.
        report.latency("latency_from_due", &from_due.snapshot());
        report.add("cpu", cpu);
        report.add("errors", errors.to_json());
        report.expect_zero("bad_answers", bad);
        report.expect_zero("request_errors", errors.total() - bad);
        report.expect(total > 0, "no search completed");
        for (class, stat) in CLASSES.iter().zip(stats.iter()) {
            if matches!(class, Class::Common | Class::CommonPair | Class::Filtered | Class::Window)
                && stat.queries.load(Ordering::Relaxed) > 0
                && stat.hits.load(Ordering::Relaxed) == 0
            {
                report.expect(false, format!("{} queries found nothing", class.name()));
            }
        }
        Ok(report)
    })
    .await
}

/// After seeding: what a server's database looks like once it has settled (PostgreSQL:
/// `VACUUM ANALYZE`, as autovacuum would do after so many inserts, which also moves GIN's
/// pending list into the index; SQLite: a WAL checkpoint), then the index's size: in
/// total, per million messages, and by part.
async fn settle_and_measure(url: &str, messages: i64) -> anyhow::Result<serde_json::Value> {
    use sqlx::Connection;
    let per_million = |bytes: i64| round1(bytes as f64 / 1_048_576.0 / (messages as f64 / 1e6));
    let mib = |bytes: i64| round1(bytes as f64 / 1_048_576.0);
    if url.starts_with("postgres") {
        let mut db = sqlx::PgConnection::connect(url).await?;
        sqlx::query("VACUUM ANALYZE messages").execute(&mut db).await?;
        let (gin, pos, unindexed, total): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT pg_relation_size('messages_search'), pg_relation_size('messages_pos'),
                    pg_relation_size('messages_unindexed'), pg_total_relation_size('messages')",
        )
        .fetch_one(&mut db)
        .await?;
        let (text, vector): (i64, i64) = sqlx::query_as(
            "SELECT CAST(coalesce(sum(pg_column_size(search_text)), 0) AS BIGINT),
                    CAST(coalesce(sum(pg_column_size(search_vector)), 0) AS BIGINT) FROM messages",
        )
        .fetch_one(&mut db)
        .await?;
        // `pos` is a BIGINT in every row.
        let added = gin + pos + unindexed + text + vector + 8 * messages;
        db.close().await?;
        Ok(json!({
            "added_mib": mib(added),
            "added_mib_per_million": per_million(added),
            "gin_index_mib": mib(gin),
            "pos_index_mib": mib(pos),
            "search_text_mib": mib(text),
            "search_vector_mib": mib(vector),
            "messages_total_mib": mib(total),
        }))
    } else {
        let mut db = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut db).await?;
        let parts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT name, CAST(sum(pgsize) AS INTEGER) FROM dbstat
             WHERE name LIKE 'message_search%' OR name IN ('messages', 'messages_unindexed') GROUP BY name",
        )
        .fetch_all(&mut db)
        .await?;
        let (text,): (i64,) =
            sqlx::query_as("SELECT CAST(coalesce(sum(length(CAST(search_text AS BLOB))), 0) AS INTEGER) FROM messages")
                .fetch_one(&mut db)
                .await?;
        let (pages, page_size): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT page_count FROM pragma_page_count()), (SELECT page_size FROM pragma_page_size())",
        )
        .fetch_one(&mut db)
        .await?;
        db.close().await?;
        let size = |name: &str| parts.iter().find(|(n, _)| n == name).map_or(0, |(_, s)| *s);
        let fts: i64 = parts.iter().filter(|(n, _)| n.starts_with("message_search")).map(|(_, s)| s).sum();
        let added = fts + text + size("messages_unindexed");
        Ok(json!({
            "added_mib": mib(added),
            "added_mib_per_million": per_million(added),
            "fts5_mib": mib(fts),
            "fts5_parts_mib": parts.iter().filter(|(n, _)| n.starts_with("message_search"))
                .map(|(n, s)| (n.clone(), json!(mib(*s)))).collect::<serde_json::Map<_, _>>(),
            "search_text_mib": mib(text),
            "messages_table_mib": mib(size("messages")),
            "file_mib": mib(pages * page_size),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_hold_by_the_servers_terms() {
        let text = palaver::search::index_text("Release notes for Café, 中文搜索 today");
        let terms: Vec<&str> = text.split(' ').collect();
        let q = |s: &str| Query::parse(s).unwrap();
        assert!(q("\"release notes\" cafe").must.iter().all(|p| holds(&terms, p)));
        assert!(q("CAFÉ tod* 文搜").must.iter().all(|p| holds(&terms, p)));
        assert!(q("\"release no\"*").must.iter().all(|p| holds(&terms, p)));
        assert!(!q("\"notes release\"").must.iter().all(|p| holds(&terms, p)), "order matters in a phrase");
        assert!(!q("caf").must.iter().all(|p| holds(&terms, p)), "whole words only");
        assert!(!q("中搜").must.iter().all(|p| holds(&terms, p)));
    }

    #[test]
    fn every_class_makes_a_query_that_parses() {
        let world = World {
            corpus: Corpus::new(3),
            rooms: vec![Uuid::now_v7()],
            authors: vec![Uuid::now_v7()],
            first: OffsetDateTime::now_utc() - time::Duration::days(365),
            last: OffsetDateTime::now_utc(),
        };
        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..50 {
            for class in CLASSES {
                let search = world.search(class, &mut rng);
                assert!(!search.query.must.is_empty(), "{class:?}: {:?}", search.params);
            }
        }
    }
}
