//! An uploader: closed loop, as a person sharing photos one after the other. It uploads the
//! photo (`POST /uploads`), checks the `Attachment` it gets back, then posts it as an image
//! message into its room, and starts the next upload when that is done.

use std::time::Duration;

use bytes::Bytes;
use palaver_protocol::{Attachment, MessageKind, PostMessageRequest};
use tokio::time::Instant;
use uuid::Uuid;

use crate::client::Api;
use crate::stats::{Latency, Tally};

/// Pause after a failed request, so a server refusing everything is not hammered in a loop.
const FAILURE_PAUSE: Duration = Duration::from_millis(100);

pub struct UploaderSpec {
    pub token: String,
    /// Where the image messages go.
    pub room_id: Uuid,
    pub photo: Bytes,
    pub mime: &'static str,
    /// What the server must say the photo is.
    pub width: i32,
    pub height: i32,
    pub duration: Duration,
    pub max_uploads: u64,
}

#[derive(Default)]
pub struct UploaderOutcome {
    pub uploads_ok: u64,
    pub bytes_uploaded: u64,
    /// Failed uploads by HTTP status (`http 413`) or transport error.
    pub upload_failures: Tally,
    /// 201s whose `Attachment` did not describe the photo sent.
    pub wrong_attachments: u64,
    pub upload_latency: Latency,
    /// Seqs of the image messages posted.
    pub image_seqs: Vec<i64>,
    pub post_failures: Tally,
    /// 201s that were not an image message carrying the upload.
    pub wrong_messages: u64,
    pub post_latency: Latency,
}

pub async fn run(api: Api, spec: UploaderSpec) -> UploaderOutcome {
    let mut out = UploaderOutcome::default();
    let until = Instant::now() + spec.duration;
    let mut attempts = 0;
    while Instant::now() < until && attempts < spec.max_uploads {
        attempts += 1;
        let started = Instant::now();
        let attachment = match api.upload(&spec.token, spec.photo.clone(), spec.mime, "photo.jpg").await {
            Ok(attachment) => attachment,
            Err(e) => {
                out.upload_failures.add(e.label(), 1);
                tokio::time::sleep(FAILURE_PAUSE).await;
                continue;
            }
        };
        out.upload_latency.record(started.elapsed());
        if !describes(&attachment, &spec) {
            out.wrong_attachments += 1;
            continue;
        }
        out.uploads_ok += 1;
        out.bytes_uploaded += spec.photo.len() as u64;

        let started = Instant::now();
        let body = PostMessageRequest { upload_id: Some(attachment.id), ..Default::default() };
        match api.post_message(&spec.token, spec.room_id, &body).await {
            Ok(message) => {
                out.post_latency.record(started.elapsed());
                let carries = message.attachment.as_ref().is_some_and(|a| a.id == attachment.id);
                if message.kind == MessageKind::Image && carries {
                    out.image_seqs.push(message.seq);
                } else {
                    out.wrong_messages += 1;
                }
            }
            Err(e) => {
                out.post_failures.add(e.label(), 1);
                tokio::time::sleep(FAILURE_PAUSE).await;
            }
        }
    }
    out
}

fn describes(attachment: &Attachment, spec: &UploaderSpec) -> bool {
    attachment.mime == spec.mime && attachment.width == spec.width && attachment.height == spec.height
}

impl UploaderOutcome {
    pub fn merge(&mut self, other: &UploaderOutcome) {
        self.uploads_ok += other.uploads_ok;
        self.bytes_uploaded += other.bytes_uploaded;
        self.upload_failures.merge(&other.upload_failures);
        self.wrong_attachments += other.wrong_attachments;
        self.upload_latency.merge(&other.upload_latency);
        self.image_seqs.extend_from_slice(&other.image_seqs);
        self.post_failures.merge(&other.post_failures);
        self.wrong_messages += other.wrong_messages;
        self.post_latency.merge(&other.post_latency);
    }
}
