//! History: seed one room with M messages, then page it concurrently over REST (the newest
//! page and random `before` pages), at a target rate or as fast as possible. Every page is
//! checked: exactly the seqs it should hold, ascending, with the right `has_more`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use clap::ValueEnum;
use palaver_protocol::MessagePage;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

use super::throughput::closed_loop;
use super::{ACTIVE_READ_BUFFER, Fixture, progress, with_target};
use crate::cli::TargetArgs;
use crate::client::Api;
use crate::seed;
use crate::server::{CpuMeter, Target};
use crate::stats::{LatencyBatch, Report, SharedLatency, Tally, per_sec, round1};

/// Seeding through the API is bounded in time too.
const WS_SEED_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeedMode {
    /// Straight into the database when this process started the server, else over WebSocket
    Auto,
    /// Straight into the database (only for a server started here)
    Db,
    /// Concurrent WebSocket senders
    Ws,
}

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Args {
    #[command(flatten)]
    #[serde(skip)]
    pub target: TargetArgs,
    /// Messages to seed the room with
    #[arg(long, default_value_t = 2000)]
    pub messages: i64,
    /// How to seed
    #[arg(long, value_enum, default_value = "auto")]
    pub seed: SeedMode,
    /// Concurrent WebSocket senders when seeding over WebSocket
    #[arg(long, default_value_t = 16)]
    pub seed_senders: usize,
    /// Size of a seeded message's content in bytes (database seeding)
    #[arg(long, default_value_t = 100)]
    pub content_bytes: usize,
    /// Target requests per second over all workers; 0 = as fast as the workers go
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Concurrent requests (workers)
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How long to send requests
    #[arg(long, default_value_t = 5)]
    pub duration_secs: u64,
    /// Most requests in all (the run also stops at the duration)
    #[arg(long, default_value_t = 10_000_000)]
    pub max_requests: i64,
    /// Page size (`limit`), 1 to 200
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Share of requests for the newest page; the rest ask for a random `before`
    #[arg(long, default_value_t = 0.2)]
    pub newest_ratio: f64,
}

/// What the workers add up.
#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    newest: AtomicU64,
    bad_pages: AtomicU64,
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.messages > 0, "--messages must be > 0");
    anyhow::ensure!((1..=200).contains(&args.limit), "--limit must be 1 to 200");
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be > 0");
    let target_args = args.target.clone();
    with_target(&target_args, |target| async move {
        let fixture = Fixture::new(&target, &args.target, 1, "history", ACTIVE_READ_BUFFER).await?;
        let room_id = fixture.rooms[0];
        let author = fixture.account(0).clone();
        progress(format_args!("seeding {} messages", args.messages));
        let seed_start = Instant::now();
        let (mode, seed_errors) =
            seed_room(&fixture, &target, room_id, args.messages, args.seed, args.seed_senders, args.content_bytes)
                .await?;
        let seed_elapsed = seed_start.elapsed();
        let last_seq = fixture.api.room(&author.token, room_id).await?.last_seq;

        let mut report = Report::new(
            "history",
            format!(
                "{} messages, {} workers at {}, {} s; {}",
                args.messages,
                args.concurrency,
                if args.rate > 0.0 { format!("{} req/s", args.rate) } else { "full speed".to_owned() },
                args.duration_secs,
                target.describe()
            ),
        );
        report.add("config", &args);
        report.add("backend", target.backend());
        report.add("seed_method", mode);
        report.add("seed_secs", round1(seed_elapsed.as_secs_f64()));
        report.add("seed_errors", seed_errors.to_json());
        report.add("room_last_seq", last_seq);
        report.expect(
            last_seq >= args.messages,
            format!("the room has {last_seq} messages, {} were seeded", args.messages),
        );

        progress(format_args!("paging history for {} s", args.duration_secs));
        let latency = Arc::new(SharedLatency::default());
        let from_due = Arc::new(SharedLatency::default());
        let counters = Arc::new(Counters::default());
        let budget = Arc::new(AtomicI64::new(args.max_requests));
        let start = Instant::now();
        let cpu = CpuMeter::start(fixture.server_pid);
        let deadline = start + Duration::from_secs(args.duration_secs);
        let mut workers = JoinSet::new();
        for w in 0..args.concurrency {
            let worker = Worker {
                api: fixture.api.clone(),
                token: fixture.account(w).token.clone(),
                room_id,
                last_seq,
                limit: args.limit,
                newest_ratio: args.newest_ratio,
                // Each worker takes every `concurrency`-th slot of the schedule.
                pace: (args.rate > 0.0).then(|| {
                    let interval = Duration::from_secs_f64(args.concurrency as f64 / args.rate);
                    (start + interval.mul_f64(w as f64 / args.concurrency as f64), interval)
                }),
            };
            let (latency, from_due, counters, budget) =
                (latency.clone(), from_due.clone(), counters.clone(), budget.clone());
            workers.spawn(async move { worker.run(deadline, &budget, &latency, &from_due, &counters).await });
        }
        let mut errors = Tally::default();
        while let Some(joined) = workers.join_next().await {
            errors.merge(&joined?);
        }
        let elapsed = start.elapsed();
        let cpu = cpu.finish();
        let requests = counters.requests.load(Ordering::Relaxed);
        report.add("requests", requests);
        report.add("newest_page_requests", counters.newest.load(Ordering::Relaxed));
        report.add("requests_per_sec", per_sec(requests, elapsed));
        report.latency("latency", &latency.snapshot());
        if args.rate > 0.0 {
            // From when each request was due: includes waiting for a free worker, so a server
            // that falls behind the target rate shows it here (no coordinated omission). The
            // timer adds up to ~1 ms of its own.
            report.latency("latency_from_due", &from_due.snapshot());
        }
        report.add("cpu", cpu);
        report.add("errors", errors.to_json());
        report.expect_zero("request_errors", errors.total());
        report.expect_zero("bad_pages", counters.bad_pages.load(Ordering::Relaxed));
        report.expect(requests > 0, "no request completed");
        Ok(report)
    })
    .await
}

/// Fills `room_id` with `count` messages by the fixture's first account: straight into the
/// database when this process started the server (unless `mode` says WebSocket), else through
/// `senders` closed-loop WebSocket senders. Returns how it seeded, and the senders' errors.
pub(super) async fn seed_room(
    fixture: &Fixture,
    target: &Target,
    room_id: Uuid,
    count: i64,
    mode: SeedMode,
    senders: usize,
    content_bytes: usize,
) -> anyhow::Result<(SeedMode, Tally)> {
    let mode = match (mode, target.database_url()) {
        (SeedMode::Db, None) => anyhow::bail!("--seed db needs a server started here (--server-bin)"),
        (SeedMode::Auto, Some(_)) | (SeedMode::Db, Some(_)) => SeedMode::Db,
        _ => SeedMode::Ws,
    };
    let mut errors = Tally::default();
    if let (SeedMode::Db, Some(url)) = (mode, target.database_url()) {
        let filler = "x".repeat(content_bytes.saturating_sub(24));
        let step = (count / 10).max(100_000);
        seed::seed_database(url, room_id, fixture.account(0).id, count, &filler, |n| {
            if n % step == 0 || n == count {
                progress(format_args!("seeded {n}"));
            }
        })
        .await?;
    } else {
        let budget = Arc::new(AtomicI64::new(count));
        let sink = Arc::new(SharedLatency::default());
        let deadline = Instant::now() + WS_SEED_TIMEOUT;
        let mut tasks = JoinSet::new();
        for i in 0..senders.max(1) {
            let token = fixture.account(i).token.clone();
            let sender = closed_loop(
                fixture.connector.clone(),
                i as u32,
                token,
                room_id,
                budget.clone(),
                deadline,
                sink.clone(),
            );
            tasks.spawn(sender);
        }
        while let Some(joined) = tasks.join_next().await {
            errors.merge(&joined?.errors);
        }
    }
    Ok((mode, errors))
}

struct Worker {
    api: Api,
    token: String,
    room_id: Uuid,
    last_seq: i64,
    limit: i64,
    newest_ratio: f64,
    /// First due time and the interval between this worker's requests; `None` = closed loop.
    pace: Option<(Instant, Duration)>,
}

impl Worker {
    async fn run(
        self,
        deadline: Instant,
        budget: &AtomicI64,
        latency: &SharedLatency,
        from_due: &SharedLatency,
        counters: &Counters,
    ) -> Tally {
        let mut errors = Tally::default();
        let (mut latency, mut from_due) = (LatencyBatch::new(latency), LatencyBatch::new(from_due));
        let mut due = self.pace.map(|(first, _)| first);
        loop {
            if let Some(at) = due {
                if at >= deadline {
                    break;
                }
                tokio::time::sleep_until(at).await;
            }
            if Instant::now() >= deadline || budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
                break;
            }
            let newest = rand::random::<f64>() < self.newest_ratio;
            // A random page anywhere in the room, down to the first message.
            let before = (!newest).then(|| 2 + (rand::random::<u64>() % self.last_seq.max(1) as u64) as i64);
            let sent = Instant::now();
            let result = self.api.history(&self.token, self.room_id, before, self.limit).await;
            latency.record(sent.elapsed());
            if let (Some(at), Some((_, interval))) = (due, self.pace) {
                from_due.record(at.elapsed());
                due = Some(at + interval);
            }
            counters.requests.fetch_add(1, Ordering::Relaxed);
            if newest {
                counters.newest.fetch_add(1, Ordering::Relaxed);
            }
            match result {
                Ok(page) if page_is_right(&page, before, self.last_seq, self.limit) => {}
                Ok(_) => {
                    counters.bad_pages.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => errors.add(e.label(), 1),
            }
        }
        errors
    }
}

/// The page holds exactly the `limit` seqs below `before` (or the newest), ascending, and
/// `has_more` says whether older ones remain. Seeded rooms have no edits or deletes, so seqs
/// are the messages 1..=last.
fn page_is_right(page: &MessagePage, before: Option<i64>, last: i64, limit: i64) -> bool {
    let upper = before.map_or(last, |b| b - 1).min(last);
    let lower = (upper - limit + 1).max(1);
    page.items.iter().map(|m| m.seq).eq(lower..=upper) && page.has_more == (lower > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(seqs: std::ops::RangeInclusive<i64>, has_more: bool) -> MessagePage {
        let items = seqs
            .map(|seq| palaver_protocol::Message {
                id: Uuid::now_v7(),
                room_id: Uuid::nil(),
                seq,
                updated_seq: seq,
                author: palaver_protocol::UserRef { id: Uuid::nil(), username: "a".into() },
                kind: palaver_protocol::MessageKind::Text,
                content: "x".into(),
                attachment: None,
                client_msg_id: None,
                created_at: time::OffsetDateTime::now_utc(),
                edited_at: None,
                deleted: false,
                thread_root_id: None,
                thread: None,
                reactions: vec![],
                via: None,
            })
            .collect();
        MessagePage { items, has_more }
    }

    #[test]
    fn pages_are_checked_exactly() {
        assert!(page_is_right(&page(51..=100, true), None, 100, 50));
        assert!(page_is_right(&page(1..=9, false), Some(10), 100, 50));
        assert!(page_is_right(&page(51..=100, true), Some(101), 100, 50));
        assert!(!page_is_right(&page(52..=100, true), None, 100, 50), "one short");
        assert!(!page_is_right(&page(51..=100, false), None, 100, 50), "wrong has_more");
    }
}
