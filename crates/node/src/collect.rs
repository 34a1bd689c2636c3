//! Sweeps the blob store: blobs no live contribution references (never offered, or refused,
//! rejected, withdrawn, unavailable) and no model's adapter needs (its manifest, and the
//! adapter file the manifest names) are deleted once older than the grace period, so uploads
//! nobody pays for cannot fill the disk for long.

use alx_blobs::BlobStore;
use alx_ledger::ChainView;
use alx_types::Hash;
use std::{collections::BTreeSet, sync::Arc, time::Duration};
use tracing::{info, warn};

/// Sweeps every `interval`, deleting unreferenced blobs older than `grace`.
pub(crate) async fn run(
    ledger: Arc<dyn ChainView>,
    blobs: BlobStore,
    grace: Duration,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await; // The first tick is immediate: the first sweep waits one interval.
    loop {
        ticks.tick().await;
        let adapters = adapter_blobs(&ledger, &blobs).await;
        // The state is read after the listing: a contribution committed meanwhile keeps its
        // blob (an adapter registered meanwhile was uploaded within the grace period).
        let needed = || {
            let mut needed = ledger.committed().state.live_blobs();
            needed.extend(adapters);
            needed
        };
        match blobs.collect(grace, needed).await {
            Ok((0, _)) => {}
            Ok((count, bytes)) => info!(count, bytes, "deleted blobs nothing references"),
            Err(e) => warn!(err = %e, "cannot sweep the blob store"),
        }
    }
}

/// The manifests models register as adapters, and the adapter files they name (a manifest
/// that is missing or unreadable keeps only itself).
async fn adapter_blobs(ledger: &Arc<dyn ChainView>, blobs: &BlobStore) -> BTreeSet<Hash> {
    let manifests = ledger.committed().state.registered_adapters();
    let mut keep = manifests.clone();
    for manifest in &manifests {
        let small = matches!(blobs.head(manifest).await, Ok(Some(size)) if size <= alx_gateway::MANIFEST_BYTES_MAX as u64);
        if !small {
            continue;
        }
        if let Ok(Some(bytes)) = blobs.get_verified(manifest).await
            && let Ok(m) = serde_json::from_slice::<alx_types::model::AdapterManifest>(&bytes)
        {
            keep.insert(m.adapter);
        }
    }
    keep
}
