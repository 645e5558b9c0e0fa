//! Uploads: receiving a file within its limits, checking and thumbnailing it on the decoder
//! threads, storing it (blobs first, then the row), deciding who may see it, and deleting
//! what nobody attached.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use palaver_protocol as wire;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Caller;
use super::background::Ticks;
use crate::clock;
use crate::config::UploadsConfig;
use crate::domain::{UploadId, UserId};
use crate::error::{Conflict, Error, Result};
use crate::ratelimit::SharedRateLimit;
use crate::store::{AttachmentRow, DynStore, UploadRow};
use crate::uploads::blobs::{BlobStore, Cursor, Variant};
use crate::uploads::image::{self, ImageFormat, Rejection, SNIFF_LEN, Sniff};
use crate::uploads::signed::{SignatureError, UrlSigner};
use crate::workers::{Priority, Workers};

/// How long an upload waits for a slot among `max_in_flight` before 503.
const SLOT_WAIT: Duration = Duration::from_secs(10);
/// How long an upload waits for a free decoder before 503.
const DECODE_WAIT: Duration = Duration::from_secs(30);
/// Blobs younger than this may belong to an upload still being stored (on any instance).
const ORPHAN_AGE: time::Duration = time::Duration::hours(1);
const DAY: time::Duration = time::Duration::days(1);

/// What uploads are built with: where blobs live and the URL signer (made at start), and
/// the `[uploads]` settings.
#[derive(Clone)]
pub struct UploadSettings {
    pub blobs: Arc<dyn BlobStore>,
    pub signer: UrlSigner,
    pub config: UploadsConfig,
}

impl std::fmt::Debug for UploadSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadSettings").field("blobs", &self.blobs.kind()).field("config", &self.config).finish()
    }
}

/// Uploads: admitting, checking and storing files, who may see them, the sweep of what
/// nobody attached.
#[derive(Clone)]
pub struct Uploads {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    blobs: Arc<dyn BlobStore>,
    signer: UrlSigner,
    decoders: Workers<()>,
    in_flight: Arc<Semaphore>,
    per_minute: SharedRateLimit<UserId>,
    max_bytes: u64,
    bytes_per_day: u64,
    image: image::Limits,
    unattached_ttl: time::Duration,
    /// Every body byte received by upload requests, for `/metrics` and for tests that check
    /// a refused upload was not read to its end.
    received: Arc<AtomicU64>,
}

impl Uploads {
    /// Starts the decoder threads and the periodic sweep.
    pub fn new(
        store: DynStore,
        settings: UploadSettings,
        redis: Option<&redis::aio::ConnectionManager>,
    ) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let UploadSettings { blobs, signer, config } = settings;
        let threads = if config.decoders == 0 { (cores / 2).max(1) } else { config.decoders };
        // In the background, so a burst of decodes takes only the CPU chat delivery leaves over.
        let decoders = Workers::new("image decoding", "image-decoder", threads, DECODE_WAIT, Priority::Background)?;
        let uploads = Self {
            inner: Arc::new(Inner {
                store,
                blobs,
                signer,
                decoders,
                in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
                per_minute: SharedRateLimit::new("uploads", config.per_minute / 60.0, config.per_minute, redis),
                max_bytes: config.max_bytes,
                bytes_per_day: config.bytes_per_day,
                image: image::Limits { max_pixels: config.max_pixels, thumbnail_max_side: 320 },
                unattached_ttl: time::Duration::seconds(i64::try_from(config.unattached_ttl_secs).unwrap_or(i64::MAX)),
                received: Arc::new(AtomicU64::new(0)),
            }),
        };
        uploads.sweep_periodically();
        Ok(uploads)
    }

    /// Signs the URLs of attachments.
    pub(super) fn signer(&self) -> &UrlSigner {
        &self.inner.signer
    }

    fn store(&self) -> &DynStore {
        &self.inner.store
    }
}

/// The wire attachment of `row`, with URLs signed now.
pub(super) fn attachment(signer: &UrlSigner, row: AttachmentRow, now: OffsetDateTime) -> wire::Attachment {
    wire::Attachment {
        id: row.upload_id.into(),
        mime: row.mime.mime().to_owned(),
        size: row.size,
        width: row.width,
        height: row.height,
        url: signer.url(row.upload_id, Variant::Original, now),
        thumbnail_url: signer.url(row.upload_id, Variant::Thumbnail, now),
    }
}

/// A file being received: the bytes so far, checked against the limits as they arrive.
pub struct Incoming {
    bytes: Vec<u8>,
    /// The most this file may hold: the size limit, or what is left of the day's budget.
    limit: u64,
    over_limit: OverLimit,
    sniffed: Option<ImageFormat>,
    received: Arc<AtomicU64>,
    _slot: OwnedSemaphorePermit,
}

impl Incoming {
    /// Takes the next chunk of the file, or refuses the file: too large (413), over the
    /// day's budget (429), or not an image (415, known from the first bytes).
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        self.received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        metrics::counter!("palaver_upload_bytes_received_total").increment(chunk.len() as u64);
        let len = self.bytes.len() + chunk.len();
        if len as u64 > self.limit {
            return Err(match self.over_limit {
                OverLimit::Size => Error::TooLarge { what: "the file", limit: self.limit },
                OverLimit::DailyBudget { retry_after } => Error::RateLimited { retry_after },
            });
        }
        if len > self.bytes.capacity() {
            // Grow by doubling, but never past the limit: memory holds at most the limit.
            let target = (self.bytes.capacity() * 2).max(len).max(64 * 1024).min(self.limit as usize);
            self.bytes.reserve_exact(target - self.bytes.len());
        }
        self.bytes.extend_from_slice(chunk);
        if self.sniffed.is_none() && self.bytes.len() >= SNIFF_LEN {
            self.sniffed = Some(sniffed(&self.bytes)?);
        }
        Ok(())
    }
}

/// Which limit `Incoming::limit` is.
#[derive(Debug, Clone, Copy)]
enum OverLimit {
    Size,
    DailyBudget { retry_after: Duration },
}

fn sniffed(prefix: &[u8]) -> Result<ImageFormat> {
    match image::sniff(prefix) {
        Sniff::Image(format) => Ok(format),
        Sniff::NeedMore | Sniff::Unsupported => {
            Err(Error::UnsupportedMediaType("only PNG, JPEG, GIF and WebP images are accepted"))
        }
    }
}

/// How a request for an upload's bytes proves it may see them.
pub enum UploadAccess<'a> {
    Caller(&'a Caller),
    Signed { expires: i64, signature: &'a str },
}

/// What serving one variant of an upload needs before its bytes are read.
#[derive(Debug)]
pub struct UploadView {
    pub id: UploadId,
    pub variant: Variant,
    pub format: ImageFormat,
    /// A strong entity tag, quoted.
    pub etag: String,
    /// How long a browser may keep it: until its signed URL expires; 0 with a bearer token.
    pub max_age: i64,
}

impl Uploads {
    /// The largest file an upload may be.
    pub fn max_bytes(&self) -> u64 {
        self.inner.max_bytes
    }

    /// Every body byte upload requests have sent this instance.
    pub fn bytes_received(&self) -> u64 {
        self.inner.received.load(Ordering::Relaxed)
    }

    /// Admits a new upload from `caller` (rate, daily budget, a slot among those in flight)
    /// and returns what receives its bytes.
    pub async fn begin(&self, caller: &Caller) -> Result<Incoming> {
        let uploads = &self.inner;
        uploads.per_minute.try_take(caller.id).await.map_err(|retry_after| Error::RateLimited { retry_after })?;
        let now = clock::now();
        let (used, oldest) = self.store().uploaded_since(caller.id, now - DAY).await?;
        let left = uploads.bytes_per_day.saturating_sub(u64::try_from(used).unwrap_or(0));
        // When the oldest upload of the day ages out, part of the budget comes back.
        let budget_back = oldest
            .map_or(Duration::from_secs(60), |at| Duration::try_from(at + DAY - now).unwrap_or(Duration::from_secs(1)));
        if left == 0 {
            return Err(Error::RateLimited { retry_after: budget_back });
        }
        let slot = match tokio::time::timeout(SLOT_WAIT, uploads.in_flight.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(closed)) => return Err(Error::Internal(closed.into())),
            Err(_) => {
                return Err(Error::Unavailable { what: "upload processing", retry_after: Duration::from_secs(5) });
            }
        };
        let (limit, over_limit) = if left < uploads.max_bytes {
            (left, OverLimit::DailyBudget { retry_after: budget_back })
        } else {
            (uploads.max_bytes, OverLimit::Size)
        };
        Ok(Incoming {
            bytes: Vec::new(),
            limit,
            over_limit,
            sniffed: None,
            received: uploads.received.clone(),
            _slot: slot,
        })
    }

    /// Checks the received file, makes its thumbnail and stores both.
    pub async fn finish(&self, caller: &Caller, incoming: Incoming) -> Result<wire::Attachment> {
        let uploads = &self.inner;
        if incoming.bytes.is_empty() {
            return Err(Error::invalid("file", "the file is empty"));
        }
        // A file shorter than the sniffed prefix was not looked at yet.
        if incoming.sniffed.is_none() {
            sniffed(&incoming.bytes)?;
        }
        let limits = uploads.image;
        let bytes = incoming.bytes;
        let processed =
            uploads.decoders.run(move |_| image::process(&bytes, &limits)).await?.map_err(
                |rejection| match rejection {
                    Rejection::Unsupported => {
                        Error::UnsupportedMediaType("only PNG, JPEG, GIF and WebP images are accepted")
                    }
                    other => Error::invalid("file", other.to_string()),
                },
            )?;
        let id = UploadId::generate();
        let row = UploadRow {
            id,
            owner_id: caller.id,
            mime: processed.format,
            size: processed.original.len() as i64,
            width: processed.width as i32,
            height: processed.height as i32,
            etag: etag(&processed.original),
            thumbnail_mime: processed.thumbnail_format,
            thumbnail_size: processed.thumbnail.len() as i64,
            thumbnail_etag: etag(&processed.thumbnail),
            created_at: clock::now(),
        };
        // Blobs first: a crash before the row leaves an orphan blob the sweep removes,
        // never a row without its bytes.
        uploads.blobs.put(id, Variant::Original, Bytes::from(processed.original)).await?;
        uploads.blobs.put(id, Variant::Thumbnail, Bytes::from(processed.thumbnail)).await?;
        if let Err(e) = self.store().insert_upload(&row).await {
            let _ = uploads.blobs.delete(id).await;
            return Err(e.into());
        }
        tracing::debug!(upload = %id, size = row.size, mime = row.mime.mime(), "upload stored");
        let attached =
            AttachmentRow { upload_id: id, mime: row.mime, size: row.size, width: row.width, height: row.height };
        Ok(attachment(&uploads.signer, attached, clock::now()))
    }

    /// The caller's own upload, not yet attached to any message: what a message may attach.
    pub(super) async fn attachable(&self, caller: &Caller, id: UploadId) -> Result<AttachmentRow> {
        let row = self.store().upload(id).await?;
        // Someone else's upload looks missing, like every resource that is not the caller's.
        let Some(row) = row.filter(|row| row.owner_id == caller.id) else {
            return Err(Error::NotFound("upload"));
        };
        if self.store().attached_to(id).await?.is_some() {
            return Err(Conflict::UploadAttached.into());
        }
        Ok(AttachmentRow { upload_id: id, mime: row.mime, size: row.size, width: row.width, height: row.height })
    }

    /// Who may see an upload: its uploader always; with a bearer token, the members of the
    /// room where it was posted; with a signed URL, anyone holding it. Once its message is
    /// deleted only the uploader (with a bearer token) sees it. Anyone else: 404.
    pub async fn open(&self, access: UploadAccess<'_>, id: UploadId, variant: Variant) -> Result<UploadView> {
        let now = clock::now();
        let max_age = match &access {
            UploadAccess::Signed { expires, signature } => {
                self.inner.signer.verify(id, variant, *expires, signature, now).map_err(|e| match e {
                    SignatureError::Invalid => Error::Forbidden("the URL's signature is not valid"),
                    SignatureError::Expired => Error::Forbidden("the URL has expired; fetch the message again"),
                })?;
                expires - now.unix_timestamp()
            }
            UploadAccess::Caller(_) => 0,
        };
        let row = self.store().upload(id).await?.ok_or(Error::NotFound("upload"))?;
        let attached = self.store().attached_to(id).await?;
        let visible = match (&access, attached) {
            (UploadAccess::Caller(caller), _) if caller.id == row.owner_id => true,
            (UploadAccess::Caller(caller), Some(at)) => {
                !at.deleted && self.store().role(at.room_id, caller.id).await?.is_some()
            }
            (UploadAccess::Caller(_), None) => false,
            (UploadAccess::Signed { .. }, at) => at.is_none_or(|at| !at.deleted),
        };
        if !visible {
            return Err(Error::NotFound("upload"));
        }
        let (format, etag) = match variant {
            Variant::Original => (row.mime, row.etag),
            Variant::Thumbnail => (row.thumbnail_mime, row.thumbnail_etag),
        };
        Ok(UploadView { id, variant, format, etag: format!("\"{etag}\""), max_age })
    }

    pub async fn bytes(&self, view: &UploadView) -> Result<Bytes> {
        self.inner.blobs.get(view.id, view.variant).await?.ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("upload {} has a row but no {} blob", view.id, view.variant.as_str()))
        })
    }

    /// Deletes uploads nobody attached within the allowed time, and blobs whose row never
    /// came. Returns how many uploads went.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<usize> {
        let uploads = &self.inner;
        let mut removed = 0;
        loop {
            // The rows go first: a crash before the blobs leaves orphans for the next sweep.
            let ids = self.store().delete_unattached_uploads(now - uploads.unattached_ttl, 500).await?;
            for id in &ids {
                uploads.blobs.delete(*id).await?;
            }
            removed += ids.len();
            if ids.len() < 500 {
                break;
            }
        }
        let mut cursor = Some(Cursor::default());
        while let Some(at) = cursor {
            let (ids, next) = uploads.blobs.written_before(now - ORPHAN_AGE, at).await?;
            for id in self.store().missing_uploads(&ids).await? {
                uploads.blobs.delete(id).await?;
                removed += 1;
            }
            cursor = next;
        }
        Ok(removed)
    }

    /// Sweeps every ten minutes for as long as the services live.
    fn sweep_periodically(&self) {
        // The first sweep waits a while, so a short-lived command never runs one.
        let mut ticks = Ticks::new(&self.inner, Duration::from_secs(60), Duration::from_secs(600));
        tokio::spawn(async move {
            while let Some(inner) = ticks.next().await {
                match (Uploads { inner }).sweep(clock::now()).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "deleted unattached uploads"),
                    Err(e) => tracing::warn!(error = %e, "sweeping uploads failed; retrying later"),
                }
            }
        });
    }
}

/// A strong entity tag: the first 128 bits of the bytes' SHA-256, in hex.
fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}
