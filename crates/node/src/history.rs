//! Keeps the history index (`alx-history`) level with the committed chain: it catches up at
//! start, then after each batch of finalized blocks, off the async threads. The index is never
//! read by consensus; a failure is logged and retried after the next block.
//!
//! Blocks announced by the ledger are indexed from the announcement itself; only blocks the
//! task missed (at start, or when it fell behind the announcements) are read back from the
//! store. A run of blocks is indexed in one write, so a busy chain costs the index one write
//! per catch-up rather than one per block.

use alx_history::History;
use alx_ledger::{ChainView, Finalized};
use alx_types::{Block, Height, Receipt};
use std::{collections::VecDeque, sync::Arc};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::error;

/// Blocks indexed in one write transaction at most (bounds the memory of a catch-up).
const BLOCKS_PER_WRITE: usize = 64;

/// Runs until the ledger stops publishing blocks.
pub(crate) async fn run(ledger: Arc<dyn ChainView>, history: Arc<History>) {
    let mut blocks = ledger.subscribe();
    let mut announced: VecDeque<Finalized> = VecDeque::new();
    loop {
        let (ledger, history) = (ledger.clone(), history.clone());
        let batch = std::mem::take(&mut announced);
        match tokio::task::spawn_blocking(move || catch_up(&*ledger, &history, batch)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(err = %e, "history indexing failed; retrying after the next block")
            }
            Err(e) => error!(err = %e, "history indexing task failed"),
        }
        match blocks.recv().await {
            Ok(block) => announced.push_back(block),
            // Missed announcements are read back from the store.
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        loop {
            match blocks.try_recv() {
                Ok(block) if announced.len() < BLOCKS_PER_WRITE => announced.push_back(block),
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
    }
}

/// Indexes every committed block the index does not hold yet, in order, taking each from
/// `announced` when it is there and from the store otherwise.
fn catch_up(
    ledger: &dyn ChainView,
    history: &History,
    mut announced: VecDeque<Finalized>,
) -> anyhow::Result<()> {
    let tip = ledger.committed().block.height();
    let mut next = history.next_height()?;
    while next <= tip {
        let mut run: Vec<(Arc<Block>, Arc<Vec<Receipt>>)> = Vec::new();
        while next <= tip && run.len() < BLOCKS_PER_WRITE {
            while announced.front().is_some_and(|f| f.block.height() < next) {
                announced.pop_front();
            }
            let entry = match announced.front() {
                Some(f) if f.block.height() == next => (f.block.clone(), f.receipts.clone()),
                _ => stored(ledger, next)?,
            };
            run.push(entry);
            next = next.next();
        }
        history.index_blocks(run.iter().map(|(b, r)| (&**b, r.as_slice())))?;
    }
    Ok(())
}

fn stored(
    ledger: &dyn ChainView,
    height: Height,
) -> anyhow::Result<(Arc<Block>, Arc<Vec<Receipt>>)> {
    let block = ledger
        .block(height)?
        .ok_or_else(|| anyhow::anyhow!("committed block {height} is not stored"))?;
    Ok((Arc::new(block), Arc::new(ledger.receipts(height)?)))
}
