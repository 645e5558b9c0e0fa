//! Uploads: does chat stay fast while people upload photos? One fan-out room (subscribers, and
//! publishers at a rate) runs twice: a baseline without uploads, then the same load in a
//! fresh room with `--concurrency` clients uploading a 12-megapixel JPEG in a closed loop,
//! each upload then posted as an image message. Reports the uploads (rate, latency, failures
//! by status) and chat delivery latency in both phases; the target is p99 during uploads at
//! most twice the baseline's.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::fanout::report_deliveries;
use super::pubsub::{self, Plan};
use super::{ACTIVE_READ_BUFFER, Fixture, progress, with_target};
use crate::cli::TargetArgs;
use crate::client::Api;
use crate::mix::Mix;
use crate::photo::{Photo, PhotoSpec};
use crate::stats::{Latency, Report, per_sec, round1};
use crate::uploader::{self, UploaderOutcome, UploaderSpec};

/// The target: chat delivery p99 during uploads at most this times the baseline's.
const P99_RATIO_TARGET: f64 = 2.0;

#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct Args {
    #[command(flatten)]
    #[serde(skip)]
    pub target: TargetArgs,
    /// Subscribers of the chat room (each its own WebSocket)
    #[arg(long, default_value_t = 20)]
    pub subscribers: usize,
    /// Publishers into the chat room (each its own WebSocket)
    #[arg(long, default_value_t = 2)]
    pub publishers: usize,
    /// Total target send rate over all publishers, messages per second
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// How long each phase publishes (the uploaders upload as long in the second)
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Longest wait after a phase's publishers are done for subscribers to receive everything
    #[arg(long, default_value_t = 20)]
    pub drain_secs: u64,
    /// Clients uploading at once in the second phase, each one upload after the other
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Where the image messages go: the chat room (its subscribers receive them too, and they
    /// are checked like the text messages) or a separate room nobody subscribes to
    #[arg(long, value_enum, default_value = "same")]
    pub image_room: ImageRoom,
    /// Width of the generated photo in pixels
    #[arg(long, default_value_t = 4000)]
    pub photo_width: u32,
    /// Height of the generated photo in pixels
    #[arg(long, default_value_t = 3000)]
    pub photo_height: u32,
    /// JPEG quality of the generated photo
    #[arg(long, default_value_t = 85)]
    pub photo_quality: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageRoom {
    Same,
    Separate,
}

pub async fn run(args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.subscribers > 0 && args.publishers > 0 && args.concurrency > 0, "sizes must be > 0");
    anyhow::ensure!(args.rate > 0.0, "--rate must be > 0");
    let spec = PhotoSpec { width: args.photo_width, height: args.photo_height, quality: args.photo_quality };
    progress(format_args!("generating a {}x{} JPEG", spec.width, spec.height));
    let photo = tokio::task::spawn_blocking(move || Photo::generate(spec)).await??;
    let target_args = args.target.clone();
    with_target(&target_args, |target| async move {
        let rooms = if args.image_room == ImageRoom::Separate { 3 } else { 2 };
        let fixture = Fixture::new(&target, &args.target, rooms, "uploads", ACTIVE_READ_BUFFER).await?;
        let (baseline_room, upload_room) = (fixture.rooms[0], fixture.rooms[1]);
        let image_room = fixture.rooms.get(2).copied().unwrap_or(upload_room);
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

        progress(format_args!("phase 1 of 2: chat without uploads"));
        let baseline = pubsub::run(&fixture.on_rooms(vec![baseline_room]), &plan, true).await?;

        progress(format_args!("phase 2 of 2: chat with {} uploaders", args.concurrency));
        let uploaders: Vec<UploaderSpec> = (0..args.concurrency)
            .map(|i| UploaderSpec {
                token: fixture.account(i).token.clone(),
                room_id: image_room,
                photo: photo.jpeg.clone(),
                mime: Photo::MIME,
                width: photo.spec.width as i32,
                height: photo.spec.height as i32,
                duration: plan.duration,
                max_uploads: args.duration_secs * 1000 + 1,
            })
            .collect();
        let side_load = upload_all(fixture.api.clone(), uploaders);
        let (mut during, (uploads, upload_elapsed)) =
            pubsub::run_with(&fixture.on_rooms(vec![upload_room]), &plan, true, side_load).await?;
        if args.image_room == ImageRoom::Same {
            // The chat room's subscribers must have every image message too, in seq order.
            for &seq in &uploads.image_seqs {
                during.acked[0].insert(seq);
            }
        }

        let where_to = match args.image_room {
            ImageRoom::Same => "into the chat room",
            ImageRoom::Separate => "into a room of their own",
        };
        let title = format!(
            "1 room x {} subscribers, {} publishers at {} msg/s; {} s without uploads, then {} s with {} \
             uploaders of a {:.0} MP JPEG ({:.1} MB) posting it {where_to}; {}",
            args.subscribers,
            args.publishers,
            args.rate,
            args.duration_secs,
            args.duration_secs,
            args.concurrency,
            photo.megapixels(),
            photo.jpeg.len() as f64 / 1e6,
            target.describe()
        );
        let mut report = Report::new("uploads", title);
        report.add("config", &args);
        report.add("backend", target.backend());
        report.add(
            "photo",
            json!({
                "width": photo.spec.width,
                "height": photo.spec.height,
                "bytes": photo.jpeg.len(),
                "quality": photo.spec.quality,
                "encode_secs": round1(photo.encode_time.as_secs_f64()),
            }),
        );
        report_uploads(&mut report, &uploads, upload_elapsed, args.concurrency);
        report_deliveries(&mut report, "baseline", &plan, &baseline);
        report_deliveries(&mut report, "during", &plan, &during);
        report_ratio(&mut report, &baseline.e2e, &during.e2e);
        Ok(report)
    })
    .await
}

/// The uploaders side by side; their merged outcome and how long they ran.
async fn upload_all(api: Api, specs: Vec<UploaderSpec>) -> (UploaderOutcome, Duration) {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for spec in specs {
        tasks.spawn(uploader::run(api.clone(), spec));
    }
    let mut total = UploaderOutcome::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(outcome) => total.merge(&outcome),
            // Only a panic ends an uploader early; count it where the report shows it.
            Err(e) => total.upload_failures.add(format!("uploader task: {e}"), 1),
        }
    }
    (total, started.elapsed())
}

fn report_uploads(report: &mut Report, uploads: &UploaderOutcome, elapsed: Duration, uploaders: usize) {
    report.add("uploaders", uploaders);
    report.add("uploads_ok", uploads.uploads_ok);
    report.add("uploads_per_sec", per_sec(uploads.uploads_ok, elapsed));
    report.add("upload_mb_per_sec", round1(uploads.bytes_uploaded as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9)));
    report.latency("latency_upload", &uploads.upload_latency);
    report.add("upload_failures", uploads.upload_failures.to_json());
    report.expect_zero("wrong_attachments", uploads.wrong_attachments);
    report.add("image_messages", uploads.image_seqs.len());
    report.latency("latency_image_post", &uploads.post_latency);
    report.add("image_post_failures", uploads.post_failures.to_json());
    report.expect_zero("wrong_image_messages", uploads.wrong_messages);
    report.expect(uploads.uploads_ok > 0, "no upload succeeded");
    report.expect(uploads.upload_failures.total() == 0, "uploads failed");
    report.expect(uploads.post_failures.total() == 0, "posting image messages failed");
    let failures = &uploads.upload_failures;
    if failures.get("http 413") > 0 {
        report.note("413: the photo is over the server's upload size limit (PALAVER_UPLOADS_MAX_BYTES)");
    }
    if failures.get("http 415") > 0 {
        report.note("415: the server did not take the photo for a JPEG (it decides from the bytes)");
    }
    if failures.get("http 422") > 0 {
        report.note("422: the server found the photo corrupt or over its pixel limit");
    }
    if failures.get("http 503") > 0 {
        report.note("503: more uploads at once than the server receives (PALAVER_UPLOADS_MAX_IN_FLIGHT)");
    }
    if failures.get("http 429") > 0 {
        report.note(
            "429: the per-user upload quota (PALAVER_UPLOADS_PER_MINUTE / PALAVER_UPLOADS_BYTES_PER_DAY); \
             a server started here has them raised",
        );
    }
}

/// The target: p99 of chat delivery during uploads against the baseline's. A row and a note,
/// not a failure: the exit status is for correctness, timing is for the reader.
fn report_ratio(report: &mut Report, baseline: &Latency, during: &Latency) {
    let p99 = |latency: &Latency| latency.summary()["p99_ms"].as_f64();
    let ratio = p99(baseline).zip(p99(during)).filter(|(b, _)| *b > 0.0).map(|(b, d)| (d / b * 100.0).round() / 100.0);
    report.add("delivery_p99_ratio", ratio);
    report.add("delivery_p99_ratio_target", P99_RATIO_TARGET);
    match ratio {
        Some(r) if r > P99_RATIO_TARGET => report.note(format!(
            "chat delivery p99 during uploads is {r}x the baseline's, over the target of {P99_RATIO_TARGET}x"
        )),
        Some(_) => {}
        None => report.note("no delivery p99 to compare (no deliveries in a phase)"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, Command};

    fn latency_of(ms: u64) -> Latency {
        let mut latency = Latency::default();
        for _ in 0..100 {
            latency.record(Duration::from_millis(ms));
        }
        latency
    }

    #[test]
    fn ratio_of_p99s_and_a_note_over_the_target() {
        let mut report = Report::new("uploads", "t");
        report_ratio(&mut report, &latency_of(10), &latency_of(15));
        assert_eq!(report.get("delivery_p99_ratio").and_then(|v| v.as_f64()), Some(1.5));
        assert!(report.notes.is_empty(), "{report}");

        let mut report = Report::new("uploads", "t");
        report_ratio(&mut report, &latency_of(10), &latency_of(30));
        assert_eq!(report.get("delivery_p99_ratio").and_then(|v| v.as_f64()), Some(3.0));
        assert!(report.notes.iter().any(|n| n.contains("over the target")), "{report}");
        assert!(report.ok(), "timing is no correctness failure");

        let mut report = Report::new("uploads", "t");
        report_ratio(&mut report, &Latency::default(), &latency_of(30));
        assert_eq!(report.get("delivery_p99_ratio"), Some(&serde_json::Value::Null));
    }

    #[test]
    fn flags() {
        let argv = ["palaver-loadgen", "uploads", "--server-bin", "palaver", "--image-room", "separate"];
        let Command::Uploads(args) = Cli::try_parse_from(argv).unwrap().command else { panic!("uploads") };
        assert_eq!(args.image_room, ImageRoom::Separate);
        assert_eq!((args.concurrency, args.photo_width, args.photo_height, args.photo_quality), (4, 4000, 3000, 85));
    }
}
