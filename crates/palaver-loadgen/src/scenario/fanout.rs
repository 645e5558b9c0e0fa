//! Fan-out: R rooms × S subscribers, P publishers at a total target rate. Reports deliveries
//! per second, end-to-end latency (send stamp in the content → arrival at a subscriber) and
//! checks that every subscriber got every acked message of its room exactly once, in order.

use std::time::Duration;

use serde::Serialize;

use super::pubsub::{self, Outcome, Plan};
use super::{ACTIVE_READ_BUFFER, Fixture, SubscriberTotals, explain_closes, with_target};
use crate::checker::SeqCheck;
use crate::cli::TargetArgs;
use crate::mix::Mix;
use crate::stats::{Report, Tally, per_sec, round1};

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Args {
    #[command(flatten)]
    #[serde(skip)]
    pub target: TargetArgs,
    /// Rooms
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Subscribers per room (each its own WebSocket)
    #[arg(long, default_value_t = 20)]
    pub subscribers: usize,
    /// Publishers, spread over the rooms (each its own WebSocket)
    #[arg(long, default_value_t = 2)]
    pub publishers: usize,
    /// Total target send rate over all publishers, messages per second
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// How long the publishers send
    #[arg(long, default_value_t = 5)]
    pub duration_secs: u64,
    /// Longest wait after the publishers are done for subscribers to receive everything
    #[arg(long, default_value_t = 20)]
    pub drain_secs: u64,
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.rooms > 0 && args.subscribers > 0 && args.publishers > 0, "sizes must be > 0");
    anyhow::ensure!(args.rate > 0.0, "--rate must be > 0");
    let target_args = args.target.clone();
    with_target(&target_args, |target| async move {
        let fixture = Fixture::new(&target, &args.target, args.rooms, "fanout", ACTIVE_READ_BUFFER).await?;
        // A cluster: publishers on the first instance, subscribers on the second, so every
        // delivery crosses Redis.
        let instances = target.addrs();
        let fixture = match instances.get(1) {
            Some(&second) => fixture.subscribers_on(vec![second], &args.target),
            None => fixture,
        };
        let title = format!(
            "{} room(s) x {} subscribers, {} publishers at {} msg/s for {} s; {}",
            args.rooms,
            args.subscribers,
            args.publishers,
            args.rate,
            args.duration_secs,
            target.describe()
        );
        let plan = Plan {
            subscribers_per_room: args.subscribers,
            publishers: args.publishers,
            rate: args.rate,
            duration: Duration::from_secs(args.duration_secs),
            drain: Duration::from_secs(args.drain_secs),
            churn: None,
            gap: 0,
            mix: Mix::default(),
        };
        let outcome = pubsub::run(&fixture, &plan, true).await?;

        let mut report = Report::new("fanout", title);
        report.add("config", &args);
        report.add("backend", target.backend());
        report.add("instances", instances.len());
        report_deliveries(&mut report, "", &plan, &outcome);
        Ok(report)
    })
    .await
}

/// The rows of one fan-out run: what was sent and acked, what each subscriber received
/// against what it should have, latencies, CPU. `phase` prefixes every key (`phase_lost`) and
/// note, for a scenario that runs fan-out more than once; `""` for none.
pub(super) fn report_deliveries(report: &mut Report, phase: &str, plan: &Plan, outcome: &Outcome) {
    let key = |name: &str| if phase.is_empty() { name.to_owned() } else { format!("{phase}_{name}") };
    let said = |note: String| if phase.is_empty() { note } else { format!("{phase}: {note}") };
    let total_subs = outcome.acked.len() * plan.subscribers_per_room;
    report.add(&key("subscribers"), total_subs);
    report.add(&key("subscribers_ready"), outcome.subscribers_ready);
    report.add(&key("subscribe_ramp_secs"), round1(outcome.subscribe_ramp.as_secs_f64()));
    report.expect(
        outcome.subscribers_ready == total_subs,
        said("not every subscriber was subscribed before publishing".into()),
    );

    let sent: u64 = outcome.publishers.iter().map(|(_, p)| p.sent).sum();
    let acked: u64 = outcome.publishers.iter().map(|(_, p)| p.acked.len() as u64).sum();
    let unacked: u64 = outcome.publishers.iter().map(|(_, p)| p.unacked).sum();
    let mut send_errors = Tally::default();
    let mut publisher_closes = Tally::default();
    for (_, p) in &outcome.publishers {
        send_errors.merge(&p.errors);
        if let Some(code) = p.closed {
            publisher_closes.add(code.to_string(), 1);
        }
    }
    report.add(&key("sent"), sent);
    report.add(&key("acked"), acked);
    report.add(&key("unacked"), unacked);
    report.add(&key("send_errors"), send_errors.to_json());
    report.add(&key("publisher_closes"), publisher_closes.to_json());
    report.add(&key("acked_per_sec"), per_sec(acked, outcome.publish_elapsed));
    report.expect(acked > 0, said("no message was acked".into()));
    report.expect(publisher_closes.total() == 0, said("the server closed publishers".into()));
    let offered = plan.rate * plan.duration.as_secs_f64();
    if (sent as f64) < offered * 0.9 {
        report.note(said(format!(
            "only {sent} of the {offered} messages due were sent: the target rate was not reached"
        )));
    }

    // The expected deliveries: every acked message of the room, to each of its subscribers.
    let mut check = SeqCheck::default();
    let mut totals = SubscriberTotals::default();
    let mut expected = 0;
    for (room, sub) in &outcome.subscribers {
        check += sub.ledger.verify(&outcome.acked[*room]);
        expected += outcome.acked[*room].len();
        totals.add(sub);
    }
    let window = outcome.publish_elapsed + outcome.drain_elapsed;
    report.add(&key("deliveries"), check.received);
    report.add(&key("expected_deliveries"), expected);
    report.add(&key("deliveries_per_sec"), per_sec(check.received, window));
    report.latency(&key("latency_e2e"), &outcome.e2e);
    report.latency(&key("latency_ack"), &outcome.ack);
    report.add(&key("cpu"), &outcome.cpu);
    report.add(&key("drained"), outcome.drained);
    report.add(&key("drain_secs"), round1(outcome.drain_elapsed.as_secs_f64()));
    report.expect_zero(&key("lost"), check.lost);
    report.expect_zero(&key("duplicated"), check.duplicated);
    report.expect_zero(&key("out_of_order"), check.out_of_order);
    report.add(&key("unexpected"), check.unexpected);
    report.add(&key("reconnects"), totals.connects.saturating_sub(total_subs as u64));
    report.add(&key("server_closes"), totals.server_closes.to_json());
    report.add(&key("dropped_connections"), totals.dropped);
    report.add(&key("connect_failures"), totals.connect_failures.to_json());
    report.add(&key("subscriber_errors"), totals.errors.to_json());
    report.add(&key("subscribers_gave_up"), totals.gave_up);
    if check.unexpected > 0 {
        report.note(said(
            "unexpected = messages delivered whose send was never acked (e.g. the ack was lost with its socket)".into(),
        ));
    }
    let mut closes = totals.server_closes.clone();
    closes.merge(&publisher_closes);
    explain_closes(report, &closes);
}
