//! Assistant: many streamed replies at once against the in-process fake upstream
//! ([`crate::upstream`]). Each reply has a conversation of its own (spread over the users)
//! and starts within `--ramp-secs`; the upstream streams `--tokens` numbered chunks at
//! `--tokens-per-sec`. Reported: the time to first chunk Palaver adds (what the client saw
//! minus the upstream's own), each chunk's delivery latency (arrival minus the upstream's send
//! stamp), and the server's memory per running reply; any reply that does not `complete`
//! with every chunk once and in order fails the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ACTIVE_READ_BUFFER, Fixture, progress, with_target};
use crate::checker::SeqCheck;
use crate::cli::TargetArgs;
use crate::replier::{self, Ending, ReplyOutcome, ReplySpec};
use crate::server::{CpuMeter, rss_kib};
use crate::stats::{Latency, LatencyBatch, Report, SharedLatency, Tally, round1};
use crate::upstream::{self, FakeLlm, Pace};

/// The targets: timing against them is a note, never a failure.
const TARGET_REPLIES: usize = 1000;
const TARGET_TOKENS_PER_SEC: f64 = 20.0;
const TARGET_ADDED_TTFC_P99_MS: f64 = 5.0;
const TARGET_KIB_PER_REPLY: f64 = 64.0;
/// The most running replies per user the server accepts as a setting.
const SERVER_MAX_RUNNING_PER_USER: usize = 1000;
const BASE_URL: &str = "PALAVER_LLM_BASE_URL";
const MODEL: &str = "PALAVER_LLM_MODEL";
/// Conversations created at once before the run.
const SETUP_CONCURRENCY: usize = 16;
/// How often the server's RSS is read while replies run.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Args {
    #[command(flatten)]
    #[serde(skip)]
    pub target: TargetArgs,
    /// Streamed replies, each in a conversation of its own, spread over the users
    #[arg(long, default_value_t = 1000)]
    pub replies: usize,
    /// Content chunks the fake upstream streams per reply
    #[arg(long, default_value_t = 100)]
    pub tokens: u64,
    /// Chunks per second of each reply
    #[arg(long, default_value_t = 20.0)]
    pub tokens_per_sec: f64,
    /// The replies start evenly spread over this many seconds
    #[arg(long, default_value_t = 2.0)]
    pub ramp_secs: f64,
    /// Port of the fake upstream on 127.0.0.1 (0: any); a --url server must have been started
    /// with PALAVER_LLM_BASE_URL=http://127.0.0.1:<port>/v1
    #[arg(long, default_value_t = 0)]
    pub upstream_port: u16,
    /// Pause before the at-rest RSS reading, once the conversations exist
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
}

pub async fn run(mut args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.replies > 0 && args.tokens > 0, "--replies and --tokens must be > 0");
    anyhow::ensure!(args.tokens_per_sec > 0.0 && args.ramp_secs >= 0.0, "--tokens-per-sec > 0, --ramp-secs >= 0");
    anyhow::ensure!(
        args.target.url.is_none() || args.upstream_port != 0,
        "a --url server must be pointed at the fake upstream: give --upstream-port and start the server with \
         PALAVER_LLM_BASE_URL=http://127.0.0.1:<port>/v1"
    );
    let per_user = args.replies.div_ceil(args.target.users.max(1));
    anyhow::ensure!(
        args.target.server_bin.is_none() || per_user <= SERVER_MAX_RUNNING_PER_USER,
        "{per_user} replies per user; the server allows at most {SERVER_MAX_RUNNING_PER_USER}: raise --users"
    );
    let pace = Pace { tokens: args.tokens, tokens_per_sec: args.tokens_per_sec };
    let upstream = FakeLlm::paced(args.upstream_port, args.replies, pace).await?;
    progress(format_args!("fake upstream at {}", upstream.base_url()));
    for (key, value) in [(BASE_URL, upstream.base_url()), (MODEL, "palaver-loadgen-fake".to_owned())] {
        if !args.target.server_env.iter().any(|(k, _)| k == key) {
            args.target.server_env.push((key.to_owned(), value));
        }
    }
    let target_args = args.target.clone();
    with_target(&target_args, |target| async move {
        let fixture = Fixture::new(&target, &args.target, 0, "assistant", ACTIVE_READ_BUFFER).await?;
        progress(format_args!("creating {} conversations", args.replies));
        let specs = conversations(&fixture, &args).await?;
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
        let rss_rest = target.rss_kib();

        progress(format_args!("{} replies of {} chunks at {}/s", args.replies, args.tokens, args.tokens_per_sec));
        let running = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        // The sampler stops however this body ends.
        let _stop_sampler = stop.clone().drop_guard();
        let sampler = tokio::spawn(sample_rss(target.pid, running.clone(), stop.clone()));
        let cpu = CpuMeter::start(target.pid);
        let delivery = Arc::new(SharedLatency::default());
        let mut tasks = JoinSet::new();
        let start = Instant::now();
        let replies = specs.len();
        for (index, spec) in specs.into_iter().enumerate() {
            let due = start + Duration::from_secs_f64(args.ramp_secs * index as f64 / replies as f64);
            let (api, running, delivery) = (fixture.api.clone(), running.clone(), delivery.clone());
            tasks.spawn(async move {
                tokio::time::sleep_until(due).await;
                running.fetch_add(1, Ordering::Relaxed);
                let outcome = replier::run(&api, &spec, &mut LatencyBatch::new(&delivery)).await;
                running.fetch_sub(1, Ordering::Relaxed);
                (index, outcome)
            });
        }
        let mut outcomes = Vec::with_capacity(replies);
        while let Some(joined) = tasks.join_next().await {
            outcomes.push(joined?);
        }
        let elapsed = start.elapsed();
        let cpu = cpu.finish();
        stop.cancel();
        let (rss_peak, peak_running) = sampler.await?;
        // What the server still holds once every reply is over (it keeps finished replies'
        // logs a while for resuming).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_after = target.rss_kib();

        let title = format!(
            "{} streamed replies x {} chunks at {}/s, ramp {} s, {} users; {}",
            args.replies,
            args.tokens,
            args.tokens_per_sec,
            args.ramp_secs,
            fixture.accounts.len(),
            target.describe()
        );
        let mut report = Report::new("assistant", title);
        report.add("config", &args);
        report.add("backend", target.backend());
        report.add("users", fixture.accounts.len());
        report.add("run_secs", round1(elapsed.as_secs_f64()));
        report.add("cpu", cpu);
        report_replies(&mut report, &args, &upstream, &outcomes);
        report.latency("latency_chunk_delivery", &delivery.snapshot());
        report.latency("upstream_lateness", &upstream.stats().lateness.snapshot());
        report_upstream(&mut report, &upstream, replies);
        let mib = |kib: Option<u64>| kib.map(|k| round1(k as f64 / 1024.0));
        report.add("peak_running", peak_running);
        report.add("server_rss_rest_mib", mib(rss_rest));
        report.add("server_rss_peak_mib", mib(rss_peak));
        report.add("server_rss_after_mib", mib(rss_after));
        let per_reply = rss_rest.zip(rss_peak).filter(|_| peak_running > 0);
        let per_reply = per_reply.map(|(rest, peak)| round1(peak.saturating_sub(rest) as f64 / peak_running as f64));
        report.add("server_rss_per_reply_kib", per_reply);
        if target.pid.is_none() {
            report.note("no server pid (give --server-pid with --url) so no server memory figures");
        }
        report_targets(&mut report, &args, per_reply, peak_running);
        Ok(report)
    })
    .await
}

/// One conversation per reply, the replies spread over the users round-robin.
async fn conversations(fixture: &Fixture, args: &Args) -> anyhow::Result<Vec<ReplySpec>> {
    // Room for the whole reply on a loaded machine, and a bound if the server stalls.
    let timeout = Duration::from_secs_f64(args.tokens as f64 / args.tokens_per_sec + args.ramp_secs + 60.0);
    let created = futures_util::stream::iter(0..args.replies)
        .map(move |index| async move {
            let account = fixture.account(index);
            let conversation = fixture.api.create_conversation(&account.token, &format!("loadgen {index}")).await?;
            Ok::<_, anyhow::Error>(ReplySpec {
                token: account.token.clone(),
                conversation: conversation.id,
                message: upstream::marker(index),
                tokens: args.tokens,
                timeout,
            })
        })
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    created.into_iter().collect()
}

/// The server's highest RSS while replies ran, and the most replies running at once.
async fn sample_rss(pid: Option<u32>, running: Arc<AtomicUsize>, stop: CancellationToken) -> (Option<u64>, usize) {
    let (mut peak, mut most) = (None, 0);
    let mut tick = tokio::time::interval(RSS_SAMPLE_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return (peak, most),
            _ = tick.tick() => {
                most = most.max(running.load(Ordering::Relaxed));
                peak = peak.max(pid.and_then(rss_kib));
            }
        }
    }
}

fn report_replies(report: &mut Report, args: &Args, upstream: &FakeLlm, outcomes: &[(usize, ReplyOutcome)]) {
    let (mut endings, mut chunks, mut ids) = (Tally::default(), SeqCheck::default(), SeqCheck::default());
    let (mut unexpected, mut wrong_usage, mut completes) = (0, 0, 0);
    let mut ttfc = FirstChunk::default();
    let mut whole = Latency::default();
    let micros = |nanos: u64| nanos / 1000;
    for (index, out) in outcomes {
        if out.ending == Ending::Complete {
            completes += 1;
            whole.record_micros(micros(out.ended_at.saturating_sub(out.sent_at)));
        } else {
            endings.add(out.ending.label(), 1);
        }
        chunks += out.chunk_check(args.tokens);
        ids += out.event_id_check();
        unexpected += out.unexpected_events;
        let usage_right = out
            .usage
            .is_some_and(|u| u.completion_tokens == args.tokens as i64 && u.prompt_tokens == upstream::PROMPT_TOKENS);
        wrong_usage += u64::from(out.ending == Ending::Complete && !usage_right);
        if let Some(head) = out.head_at {
            ttfc.response_head.record_micros(micros(head.saturating_sub(out.sent_at)));
        }
        let Some(first) = out.first_chunk_at else { continue };
        let client = first.saturating_sub(out.sent_at);
        ttfc.client.record_micros(micros(client));
        let Some(timing) = upstream.timing(*index) else { continue };
        let (asked, answered) =
            (timing.request_at.load(Ordering::Relaxed), timing.first_sent_at.load(Ordering::Relaxed));
        if asked == 0 || answered == 0 {
            continue;
        }
        let own = answered.saturating_sub(asked);
        ttfc.upstream.record_micros(micros(own));
        ttfc.added.record_micros(micros(client.saturating_sub(own)));
        ttfc.to_upstream.record_micros(micros(asked.saturating_sub(out.sent_at)));
        ttfc.first_chunk_delivery.record_micros(micros(first.saturating_sub(answered)));
    }
    report.add("replies", outcomes.len());
    report.add("completes", completes);
    report.add("failed_replies", endings.to_json());
    report.expect(completes == outcomes.len(), format!("{} of {} replies completed", completes, outcomes.len()));
    report.add("chunks_expected", args.tokens * outcomes.len() as u64);
    report.add("chunks_received", chunks.received);
    report.expect_zero("chunks_lost", chunks.lost);
    report.expect_zero("chunks_duplicated", chunks.duplicated);
    report.expect_zero("chunks_out_of_order", chunks.out_of_order);
    report.expect_zero("chunks_unexpected", chunks.unexpected);
    report.expect_zero("event_id_gaps", ids.lost);
    report.expect_zero("event_ids_repeated", ids.duplicated + ids.out_of_order);
    report.expect_zero("unexpected_events", unexpected);
    report.expect_zero("wrong_usage", wrong_usage);
    report.latency("latency_ttfc_client", &ttfc.client);
    report.latency("latency_ttfc_upstream", &ttfc.upstream);
    report.latency("latency_ttfc_added", &ttfc.added);
    report.latency("latency_added_send_to_upstream", &ttfc.to_upstream);
    report.latency("latency_added_first_chunk_delivery", &ttfc.first_chunk_delivery);
    report.latency("latency_response_head", &ttfc.response_head);
    report.latency("latency_reply", &whole);
    if endings.get("refused: http 429") > 0 {
        report.note(
            "429: the per-user assistant limits (PALAVER_LLM_MAX_RUNNING_PER_USER, PALAVER_LLM_SENDS_PER_MINUTE); \
             a server started here has them raised; more --users spreads the replies",
        );
    }
    if endings.get("refused: http 503") > 0 {
        report.note("503: the server has no model configured (PALAVER_LLM_BASE_URL, PALAVER_LLM_MODEL)");
    }
}

/// Time to first chunk, per reply: as the client saw it (send to first chunk), the
/// upstream's own (request in to first chunk out), the difference (what Palaver adds), and
/// its two legs: send to the upstream having the request, and the first chunk's way back.
/// Beside them, send to the response head: the server's handling of the send (checks, the
/// two rows stored, the reply's task started), which the first leg includes or overlaps.
#[derive(Default)]
struct FirstChunk {
    client: Latency,
    upstream: Latency,
    added: Latency,
    to_upstream: Latency,
    first_chunk_delivery: Latency,
    response_head: Latency,
}

fn report_upstream(report: &mut Report, upstream: &FakeLlm, replies: usize) {
    let stats = upstream.stats();
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let requests = upstream.request_count();
    report.add("upstream_requests", requests as u64);
    report.add("upstream_hung_up", upstream.disconnects() as u64);
    // The server asks once per reply (no tools are offered, so one round).
    report.expect_zero("upstream_unmatched", load(&stats.unmatched));
    report.expect_zero("upstream_refused", load(&stats.refused));
    report.expect(requests == replies, format!("the upstream got {requests} requests for {replies} replies"));
}

/// Rows for the targets, and notes where this run misses them or is smaller.
fn report_targets(report: &mut Report, args: &Args, per_reply: Option<f64>, peak_running: usize) {
    report.add("target_added_ttfc_p99_ms", TARGET_ADDED_TTFC_P99_MS);
    report.add("target_rss_per_reply_kib", TARGET_KIB_PER_REPLY);
    let added = report.get("latency_ttfc_added").and_then(|l| l["p99_ms"].as_f64());
    if let Some(p99) = added.filter(|p99| *p99 > TARGET_ADDED_TTFC_P99_MS) {
        report.note(format!(
            "added time to first chunk p99 {p99} ms is over the target of {TARGET_ADDED_TTFC_P99_MS} ms"
        ));
    }
    if let Some(kib) = per_reply.filter(|kib| *kib > TARGET_KIB_PER_REPLY) {
        report
            .note(format!("{kib} KiB of server memory per running reply is over the target of {TARGET_KIB_PER_REPLY}"));
    }
    if args.replies < TARGET_REPLIES || args.tokens_per_sec < TARGET_TOKENS_PER_SEC {
        report.note(format!(
            "smaller than the target load of {TARGET_REPLIES} concurrent replies at {TARGET_TOKENS_PER_SEC} chunks/s"
        ));
    }
    if peak_running < args.replies {
        report.note(format!(
            "at most {peak_running} of the {} replies ran at once: the ramp is longer than a reply, or some ended early",
            args.replies
        ));
    }
    let lateness = report.get("upstream_lateness").and_then(|l| l["p99_ms"].as_f64());
    let interval_ms = 1000.0 / args.tokens_per_sec;
    if let Some(late) = lateness.filter(|late| *late > interval_ms) {
        report.note(format!(
            "the fake upstream sent chunks up to {late} ms (p99) behind schedule: this process could not keep \
             {} chunks/s going (delivery latency is still measured from the real send)",
            args.tokens_per_sec * args.replies as f64
        ));
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn parse(argv: &[&str]) -> Args {
        let Command::Assistant(args) = Cli::try_parse_from(argv).unwrap().command else { panic!("assistant") };
        args
    }

    #[test]
    fn defaults_are_the_target_load() {
        let args = parse(&["palaver-loadgen", "assistant", "--server-bin", "palaver"]);
        assert_eq!((args.replies, args.tokens, args.tokens_per_sec), (TARGET_REPLIES, 100, TARGET_TOKENS_PER_SEC));
    }

    #[tokio::test]
    async fn refuses_what_cannot_work_before_starting_anything() {
        let url = parse(&["palaver-loadgen", "assistant", "--url", "http://127.0.0.1:1"]);
        let e = run(url).await.expect_err("a --url server needs --upstream-port");
        assert!(e.to_string().contains("--upstream-port"), "{e}");
        let argv = ["palaver-loadgen", "assistant", "--server-bin", "palaver", "--users", "1", "--replies", "1001"];
        let e = run(parse(&argv)).await.expect_err("1001 replies for one user is over the server's limit");
        assert!(e.to_string().contains("raise --users"), "{e}");
    }
}
