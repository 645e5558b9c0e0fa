//! The machinery fan-out, resume and uploads share: subscribers on every room, then
//! publishers at a target rate (and, for uploads, a side load beside them), then a bounded
//! wait for the subscribers to catch up, then the ledgers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Fixture, drain, progress, wait_until};
use crate::checker::SeqSet;
use crate::mix::Mix;
use crate::publisher::{self, AckLatencies, PublisherOutcome, PublisherSpec};
use crate::server::CpuMeter;
use crate::stats::{Latency, SharedLatency};
use crate::subscriber::{self, Board, SubscriberOutcome, SubscriberSpec};

pub struct Plan {
    pub subscribers_per_room: usize,
    pub publishers: usize,
    /// Total frames per second over all publishers.
    pub rate: f64,
    pub duration: Duration,
    pub drain: Duration,
    /// Mean time between a subscriber's voluntary disconnects.
    pub churn: Option<Duration>,
    /// Events each room already holds when the subscribers first subscribe (from seq 0).
    pub gap: i64,
    /// The publishers' replies and reactions beside their top-level messages.
    pub mix: Mix,
}

pub struct Outcome {
    pub subscribers_ready: usize,
    pub subscribe_ramp: Duration,
    /// Per publisher: its room index and what it did.
    pub publishers: Vec<(usize, PublisherOutcome)>,
    pub publish_elapsed: Duration,
    /// With a gap: from the first connect until every subscriber had all of it (`None`: not
    /// by the end of the drain).
    pub gap_caught_up: Option<Duration>,
    /// Whether every subscriber reached its room's last seq in time, and how long that took.
    pub drained: bool,
    pub drain_elapsed: Duration,
    /// Per room: the acked seqs, and the room's `last_seq` after publishing (from REST).
    pub acked: Vec<SeqSet>,
    pub final_seqs: Vec<i64>,
    /// Per subscriber: its room index and its ledger.
    pub subscribers: Vec<(usize, SubscriberOutcome)>,
    pub e2e: Latency,
    /// Acks of top-level messages and replies.
    pub ack: Latency,
    /// Acks of reactions.
    pub react_ack: Latency,
    /// CPU of the server and of this process from the first send to the end of the drain.
    pub cpu: serde_json::Value,
}

pub async fn run(fixture: &Fixture, plan: &Plan, measure_e2e: bool) -> anyhow::Result<Outcome> {
    let (outcome, ()) = run_with(fixture, plan, measure_e2e, async {}).await?;
    Ok(outcome)
}

/// As [`run`], with `side_load` started together with the publishers and awaited before the
/// rooms' last seqs are read, so messages it posts are part of what subscribers must drain.
/// It bounds its own duration, as the publishers do.
pub async fn run_with<S>(
    fixture: &Fixture,
    plan: &Plan,
    measure_e2e: bool,
    side_load: S,
) -> anyhow::Result<(Outcome, S::Output)>
where
    S: Future + Send + 'static,
    S::Output: Send + 'static,
{
    let rooms = fixture.rooms.len();
    let total_subs = rooms * plan.subscribers_per_room;
    let rooms_of: Vec<usize> = (0..total_subs).map(|i| i % rooms).collect();
    let board = Board::new(total_subs);
    let e2e = Arc::new(SharedLatency::default());
    // On an early return the JoinSets abort their tasks; otherwise `stop` ends them.
    let stop = CancellationToken::new();

    let ack = AckLatencies::default();
    let mut side_load = Some(side_load);
    let mut side = JoinSet::new();
    let mut start_publishing = || {
        progress(format_args!("publishing at {} msg/s for {:?}", plan.rate, plan.duration));
        let mut publishers = JoinSet::new();
        for p in 0..plan.publishers {
            let room = p % rooms;
            let spec = PublisherSpec {
                index: p as u32,
                token: fixture.account(p).token.clone(),
                user_id: fixture.account(p).id,
                room_id: fixture.rooms[room],
                rate: plan.rate / plan.publishers as f64,
                duration: plan.duration,
                // A bound in count as well as in time.
                max_messages: (plan.rate / plan.publishers as f64 * plan.duration.as_secs_f64()).ceil() as u64 + 1,
                mix: plan.mix,
            };
            let task = publisher::run(spec, fixture.connector.clone(), ack.clone(), stop.clone());
            publishers.spawn(async move { (room, task.await) });
        }
        if let Some(load) = side_load.take() {
            side.spawn(load);
        }
        (publishers, Instant::now(), CpuMeter::start(fixture.server_pid))
    };
    // With a gap to resume, publishing starts first, so every replay meets a busy room
    // (otherwise the subscribers are all in place before the first message).
    let mut early = (plan.gap > 0).then(&mut start_publishing);

    progress(format_args!("connecting {total_subs} subscribers"));
    let ramp = Instant::now();
    let mut subscribers = JoinSet::new();
    for (i, &room) in rooms_of.iter().enumerate() {
        let spec = SubscriberSpec {
            index: i,
            token: fixture.account(i).token.clone(),
            room_id: fixture.rooms[room],
            churn: plan.churn,
        };
        let latency = measure_e2e.then(|| e2e.clone());
        let task = subscriber::run(spec, fixture.subscriber_connector.clone(), board.clone(), latency, stop.clone());
        subscribers.spawn(async move { (i, task.await) });
    }
    let gap_watch = (plan.gap > 0).then(|| {
        let (board, gap) = (board.clone(), plan.gap);
        tokio::spawn(async move {
            let all_have_it = || (0..total_subs).all(|i| board.progress(i) >= gap);
            wait_until(Duration::from_secs(24 * 3600), all_have_it).await.then(|| ramp.elapsed())
        })
    });
    let ready_within = Duration::from_secs(60) + Duration::from_millis(10 * total_subs as u64);
    wait_until(ready_within, || board.ready.load(Ordering::Relaxed) >= total_subs).await;
    let subscribers_ready = board.ready.load(Ordering::Relaxed);
    let subscribe_ramp = ramp.elapsed();

    let (mut publishers, publish_start, cpu) = match early.take() {
        Some(started) => started,
        None => start_publishing(),
    };
    let mut publisher_outcomes = Vec::with_capacity(plan.publishers);
    while let Some(joined) = publishers.join_next().await {
        publisher_outcomes.push(joined?);
    }
    let publish_elapsed = publish_start.elapsed();
    let side_output = side.join_next().await.context("the side load was started with the publishers")??;

    let mut acked = vec![SeqSet::default(); rooms];
    for (room, outcome) in &publisher_outcomes {
        for &seq in &outcome.acked {
            acked[*room].insert(seq);
        }
    }
    let reader = fixture.account(0);
    let mut final_seqs = Vec::with_capacity(rooms);
    for &room_id in &fixture.rooms {
        final_seqs.push(fixture.api.room(&reader.token, room_id).await?.last_seq);
    }

    progress(format_args!("waiting for subscribers to catch up"));
    let drain_start = Instant::now();
    let drained = drain(&board, &rooms_of, &final_seqs, plan.drain).await;
    let drain_elapsed = drain_start.elapsed();
    let cpu = cpu.finish();
    stop.cancel();
    let gap_caught_up = match gap_watch {
        Some(watch) if watch.is_finished() => watch.await?,
        Some(watch) => {
            watch.abort();
            None
        }
        None => None,
    };
    let mut subscriber_outcomes = Vec::with_capacity(total_subs);
    while let Some(joined) = subscribers.join_next().await {
        let (i, outcome) = joined?;
        subscriber_outcomes.push((rooms_of[i], outcome));
    }
    let outcome = Outcome {
        subscribers_ready,
        subscribe_ramp,
        publishers: publisher_outcomes,
        publish_elapsed,
        gap_caught_up,
        drained,
        drain_elapsed,
        acked,
        final_seqs,
        subscribers: subscriber_outcomes,
        e2e: e2e.snapshot(),
        ack: ack.posts.snapshot(),
        react_ack: ack.reactions.snapshot(),
        cpu,
    };
    Ok((outcome, side_output))
}
