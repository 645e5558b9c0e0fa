//! Resume: subscribers disconnect at random (half with a close frame, half by just dropping
//! the socket) and resubscribe with `since_seq` while publishers keep posting. Per client,
//! across all its reconnects, the seqs received must be exactly 1..=final, each once, in order.
//! With `--gap N` each room is seeded with N messages first, so every client starts by
//! resuming an N-event gap into a room that is being posted to; none may be cut with 1013.
//! The publishers mix replies (in threads they started) and reactions (toggled on their own
//! recent messages) into their posts: every one is a room event with its own seq, so the
//! same check covers them, and each client's events must also be of the kinds posted.

use std::time::Duration;

use serde::Serialize;

use super::history::{SeedMode, seed_room};
use super::pubsub::{self, Plan};
use super::{ACTIVE_READ_BUFFER, Fixture, SubscriberTotals, explain_closes, progress, with_target};
use crate::checker::{EventKinds, SeqCheck, SeqSet};
use crate::cli::TargetArgs;
use crate::mix::Mix;
use crate::publisher::SEND_FAILED;
use crate::stats::{Report, Tally, per_sec, round1};

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Args {
    #[command(flatten)]
    #[serde(skip)]
    pub target: TargetArgs,
    /// Rooms
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Resuming clients per room
    #[arg(long, default_value_t = 20)]
    pub clients: usize,
    /// Publishers, spread over the rooms
    #[arg(long, default_value_t = 2)]
    pub publishers: usize,
    /// Total target send rate over all publishers, frames per second (posts, replies and
    /// reactions together)
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Share of the publishers' frames that are replies to one of their recent top-level
    /// messages, in percent
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub replies_percent: u8,
    /// Share that are reactions toggled (added, then taken back) on one of their recent
    /// messages, in percent; each changes something, so each takes a seq
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub reactions_percent: u8,
    /// How long the publishers send (and the clients churn)
    #[arg(long, default_value_t = 5)]
    pub duration_secs: u64,
    /// Mean time between one client's disconnects, in milliseconds (exponentially distributed)
    #[arg(long, default_value_t = 1000)]
    pub disconnect_mean_ms: u64,
    /// Longest wait after the publishers are done for clients to receive everything
    #[arg(long, default_value_t = 20)]
    pub drain_secs: u64,
    /// Messages seeded into each room before the clients first subscribe (from seq 0): every
    /// client starts by resuming a gap this large while the publishers post
    #[arg(long, default_value_t = 0)]
    pub gap: i64,
    /// Size of a seeded message's content in bytes
    #[arg(long, default_value_t = 100)]
    pub content_bytes: usize,
    /// With --instances > 1: kill -9 the second instance this many seconds into the run
    /// (its clients reconnect to another instance and resume), then start it again
    #[arg(long)]
    pub kill_after_secs: Option<f64>,
    /// How long the killed instance stays down
    #[arg(long, default_value_t = 2000)]
    pub down_ms: u64,
}

/// The started server's replay limit in a gap run, unless `--server-env` sets one: the
/// publishers start first, so a client's first replay is the gap plus what was posted before
/// it subscribed, and a truncated replay would lose what the run checks for.
const REPLAY_LIMIT: &str = "PALAVER_WS_REPLAY_LIMIT";

pub async fn run(mut args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.rooms > 0 && args.clients > 0 && args.publishers > 0, "sizes must be > 0");
    anyhow::ensure!(args.rate > 0.0 && args.disconnect_mean_ms > 0, "--rate and --disconnect-mean-ms must be > 0");
    anyhow::ensure!(args.gap >= 0, "--gap must be >= 0");
    let mix = Mix::new(args.replies_percent, args.reactions_percent)?;
    if args.gap > 0 && !args.target.server_env.iter().any(|(key, _)| key == REPLAY_LIMIT) {
        let limit = args.gap + (args.rate * args.duration_secs as f64).ceil() as i64;
        args.target.server_env.push((REPLAY_LIMIT.into(), limit.to_string()));
    }
    let target_args = args.target.clone();
    with_target(&target_args, |target| async move {
        let fixture = Fixture::new(&target, &args.target, args.rooms, "resume", ACTIVE_READ_BUFFER).await?;
        let instances = target.addrs();
        anyhow::ensure!(
            args.kill_after_secs.is_none() || instances.len() > 1,
            "--kill-after-secs needs --instances > 1 (the killed instance's clients need another one)"
        );
        // Every client (re)connects to an instance picked at random; publishers stay on the first.
        let fixture = fixture.subscribers_on(instances.clone(), &args.target);
        let mut seed_errors = Tally::default();
        if args.gap > 0 {
            for &room_id in &fixture.rooms {
                progress(format_args!("seeding a gap of {} messages", args.gap));
                let (_, errors) =
                    seed_room(&fixture, &target, room_id, args.gap, SeedMode::Auto, 16, args.content_bytes).await?;
                seed_errors.merge(&errors);
            }
        }
        // What each room holds before publishing (the gap): top-level messages all.
        let mut baseline = Vec::with_capacity(fixture.rooms.len());
        for &room_id in &fixture.rooms {
            baseline.push(fixture.api.room(&fixture.account(0).token, room_id).await?.last_seq);
        }
        let gap = if args.gap > 0 { format!(", each resuming a gap of {} first", args.gap) } else { String::new() };
        let title = format!(
            "{} room(s) x {} clients{gap} disconnecting every ~{} ms, {} publishers at {} frames/s \
             ({}% replies, {}% reactions) for {} s; {}",
            args.rooms,
            args.clients,
            args.disconnect_mean_ms,
            args.publishers,
            args.rate,
            args.replies_percent,
            args.reactions_percent,
            args.duration_secs,
            target.describe()
        );
        let plan = Plan {
            subscribers_per_room: args.clients,
            publishers: args.publishers,
            rate: args.rate,
            duration: Duration::from_secs(args.duration_secs),
            drain: Duration::from_secs(args.drain_secs),
            churn: Some(Duration::from_millis(args.disconnect_mean_ms)),
            gap: args.gap,
            mix,
        };
        let chaos = args.kill_after_secs.map(|after| {
            let (target, down) = (target.clone(), Duration::from_millis(args.down_ms));
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs_f64(after)).await;
                progress(format_args!("killing instance 2 (SIGKILL)"));
                if !target.kill_other(0).await {
                    return Err(anyhow::anyhow!("instance 2 was not running"));
                }
                tokio::time::sleep(down).await;
                progress(format_args!("starting instance 2 again"));
                target.restart_other(0).await
            })
        });
        let outcome = pubsub::run(&fixture, &plan, false).await?;
        let killed = match chaos {
            Some(task) => Some(task.await.map_err(anyhow::Error::from).and_then(|r| r)),
            None => None,
        };

        let mut report = Report::new("resume", title);
        report.add("config", &args);
        report.add("backend", target.backend());
        report.add("instances", instances.len());
        if let Some(killed) = killed {
            report.add("instance_killed_and_restarted", killed.is_ok());
            if let Err(e) = killed {
                report.expect(false, format!("killing and restarting instance 2 failed: {e:#}"));
            }
        }
        let total = args.rooms * args.clients;
        report.add("clients", total);
        report.add("clients_ready", outcome.subscribers_ready);
        report.expect(outcome.subscribers_ready == total, "not every client was subscribed before publishing");

        let (mut send_errors, mut publisher_closes, mut wrong_acks) =
            (Tally::default(), Tally::default(), Tally::default());
        let (mut sent, mut acked_kinds, mut unacked) = (EventKinds::default(), EventKinds::default(), 0);
        // Per room: the kinds of event it must hold at the end (None: a frame went unanswered,
        // so what it did is unknown).
        let mut expected_kinds: Vec<Option<EventKinds>> = baseline
            .iter()
            .map(|&seeded| Some(EventKinds { top_level: seeded as u64, ..EventKinds::default() }))
            .collect();
        for (room, p) in &outcome.publishers {
            send_errors.merge(&p.errors);
            wrong_acks.merge(&p.wrong_acks);
            if let Some(code) = p.closed {
                publisher_closes.add(code.to_string(), 1);
            }
            let acked = EventKinds {
                top_level: p.acked_top_level(),
                replies: p.acked_replies,
                reactions: p.acked_reactions,
                other: 0,
            };
            sent += EventKinds {
                top_level: p.sent_top_level(),
                replies: p.sent_replies,
                reactions: p.sent_reactions,
                other: 0,
            };
            acked_kinds += acked;
            unacked += p.unacked;
            // A frame whose send failed may still have reached the server.
            let answered_all = p.unacked == 0 && p.errors.get(SEND_FAILED) == 0;
            let expected = &mut expected_kinds[*room];
            match expected {
                Some(kinds) if answered_all => *kinds += acked,
                _ => *expected = None,
            }
        }
        let acked = acked_kinds.top_level + acked_kinds.replies + acked_kinds.reactions;
        report.add("sent", sent);
        report.add("acked_by_kind", acked_kinds);
        report.add("acked", acked);
        report.add("acked_per_sec", per_sec(acked, outcome.publish_elapsed));
        report.add("unacked", unacked);
        report.add("send_errors", send_errors.to_json());
        report.add("wrong_acks", wrong_acks.to_json());
        report.expect(wrong_acks.total() == 0, "acks did not show what their frames did");
        report.add("publisher_closes", publisher_closes.to_json());
        report.expect(publisher_closes.total() == 0, "the server closed publishers");
        report.add("final_seqs", &outcome.final_seqs);
        // Every acked frame took exactly one seq (a reaction that changed nothing would take
        // none), and nothing else did.
        let mut unaccounted = 0;
        for (room, expected) in expected_kinds.iter().enumerate() {
            if let Some(kinds) = expected {
                let events = kinds.top_level + kinds.replies + kinds.reactions;
                unaccounted += (outcome.final_seqs[room] as u64).abs_diff(events);
            }
        }
        report.expect_zero("seqs_unaccounted_for", unaccounted);
        if expected_kinds.iter().any(Option::is_none) {
            report.note("frames went unanswered: their rooms' seqs and event kinds were not accounted for");
        }
        if args.gap > 0 {
            report.add("gap_seed_errors", seed_errors.to_json());
            report.expect(seed_errors.total() == 0, "seeding the gap failed");
            let caught_up = outcome.gap_caught_up.map(|d| round1(d.as_secs_f64()));
            report.add("gap_caught_up_secs", caught_up);
            report.expect(caught_up.is_some(), "not every client received its gap");
        }
        report.expect(acked > 0, "no message was acked");

        // The contract: per client, exactly 1..=final, whatever happened to its sockets.
        let expected: Vec<SeqSet> = outcome.final_seqs.iter().map(|&last| SeqSet::upto(last)).collect();
        let mut check = SeqCheck::default();
        let mut totals = SubscriberTotals::default();
        let (mut kinds, mut kinds_expected, mut wrong_kinds) = (EventKinds::default(), EventKinds::default(), 0);
        for (room, client) in &outcome.subscribers {
            check += client.ledger.verify(&expected[*room]);
            totals.add(client);
            // Each seq as what it was posted as: a reaction replayed as anything else (or a
            // reply as a top-level message) shows here.
            kinds += client.kinds;
            if let Some(expected) = expected_kinds[*room] {
                kinds_expected += expected;
                wrong_kinds += u64::from(client.kinds != expected);
            }
        }
        report.add("voluntary_disconnects", totals.voluntary_disconnects);
        report.add("resumes", totals.connects.saturating_sub(total as u64));
        report.add("events_received", check.received);
        report.add("events_by_kind", kinds);
        report.add("events_by_kind_expected", kinds_expected);
        report.expect_zero("clients_with_wrong_kinds", wrong_kinds);
        report.add("cpu", &outcome.cpu);
        report.add("drained", outcome.drained);
        report.add("drain_secs", round1(outcome.drain_elapsed.as_secs_f64()));
        report.expect_zero("lost", check.lost);
        report.expect_zero("duplicated", check.duplicated);
        report.expect_zero("out_of_order", check.out_of_order);
        report.expect_zero("unexpected", check.unexpected);
        report.expect_zero("truncated_replays", totals.truncated);
        report.add("server_closes", totals.server_closes.to_json());
        report.add("dropped_connections", totals.dropped);
        report.add("connect_failures", totals.connect_failures.to_json());
        report.add("client_errors", totals.errors.to_json());
        report.expect_zero("clients_gave_up", totals.gave_up);
        report.latency("latency_ack", &outcome.ack);
        report.latency("latency_react_ack", &outcome.react_ack);
        if args.gap > 0 {
            // The point of a gap run: a resume into a busy room is not a slow consumer.
            report.expect_zero("slow_consumer_closes", totals.server_closes.get("1013"));
        }
        let mut closes = totals.server_closes.clone();
        closes.merge(&publisher_closes);
        explain_closes(&mut report, &closes);
        Ok(report)
    })
    .await
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::{Cli, Command};

    fn parse(flags: &[&str]) -> Result<Cli, clap::Error> {
        let mut argv = vec!["palaver-loadgen", "resume", "--url", "http://127.0.0.1:1"];
        argv.extend_from_slice(flags);
        Cli::try_parse_from(argv)
    }

    #[test]
    fn mixes_replies_and_reactions_by_default() {
        let Command::Resume(args) = parse(&[]).unwrap().command else { panic!("resume") };
        assert_eq!((args.replies_percent, args.reactions_percent), (20, 20));
        assert!(parse(&["--replies-percent", "101"]).is_err());
    }

    #[tokio::test]
    async fn refuses_a_mix_over_100_percent_before_connecting() {
        let Command::Resume(args) = parse(&["--replies-percent", "60", "--reactions-percent", "41"]).unwrap().command
        else {
            panic!("resume")
        };
        let error = super::run(args).await.unwrap_err();
        assert!(error.to_string().contains("at most 100"), "{error:#}");
    }
}
