//! Sweeps the blob store: blobs no live contribution references (never offered, or refused,
//! rejected, withdrawn, unavailable) are deleted once older than the grace period, so uploads
//! nobody pays for cannot fill the disk for long.

use alx_blobs::BlobStore;
use alx_ledger::ChainView;
use std::{sync::Arc, time::Duration};
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
        // The state is read after the listing: a contribution committed meanwhile keeps its
        // blob.
        let needed = || ledger.committed().state.live_blobs();
        match blobs.collect(grace, needed).await {
            Ok((0, _)) => {}
            Ok((count, bytes)) => info!(count, bytes, "deleted blobs nothing references"),
            Err(e) => warn!(err = %e, "cannot sweep the blob store"),
        }
    }
}
