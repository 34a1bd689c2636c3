//! Keeps the datanet attribution indexes level with the committed chain: one sync at start,
//! then one after each batch of finalized blocks.

use alx_indexer::DatanetIndexes;
use alx_ledger::ChainView;
use std::sync::Arc;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::{debug, error};

/// Runs until the ledger stops publishing blocks.
pub(crate) async fn run(ledger: Arc<dyn ChainView>, indexes: Arc<DatanetIndexes>) {
    let mut blocks = ledger.subscribe();
    loop {
        sync(&ledger, &indexes).await;
        match blocks.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        // Blocks that arrived meanwhile are covered by the next sync.
        while !matches!(blocks.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)) {}
    }
}

async fn sync(ledger: &Arc<dyn ChainView>, indexes: &Arc<DatanetIndexes>) {
    let committed = ledger.committed();
    let indexes = indexes.clone();
    let runtime = tokio::runtime::Handle::current();
    // Index builds are CPU and disk work: off the async threads. Each new version's retrieval
    // index is built here too, so the first request to a model on it does not wait for it.
    let result = tokio::task::spawn_blocking(move || {
        let report = indexes.sync(&committed.state, &runtime)?;
        for &(datanet, version) in &report.versions {
            if let Err(e) = indexes.retrieval(datanet, version) {
                debug!(%datanet, version, err = %e, "retrieval index not built");
            }
        }
        Ok::<_, alx_indexer::SyncError>(report)
    })
    .await;
    match result {
        Ok(Ok(report)) if report.versions.is_empty() && report.missing.is_empty() => {}
        Ok(Ok(report)) => debug!(?report, "datanet indexes synced"),
        Ok(Err(e)) => error!(err = %e, "datanet indexing failed; retrying after the next block"),
        Err(e) => error!(err = %e, "datanet indexing task failed"),
    }
}
