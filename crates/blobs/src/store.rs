//! The content-addressed store: a blob's key is the BLAKE3 hash of its bytes.
//!
//! An upload streams to a staging file on local disk while it is hashed and counted; only once
//! the whole body has arrived, is within the size limit, matches the hash the client announced
//! and (optionally) reads as the announced media type is it copied into the store, in one
//! atomic put. A failed upload leaves nothing in the store, and the staging file is deleted
//! when it is dropped. Uploading a blob that is already stored changes nothing (idempotent).

use crate::{BlobConfig, BlobError, ingest};
use alx_types::{datanet::MediaType, hash::Hash};
use bytes::Bytes;
use futures::{Stream, StreamExt as _, TryStreamExt as _, stream::BoxStream};
use object_store::{
    ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart, aws::AmazonS3Builder,
    local::LocalFileSystem, path::Path as ObjectPath,
};
use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A blob uploaded again more than this long after it was stored is written anew.
const REFRESH_AFTER: std::time::Duration = std::time::Duration::from_secs(3_600);

/// Uploads whose text is checked at once (each reads its blob whole: up to 64 MiB).
const MEDIA_CHECKS_MAX: usize = 2;

/// Blobs up to this size are put in one request; larger ones in parts of this size.
const PART_BYTES: usize = 8 << 20;

/// A stored blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobInfo {
    /// BLAKE3 of the bytes.
    pub hash: Hash,
    /// Length in bytes.
    pub size: u64,
}

/// What an upload must be to be stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PutRules {
    /// The bytes must hash to this.
    pub hash: Option<Hash>,
    /// The bytes must be exactly this many.
    pub size: Option<u64>,
    /// The bytes must ingest as this media type.
    pub media: Option<MediaType>,
}

/// Whether a put stored new bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The blob was new.
    Created,
    /// The blob was already stored; nothing changed.
    Existed,
}

/// The blob store of a node.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    staging: PathBuf,
    max_bytes: u64,
    backend: &'static str,
    /// Media checks running at once (each reads a whole blob into memory).
    media_checks: Arc<tokio::sync::Semaphore>,
}

impl fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobStore")
            .field("backend", &self.backend)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// Removes what uploads cut short by a crash left in the staging directory: nothing else
/// writes there, and no upload survives a restart.
fn clear_staging(staging: &Path) -> Result<(), BlobError> {
    let entries = std::fs::read_dir(staging).map_err(|e| BlobError::io(staging, e))?;
    let mut removed = 0u64;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            std::fs::remove_file(&path).map_err(|e| BlobError::io(&path, e))?;
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(removed, dir = %staging.display(), "removed uploads left unfinished by a restart");
    }
    Ok(())
}

/// BLAKE3 of `bytes` as a chain hash.
#[must_use]
pub fn blake3_hash(bytes: &[u8]) -> Hash {
    alx_types::hash::from_bytes(*blake3::hash(bytes).as_bytes())
}

fn key(hash: &Hash) -> ObjectPath {
    ObjectPath::from(format!("blobs/{}", alx_types::hash::to_hex(hash)))
}

impl BlobStore {
    /// Opens the store `config` names. Relative local directories are under `base`; uploads are
    /// staged in `staging` (created if missing). Blobs over `max_bytes` are refused.
    pub fn open(
        config: &BlobConfig,
        base: &Path,
        staging: &Path,
        max_bytes: u64,
    ) -> Result<Self, BlobError> {
        std::fs::create_dir_all(staging).map_err(|e| BlobError::io(staging, e))?;
        clear_staging(staging)?;
        let (inner, backend): (Arc<dyn ObjectStore>, _) = match config {
            BlobConfig::Local { dir } => {
                let dir = base.join(dir);
                std::fs::create_dir_all(&dir).map_err(|e| BlobError::io(&dir, e))?;
                (Arc::new(LocalFileSystem::new_with_prefix(&dir)?), "local")
            }
            BlobConfig::S3(s3) => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_allow_http(s3.allow_http);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(id) = &s3.access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret);
                }
                (Arc::new(builder.build()?), "s3")
            }
        };
        Ok(Self {
            inner,
            staging: staging.to_owned(),
            max_bytes,
            backend,
            media_checks: Arc::new(tokio::sync::Semaphore::new(MEDIA_CHECKS_MAX)),
        })
    }

    /// `"local"` or `"s3"`.
    #[must_use]
    pub const fn backend(&self) -> &'static str {
        self.backend
    }

    /// The largest blob accepted.
    #[must_use]
    pub const fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Stores the bytes of `body`. With `expected`, the bytes must hash to it; with `media`,
    /// they must ingest as that media type. Nothing is stored unless every check passes.
    pub async fn put_stream<S, E>(
        &self,
        expected: Option<Hash>,
        media: Option<MediaType>,
        body: S,
    ) -> Result<(BlobInfo, PutOutcome), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: fmt::Display,
    {
        self.put_checked(PutRules { hash: expected, size: None, media }, body).await
    }

    /// Stores the bytes of `body` if they pass every one of `rules` (an exact size is also a
    /// limit: the upload stops as soon as it passes it). Nothing is stored otherwise.
    pub async fn put_checked<S, E>(
        &self,
        rules: PutRules,
        body: S,
    ) -> Result<(BlobInfo, PutOutcome), BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: fmt::Display,
    {
        let PutRules { hash: expected, size: declared, media } = rules;
        let limit = declared.map_or(self.max_bytes, |d| d.min(self.max_bytes));
        let staged = tempfile::NamedTempFile::new_in(&self.staging)
            .map_err(|e| BlobError::io(&self.staging, e))?;
        let mut file = tokio::fs::File::from_std(
            staged.reopen().map_err(|e| BlobError::io(staged.path(), e))?,
        );
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            size = size.saturating_add(chunk.len() as u64);
            if size > limit {
                return Err(match declared {
                    Some(declared) if declared <= self.max_bytes => {
                        BlobError::SizeMismatch { declared, actual: size }
                    }
                    _ => BlobError::TooLarge { max: self.max_bytes },
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(|e| BlobError::io(staged.path(), e))?;
        }
        file.flush().await.map_err(|e| BlobError::io(staged.path(), e))?;
        if size == 0 {
            return Err(BlobError::Empty);
        }
        if let Some(declared) = declared
            && declared != size
        {
            return Err(BlobError::SizeMismatch { declared, actual: size });
        }
        let hash = alx_types::hash::from_bytes(*hasher.finalize().as_bytes());
        if let Some(expected) = expected
            && expected != hash
        {
            return Err(BlobError::HashMismatch { expected, actual: hash });
        }
        let info = BlobInfo { hash, size };
        if let Some(media) = media {
            // Reading a blob whole to check its text costs up to its size in memory: a few at a
            // time, whatever the number of uploads in flight.
            let _permit =
                self.media_checks.acquire().await.map_err(|_| BlobError::Body("closing".into()))?;
            let bytes = tokio::fs::read(staged.path())
                .await
                .map_err(|e| BlobError::io(staged.path(), e))?;
            ingest::documents(media, &bytes)?;
        }
        if let Some(stored) = self.modified(&hash).await? {
            // Stored long ago and offered again: written anew, so the collector's grace
            // period counts from this upload (its offer is likely to follow).
            if stored.elapsed().unwrap_or_default() > REFRESH_AFTER {
                self.copy_in(staged.path(), size, &hash).await?;
            }
            return Ok((info, PutOutcome::Existed));
        }
        self.copy_in(staged.path(), size, &hash).await?;
        Ok((info, PutOutcome::Created))
    }

    /// Stores `bytes` (see [`Self::put_stream`]).
    pub async fn put_bytes(
        &self,
        bytes: Bytes,
        media: Option<MediaType>,
    ) -> Result<(BlobInfo, PutOutcome), BlobError> {
        self.put_stream(None, media, futures::stream::iter([Ok::<_, BlobError>(bytes)])).await
    }

    async fn copy_in(&self, staged: &Path, size: u64, hash: &Hash) -> Result<(), BlobError> {
        let mut file = tokio::fs::File::open(staged).await.map_err(|e| BlobError::io(staged, e))?;
        if size <= PART_BYTES as u64 {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut bytes).await.map_err(|e| BlobError::io(staged, e))?;
            self.inner.put(&key(hash), PutPayload::from(bytes)).await?;
            return Ok(());
        }
        let upload = self.inner.put_multipart(&key(hash)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; PART_BYTES];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(BlobError::io(staged, e));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(2).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    /// Deletes blobs older than `grace` that nothing needs, and returns how many and how many
    /// bytes. `needed` is asked after the listing, so a blob referenced while the store was
    /// being listed is kept. A key that is not a hash (something else in the bucket) is left
    /// alone.
    pub async fn collect(
        &self,
        grace: std::time::Duration,
        needed: impl FnOnce() -> std::collections::BTreeSet<Hash>,
    ) -> Result<(u64, u64), BlobError> {
        let cutoff = std::time::SystemTime::now()
            .checked_sub(grace)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let prefix = ObjectPath::from("blobs");
        let mut listing = self.inner.list(Some(&prefix));
        let mut old = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            let Some(hash) = meta.location.filename().and_then(alx_types::hash::parse_hex) else {
                continue;
            };
            let modified = u64::try_from(meta.last_modified.timestamp()).unwrap_or(0);
            if modified <= cutoff {
                old.push((hash, meta.location, meta.size));
            }
        }
        let needed = needed();
        let (mut count, mut bytes) = (0, 0);
        for (hash, location, size) in old {
            if needed.contains(&hash) {
                continue;
            }
            match self.inner.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    count += 1;
                    bytes += size;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok((count, bytes))
    }

    /// When a stored blob was last written, or `None` if it is not stored.
    async fn modified(&self, hash: &Hash) -> Result<Option<std::time::SystemTime>, BlobError> {
        match self.inner.head(&key(hash)).await {
            Ok(meta) => {
                let secs = u64::try_from(meta.last_modified.timestamp()).unwrap_or(0);
                Ok(Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The size of a stored blob, or `None`.
    pub async fn head(&self, hash: &Hash) -> Result<Option<u64>, BlobError> {
        match self.inner.head(&key(hash)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The bytes of a blob as a stream, with its size, or `None`. The stream is not verified
    /// (the reader checks the hash; [`Self::get_verified`] does it here).
    pub async fn get_stream(
        &self,
        hash: &Hash,
    ) -> Result<Option<(u64, BoxStream<'static, Result<Bytes, BlobError>>)>, BlobError> {
        match self.inner.get(&key(hash)).await {
            Ok(result) => {
                let size = result.meta.size;
                Ok(Some((size, result.into_stream().map_err(BlobError::from).boxed())))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The whole blob, checked against its hash (a store is not trusted), or `None`.
    pub async fn get_verified(&self, hash: &Hash) -> Result<Option<Bytes>, BlobError> {
        let bytes = match self.inner.get(&key(hash)).await {
            Ok(result) => {
                if result.meta.size > self.max_bytes {
                    return Err(BlobError::Corrupt { hash: *hash });
                }
                result.bytes().await?
            }
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if blake3_hash(&bytes) != *hash {
            return Err(BlobError::Corrupt { hash: *hash });
        }
        Ok(Some(bytes))
    }
}
