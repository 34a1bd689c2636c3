//! The validator's data reports: after each finalized block, for every contribution awaiting
//! its data that this validator has not reported on, get the blob (from the local store, else
//! from a peer), judge it (`alx_indexer::DatanetIndexes::data_verdict`), and send the verdicts
//! in one `Attest` transaction. Only members of the active set report; the chain applies a
//! verdict once a quorum of them agrees (see `alx_types::availability`).

use alx_indexer::DatanetIndexes;
use alx_ledger::ChainView;
use alx_types::{
    Address, Height,
    availability::{DataReport, REPORTS_PER_TX_MAX},
    datanet::{ContributionId, DatanetId, DatanetOp},
    tx::Payload,
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::{collections::BTreeMap, sync::Arc};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::{debug, info, warn};

/// A report sent is not sent again for this many blocks (it waits in the mempool meanwhile).
const RESEND_AFTER_BLOCKS: u64 = 20;
/// Longest wait between two fetch attempts of a blob nobody served.
const RETRY_BLOCKS_MAX: u64 = 64;
/// Blob fetches per block at most, and per datanet: a flood of offers nobody can back (a
/// datanet of one's own, free to contribute to) costs this node a bounded amount of work per
/// block and cannot take the turn of other datanets' contributions.
const FETCHES_MAX: usize = 64;
const FETCHES_PER_DATANET_MAX: usize = 8;

/// What the reporter remembers between blocks.
#[derive(Default)]
struct Memory {
    /// Reports sent and not yet seen committed, with the height they were sent at.
    sent: BTreeMap<(DatanetId, ContributionId), Height>,
    /// Blobs not found: (the height to try again at, the current backoff).
    missing: BTreeMap<(DatanetId, ContributionId), (Height, u64)>,
}

/// Runs until the ledger stops publishing blocks.
pub(crate) async fn run(ledger: Arc<dyn ChainView>, indexes: Arc<DatanetIndexes>, key: PrivateKey) {
    let me = Address::from_public_key(&key.public_key());
    let mut blocks = ledger.subscribe();
    let mut memory = Memory::default();
    loop {
        round(&ledger, &indexes, &key, &me, &mut memory).await;
        match blocks.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        while !matches!(blocks.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)) {}
    }
}

async fn round(
    ledger: &Arc<dyn ChainView>,
    indexes: &Arc<DatanetIndexes>,
    key: &PrivateKey,
    me: &Address,
    memory: &mut Memory,
) {
    let committed = ledger.committed();
    let state = &committed.state;
    let height = committed.block.height();
    if !state.active_set().is_ok_and(|set| set.contains(me)) {
        return;
    }
    let awaiting = match state.awaiting_data() {
        Ok(a) => a,
        Err(e) => {
            warn!(err = %e, "cannot read the contributions awaiting their data");
            return;
        }
    };
    memory.sent.retain(|_, at| height < at.saturating_add(RESEND_AFTER_BLOCKS));
    let waiting: std::collections::BTreeSet<_> =
        awaiting.iter().map(|(d, c, _)| (*d, *c)).collect();
    memory.missing.retain(|k, _| waiting.contains(k));
    let mut reports = Vec::new();
    let mut fetches = 0usize;
    let mut per_datanet: BTreeMap<DatanetId, usize> = BTreeMap::new();
    for (datanet, id, c) in awaiting {
        if reports.len() >= REPORTS_PER_TX_MAX || fetches >= FETCHES_MAX {
            break;
        }
        let slot = (datanet, id);
        // Cheap checks first: what waits for a retry, or was reported, costs nothing.
        if memory.sent.contains_key(&slot)
            || memory.missing.get(&slot).is_some_and(|(at, _)| height < *at)
            || per_datanet.get(&datanet).is_some_and(|n| *n >= FETCHES_PER_DATANET_MAX)
            || state.reported_by(datanet, id, me).unwrap_or(true)
        {
            continue;
        }
        fetches += 1;
        *per_datanet.entry(datanet).or_default() += 1;
        let hash = c.content.hash;
        let bytes = match indexes.peers().fetch_into(indexes.blobs(), &hash).await {
            Ok(true) => indexes.blobs().get_verified(&hash).await,
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        };
        let bytes = match bytes {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                let backoff =
                    memory.missing.get(&slot).map_or(1, |(_, b)| (b * 2).min(RETRY_BLOCKS_MAX));
                memory.missing.insert(slot, (height.saturating_add(backoff), backoff));
                debug!(%datanet, contribution = %id, "data not held here nor by a peer yet");
                continue;
            }
            Err(e) => {
                warn!(%datanet, contribution = %id, err = %e, "cannot read a contribution's blob");
                continue;
            }
        };
        memory.missing.remove(&slot);
        let judge = indexes.clone();
        // Coverage of up to 64 MiB of text: CPU work, off the async threads.
        let verdict =
            tokio::task::spawn_blocking(move || judge.data_verdict(datanet, &c, &bytes)).await;
        match verdict {
            Ok(Ok(Some(verdict))) => {
                reports.push(DataReport { datanet, contribution: id, verdict })
            }
            Ok(Ok(None)) => {
                debug!(%datanet, contribution = %id, "its base version is not indexed here yet")
            }
            Ok(Err(e)) => {
                warn!(%datanet, contribution = %id, err = %e, "cannot judge a contribution's data")
            }
            Err(e) => warn!(err = %e, "data verdict task failed"),
        }
    }
    if reports.is_empty() {
        return;
    }
    let slots: Vec<_> = reports.iter().map(|r| (r.datanet, r.contribution)).collect();
    let payload = Payload::Datanet(DatanetOp::Attest { reports });
    match ledger.submit_own(key, payload) {
        Ok(tx) => {
            info!(reports = slots.len(), tx = %alx_types::hash::to_hex(&tx), "data reports sent");
            for slot in slots {
                memory.sent.insert(slot, height);
            }
        }
        Err(e) => warn!(err = %e, "data reports not admitted; trying again next block"),
    }
}
