//! The blob store against the local filesystem and against a real S3-compatible server
//! (`s3s-fs`) listening on loopback.

mod s3_server;

use alx_blobs::{BlobConfig, BlobError, BlobStore, PutOutcome, S3Config, blake3_hash};
use alx_types::datanet::MediaType;
use bytes::Bytes;
use std::path::Path;

const MAX: u64 = 32 << 20;

fn chunks(bytes: &[u8], size: usize) -> impl futures::Stream<Item = Result<Bytes, String>> {
    let parts: Vec<_> = bytes.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures::stream::iter(parts)
}

fn staging_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

/// Every behaviour a store must have, whatever the backend.
async fn exercise(store: &BlobStore, staging: &Path) {
    // Round trip, streamed in odd-sized chunks, with the hash announced.
    let text = "module 0x1::coin { public fun mint() {} }\n".repeat(100);
    let hash = blake3_hash(text.as_bytes());
    let (info, outcome) = store
        .put_stream(Some(hash), Some(MediaType::Code), chunks(text.as_bytes(), 97))
        .await
        .unwrap();
    assert_eq!((info.hash, info.size, outcome), (hash, text.len() as u64, PutOutcome::Created));
    assert_eq!(store.head(&hash).await.unwrap(), Some(text.len() as u64));
    assert_eq!(store.get_verified(&hash).await.unwrap().unwrap(), text.as_bytes());

    // Idempotent.
    let (_, outcome) = store.put_bytes(Bytes::from(text.clone()), None).await.unwrap();
    assert_eq!(outcome, PutOutcome::Existed);

    // Refusals leave nothing behind.
    let other = b"a different text".to_vec();
    let err = store.put_stream(Some(hash), None, chunks(&other, 4)).await.unwrap_err();
    assert!(matches!(err, BlobError::HashMismatch { .. }), "{err}");
    assert_eq!(store.head(&blake3_hash(&other)).await.unwrap(), None);

    let binary = b"\x7fELF\x02\x01\x01\0\0\0".to_vec();
    let err =
        store.put_bytes(Bytes::from(binary.clone()), Some(MediaType::Text)).await.unwrap_err();
    assert!(matches!(err, BlobError::Content(_)), "{err}");
    assert_eq!(store.head(&blake3_hash(&binary)).await.unwrap(), None);

    let err = store.put_bytes(Bytes::new(), None).await.unwrap_err();
    assert!(matches!(err, BlobError::Empty), "{err}");

    let big = vec![b'a'; usize::try_from(MAX).unwrap() + 1];
    let err = store.put_stream(None, None, chunks(&big, 1 << 20)).await.unwrap_err();
    assert!(matches!(err, BlobError::TooLarge { .. }), "{err}");
    assert_eq!(store.head(&blake3_hash(&big)).await.unwrap(), None);

    let failing = futures::stream::iter([Ok(Bytes::from_static(b"half")), Err("reset".to_owned())]);
    let err = store.put_stream(None, None, failing).await.unwrap_err();
    assert!(matches!(err, BlobError::Body(_)), "{err}");
    assert_eq!(store.head(&blake3_hash(b"half")).await.unwrap(), None);

    // A blob over one part goes up in several parts and comes back whole.
    let large: Vec<u8> = (0..(9u32 << 20)).map(|i| b'a' + (i % 26) as u8).collect();
    let (info, _) = store.put_stream(None, None, chunks(&large, 1 << 20)).await.unwrap();
    let back = store.get_verified(&info.hash).await.unwrap().unwrap();
    assert!(back == large, "large blob differs after the round trip");
    let (size, stream) = store.get_stream(&info.hash).await.unwrap().unwrap();
    assert_eq!(size, large.len() as u64);
    let streamed: Vec<Bytes> = futures::TryStreamExt::try_collect(stream).await.unwrap();
    assert_eq!(streamed.iter().map(Bytes::len).sum::<usize>(), large.len());

    assert_eq!(store.get_verified(&blake3_hash(b"never stored")).await.unwrap(), None);
    assert!(staging_is_empty(staging), "staging files must not outlive their upload");
}

#[tokio::test]
async fn local_store_round_trips_and_refuses_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    let store = BlobStore::open(&BlobConfig::default(), dir.path(), &staging, MAX).unwrap();
    assert_eq!(store.backend(), "local");
    exercise(&store, &staging).await;

    // A blob altered on disk is detected on read.
    let (info, _) = store.put_bytes(Bytes::from_static(b"original text"), None).await.unwrap();
    let file = dir.path().join("blobs/blobs").join(alx_types::hash::to_hex(&info.hash));
    std::fs::write(&file, b"tampered text").unwrap();
    let err = store.get_verified(&info.hash).await.unwrap_err();
    assert!(matches!(err, BlobError::Corrupt { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_round_trips_and_refuses_cleanly() {
    let server = s3_server::start("alx-blobs").await;
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    let config = BlobConfig::S3(S3Config {
        bucket: "alx-blobs".into(),
        region: "us-east-1".into(),
        endpoint: Some(server.endpoint.clone()),
        access_key_id: Some(s3_server::ACCESS_KEY.into()),
        secret_access_key: Some(s3_server::SECRET_KEY.into()),
        allow_http: true,
    });
    let store = BlobStore::open(&config, dir.path(), &staging, MAX).unwrap();
    assert_eq!(store.backend(), "s3");
    exercise(&store, &staging).await;

    // Wrong credentials are a store error, not a silent success.
    let config = BlobConfig::S3(S3Config {
        bucket: "alx-blobs".into(),
        region: "us-east-1".into(),
        endpoint: Some(server.endpoint.clone()),
        access_key_id: Some("nobody".into()),
        secret_access_key: Some("wrong".into()),
        allow_http: true,
    });
    let intruder = BlobStore::open(&config, dir.path(), &staging, MAX).unwrap();
    let err = intruder.put_bytes(Bytes::from_static(b"x"), None).await.unwrap_err();
    assert!(matches!(err, BlobError::Store(_)), "{err}");
}

/// A `kill -9` mid-upload leaves its staging file; the next start removes it.
#[tokio::test]
async fn uploads_cut_short_by_a_crash_are_cleaned_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join(".tmpAbC123"), vec![b'x'; 4096]).unwrap();
    let store = BlobStore::open(&BlobConfig::default(), dir.path(), &staging, MAX).unwrap();
    assert!(staging_is_empty(&staging), "the crashed upload's file is gone");
    store.put_bytes(Bytes::from_static(b"after the restart"), None).await.unwrap();
}

/// Blobs nobody references are deleted once past the grace period; referenced and recent
/// ones stay.
#[tokio::test]
async fn unreferenced_blobs_are_collected_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        BlobStore::open(&BlobConfig::default(), dir.path(), &dir.path().join("staging"), MAX)
            .unwrap();
    let (kept, _) = store.put_bytes(Bytes::from_static(b"referenced"), None).await.unwrap();
    let (junk, _) = store.put_bytes(Bytes::from_static(b"never offered"), None).await.unwrap();
    let keep = || std::collections::BTreeSet::from([kept.hash]);
    // Within the grace period nothing goes.
    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(store.collect(day, keep).await.unwrap(), (0, 0));
    assert!(store.head(&junk.hash).await.unwrap().is_some());
    // Past it, only what nothing references goes.
    let (count, bytes) = store.collect(std::time::Duration::ZERO, keep).await.unwrap();
    assert_eq!((count, bytes), (1, junk.size));
    assert!(store.head(&junk.hash).await.unwrap().is_none());
    assert!(store.head(&kept.hash).await.unwrap().is_some());
}
