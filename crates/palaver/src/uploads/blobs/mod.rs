//! Where the bytes of uploads live: a small trait with two stores, a directory under the
//! data dir (one machine) and a PostgreSQL table (every instance of a deployment reaches
//! it). Each upload has two blobs, its original and its thumbnail.

mod local;
mod postgres;

use bytes::Bytes;
use time::OffsetDateTime;

pub use local::LocalBlobs;
pub use postgres::PgBlobs;

use crate::domain::UploadId;
use crate::error::Result;

/// Where a page of `written_before` starts; what it holds is each store's own business.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(pub(crate) Option<UploadId>, pub(crate) usize);

/// Most uploads one page of `written_before` returns.
pub const PAGE: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    Original,
    Thumbnail,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::Original, Variant::Thumbnail];

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Thumbnail => "thumbnail",
        }
    }
}

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores durably (or fails): an upload's row is written only after its blobs are.
    async fn put(&self, id: UploadId, variant: Variant, bytes: Bytes) -> Result<()>;
    async fn get(&self, id: UploadId, variant: Variant) -> Result<Option<Bytes>>;
    /// Deletes every variant of `id`; nothing to delete is fine.
    async fn delete(&self, id: UploadId) -> Result<()>;
    /// One page of the uploads with a blob written before `before`, for the sweep of blobs
    /// whose row never came (a crash between the two), and the cursor of the next page
    /// (`None`: that was the last). Start with `Cursor::default()`.
    async fn written_before(&self, before: OffsetDateTime, cursor: Cursor) -> Result<(Vec<UploadId>, Option<Cursor>)>;
    /// `local` or `database`, for logs and `/readyz`.
    fn kind(&self) -> &'static str;
}
