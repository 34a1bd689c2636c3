//! Keeps the history index (`alx-history`) level with the committed chain: it catches up at
//! start, then after each batch of finalized blocks, off the async threads. The index is never
//! read by consensus; a failure is logged and retried after the next block.

use alx_history::History;
use alx_ledger::ChainView;
use std::sync::Arc;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::error;

/// Runs until the ledger stops publishing blocks.
pub(crate) async fn run(ledger: Arc<dyn ChainView>, history: Arc<History>) {
    let mut blocks = ledger.subscribe();
    loop {
        let (ledger, history) = (ledger.clone(), history.clone());
        match tokio::task::spawn_blocking(move || catch_up(&*ledger, &history)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(err = %e, "history indexing failed; retrying after the next block")
            }
            Err(e) => error!(err = %e, "history indexing task failed"),
        }
        match blocks.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        // Blocks that arrived meanwhile are covered by the next catch-up.
        while !matches!(blocks.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)) {}
    }
}

/// Indexes every committed block the index does not hold yet, in order.
fn catch_up(ledger: &dyn ChainView, history: &History) -> anyhow::Result<()> {
    let tip = ledger.committed().block.height();
    let mut next = history.next_height()?;
    while next <= tip {
        let block = ledger
            .block(next)?
            .ok_or_else(|| anyhow::anyhow!("committed block {next} is not stored"))?;
        history.index_block(&block, &ledger.receipts(next)?)?;
        next = next.next();
    }
    Ok(())
}
