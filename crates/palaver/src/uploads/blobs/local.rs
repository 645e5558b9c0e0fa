//! Blobs as files under `<data dir>/uploads/`, spread over 256 subdirectories by the last
//! byte of the id (v7 ids begin with the time, so their end is what varies). A blob is
//! written to a temporary name, synced, then renamed: a reader never sees half a file,
//! and a crash leaves at most a temporary file, which the orphan sweep removes.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use time::OffsetDateTime;

use super::{BlobStore, Cursor, Variant};
use crate::domain::UploadId;
use crate::error::{Error, Result};
use crate::private_fs;

pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    /// Creates `root` (private to this user) if needed.
    pub fn open(root: PathBuf) -> std::io::Result<Self> {
        private_fs::prepare_dir(&root)?;
        Ok(Self { root })
    }

    fn shard(&self, id: UploadId) -> PathBuf {
        let hex = id.uuid().simple().to_string();
        self.root.join(&hex[hex.len() - 2..])
    }

    fn path(&self, id: UploadId, variant: Variant) -> PathBuf {
        self.shard(id).join(format!("{id}.{}", variant.as_str()))
    }
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Internal(anyhow::Error::new(e).context(what))
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobs {
    async fn put(&self, id: UploadId, variant: Variant, bytes: Bytes) -> Result<()> {
        let (dir, path) = (self.shard(id), self.path(id, variant));
        blocking(move || write_durably(&dir, &path, &bytes)).await.map_err(io("writing an upload"))
    }

    async fn get(&self, id: UploadId, variant: Variant) -> Result<Option<Bytes>> {
        match tokio::fs::read(self.path(id, variant)).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading an upload")(e)),
        }
    }

    async fn delete(&self, id: UploadId) -> Result<()> {
        let dir = self.shard(id);
        blocking(move || remove_all_of(&dir, id)).await.map_err(io("deleting an upload"))
    }

    async fn written_before(&self, before: OffsetDateTime, cursor: Cursor) -> Result<(Vec<UploadId>, Option<Cursor>)> {
        // A page is one subdirectory (the cursor counts them), so memory stays bounded.
        let shard = cursor.1;
        let dir = self.root.join(format!("{shard:02x}"));
        let ids = blocking(move || old_files(&dir, before)).await.map_err(io("listing uploads"))?;
        Ok((ids, (shard < 255).then_some(Cursor(None, shard + 1))))
    }

    fn kind(&self) -> &'static str {
        "local"
    }
}

fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    private_fs::prepare_dir(dir)?;
    let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename itself is durable once the directory is synced.
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Removes every file of `id`: its variants and any temporary file a crash left.
fn remove_all_of(dir: &Path, id: UploadId) -> std::io::Result<()> {
    let prefix = format!("{id}.");
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(|name| name.starts_with(&prefix)) {
            match std::fs::remove_file(entry.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Uploads in `dir` with a file (or a leftover temporary file) last modified before `before`.
fn old_files(dir: &Path, before: OffsetDateTime) -> std::io::Result<Vec<UploadId>> {
    let before = std::time::SystemTime::from(before);
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for file in entries {
        let file = file?;
        let name = file.file_name();
        let Some(id) = name.to_str().and_then(|n| n.split('.').next()).and_then(|n| n.parse().ok()) else {
            continue;
        };
        let id = UploadId::from_uuid(id);
        if file.metadata()?.modified()? < before && !found.contains(&id) {
            found.push(id);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_blob_round_trips_and_is_deleted_with_its_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path().join("uploads")).unwrap();
        let id = UploadId::generate();
        assert!(blobs.get(id, Variant::Original).await.unwrap().is_none());
        blobs.put(id, Variant::Original, Bytes::from_static(b"original")).await.unwrap();
        blobs.put(id, Variant::Thumbnail, Bytes::from_static(b"thumb")).await.unwrap();
        assert_eq!(blobs.get(id, Variant::Original).await.unwrap().unwrap(), Bytes::from_static(b"original"));
        assert_eq!(blobs.get(id, Variant::Thumbnail).await.unwrap().unwrap(), Bytes::from_static(b"thumb"));
        let later = OffsetDateTime::now_utc() + time::Duration::seconds(5);
        assert_eq!(all_written_before(&blobs, later).await, vec![id]);
        assert!(all_written_before(&blobs, OffsetDateTime::now_utc() - time::Duration::hours(1)).await.is_empty());
        std::fs::write(blobs.shard(id).join(format!("{id}.tmp-left-by-a-crash")), b"half").unwrap();
        blobs.delete(id).await.unwrap();
        assert!(blobs.get(id, Variant::Original).await.unwrap().is_none());
        assert!(all_written_before(&blobs, later).await.is_empty());
        blobs.delete(id).await.unwrap();
    }

    async fn all_written_before(blobs: &LocalBlobs, before: OffsetDateTime) -> Vec<UploadId> {
        let (mut all, mut cursor) = (vec![], Some(Cursor::default()));
        while let Some(at) = cursor {
            let (ids, next) = blobs.written_before(before, at).await.unwrap();
            all.extend(ids);
            cursor = next;
        }
        all
    }
}
