//! Upload rows: what was uploaded, by whom, and where it is attached. The bytes are in a
//! blob store (`uploads::blobs`); these rows are written after them.

use time::OffsetDateTime;

use super::Error;
use crate::domain::{RoomId, UploadId, UserId};
use crate::uploads::image::ImageFormat;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: UploadId,
    pub owner_id: UserId,
    pub mime: ImageFormat,
    /// Bytes of the original as served.
    pub size: i64,
    pub width: i32,
    pub height: i32,
    /// Strong entity tags of the two variants (a digest of their bytes).
    pub etag: String,
    pub thumbnail_mime: ImageFormat,
    pub thumbnail_size: i64,
    pub thumbnail_etag: String,
    pub created_at: OffsetDateTime,
}

/// The message an upload is attached to.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct AttachedTo {
    pub room_id: RoomId,
    pub deleted: bool,
}

#[async_trait::async_trait]
pub trait UploadStore {
    async fn insert_upload(&self, row: &UploadRow) -> Result<(), Error>;
    async fn upload(&self, id: UploadId) -> Result<Option<UploadRow>, Error>;
    /// The message the upload is attached to, if any (deleted messages included).
    async fn attached_to(&self, id: UploadId) -> Result<Option<AttachedTo>, Error>;
    /// Bytes `owner` uploaded since `since`, and when the oldest of those uploads was made.
    async fn uploaded_since(
        &self,
        owner: UserId,
        since: OffsetDateTime,
    ) -> Result<(i64, Option<OffsetDateTime>), Error>;
    /// Deletes at most `limit` uploads made before `before` that no message references, and
    /// returns their ids (their blobs are the caller's to delete).
    async fn delete_unattached_uploads(&self, before: OffsetDateTime, limit: i64) -> Result<Vec<UploadId>, Error>;
    /// Which of `ids` have no upload row.
    async fn missing_uploads(&self, ids: &[UploadId]) -> Result<Vec<UploadId>, Error>;
}

macro_rules! impl_upload_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::UploadStore for $store {
            async fn insert_upload(&self, row: &$crate::store::UploadRow) -> Result<(), $crate::store::Error> {
                sqlx::query::<$db>(
                    "INSERT INTO uploads (id, owner_id, mime, size, width, height, etag,
                                          thumbnail_mime, thumbnail_size, thumbnail_etag, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(row.id)
                .bind(row.owner_id)
                .bind(row.mime)
                .bind(row.size)
                .bind(row.width)
                .bind(row.height)
                .bind(&row.etag)
                .bind(row.thumbnail_mime)
                .bind(row.thumbnail_size)
                .bind(&row.thumbnail_etag)
                .bind(row.created_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn upload(
                &self,
                id: $crate::domain::UploadId,
            ) -> Result<Option<$crate::store::UploadRow>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::UploadRow>(
                    "SELECT id, owner_id, mime, size, width, height, etag,
                            thumbnail_mime, thumbnail_size, thumbnail_etag, created_at
                     FROM uploads WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn attached_to(
                &self,
                id: $crate::domain::UploadId,
            ) -> Result<Option<$crate::store::AttachedTo>, $crate::store::Error> {
                Ok(sqlx::query_as::<$db, $crate::store::AttachedTo>(
                    "SELECT room_id, deleted FROM messages WHERE upload_id = $1",
                )
                .bind(id)
                .fetch_optional(&self.read)
                .await?)
            }

            async fn uploaded_since(
                &self,
                owner: $crate::domain::UserId,
                since: time::OffsetDateTime,
            ) -> Result<(i64, Option<time::OffsetDateTime>), $crate::store::Error> {
                // Summed in Rust: SUM's type differs between the backends.
                let rows: Vec<(i64, time::OffsetDateTime)> =
                    sqlx::query_as("SELECT size, created_at FROM uploads WHERE owner_id = $1 AND created_at > $2")
                        .bind(owner)
                        .bind(since)
                        .fetch_all(&self.read)
                        .await?;
                let total = rows.iter().map(|(size, _)| *size).sum();
                Ok((total, rows.iter().map(|(_, at)| *at).min()))
            }

            async fn delete_unattached_uploads(
                &self,
                before: time::OffsetDateTime,
                limit: i64,
            ) -> Result<Vec<$crate::domain::UploadId>, $crate::store::Error> {
                let rows: Vec<($crate::domain::UploadId,)> = sqlx::query_as(
                    "DELETE FROM uploads WHERE id IN (
                         SELECT u.id FROM uploads u
                         WHERE u.created_at < $1
                           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.upload_id = u.id)
                         LIMIT $2)
                     RETURNING id",
                )
                .bind(before)
                .bind(limit)
                .fetch_all(&self.write)
                .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn missing_uploads(
                &self,
                ids: &[$crate::domain::UploadId],
            ) -> Result<Vec<$crate::domain::UploadId>, $crate::store::Error> {
                if ids.is_empty() {
                    return Ok(vec![]);
                }
                let mut query = sqlx::QueryBuilder::<$db>::new("SELECT id FROM uploads WHERE id IN (");
                let mut list = query.separated(", ");
                for id in ids {
                    list.push_bind(*id);
                }
                query.push(")");
                let found: Vec<($crate::domain::UploadId,)> = query.build_query_as().fetch_all(&self.read).await?;
                Ok(ids.iter().filter(|id| !found.iter().any(|(f,)| f == *id)).copied().collect())
            }
        }
    };
}
pub(crate) use impl_upload_store;
