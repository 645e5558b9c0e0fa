//! Blobs in PostgreSQL (`bytea`, at most `uploads.max_bytes` each): with several instances on
//! one database, every instance serves every upload without a shared file system.

use bytes::Bytes;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::{BlobStore, Cursor, PAGE, Variant};
use crate::domain::UploadId;
use crate::error::{Error, Result};

pub struct PgBlobs {
    pool: PgPool,
}

impl PgBlobs {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn database(e: sqlx::Error) -> Error {
    crate::store::Error::from(e).into()
}

#[async_trait::async_trait]
impl BlobStore for PgBlobs {
    async fn put(&self, id: UploadId, variant: Variant, bytes: Bytes) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(database)?;
        // Not flushed at its own commit: the upload's row, committed after it with the
        // default durability, flushes the WAL up to and past this blob, so a row never
        // outlives its blob; chat messages committing meanwhile do not wait on megabytes
        // of blob WAL being flushed for this commit.
        sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(&mut *tx).await.map_err(database)?;
        sqlx::query(
            "INSERT INTO blobs (upload_id, variant, data) VALUES ($1, $2, $3)
             ON CONFLICT (upload_id, variant) DO UPDATE SET data = EXCLUDED.data",
        )
        .bind(id)
        .bind(variant.as_str())
        .bind(bytes.as_ref())
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        tx.commit().await.map_err(database)?;
        Ok(())
    }

    async fn get(&self, id: UploadId, variant: Variant) -> Result<Option<Bytes>> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT data FROM blobs WHERE upload_id = $1 AND variant = $2")
            .bind(id)
            .bind(variant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        Ok(row.map(|(data,)| Bytes::from(data)))
    }

    async fn delete(&self, id: UploadId) -> Result<()> {
        sqlx::query("DELETE FROM blobs WHERE upload_id = $1").bind(id).execute(&self.pool).await.map_err(database)?;
        Ok(())
    }

    async fn written_before(&self, before: OffsetDateTime, cursor: Cursor) -> Result<(Vec<UploadId>, Option<Cursor>)> {
        // Paged by id, so the sweep reaches every blob however many there are.
        let after = cursor.0.map_or(uuid::Uuid::nil(), UploadId::uuid);
        let rows: Vec<(UploadId,)> = sqlx::query_as(
            "SELECT DISTINCT upload_id FROM blobs WHERE created_at < $1 AND upload_id > $2
             ORDER BY upload_id LIMIT $3",
        )
        .bind(before)
        .bind(after)
        .bind(PAGE as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        let ids: Vec<UploadId> = rows.into_iter().map(|(id,)| id).collect();
        let next = (ids.len() == PAGE).then(|| Cursor(ids.last().copied(), 0));
        Ok((ids, next))
    }

    fn kind(&self) -> &'static str {
        "database"
    }
}
