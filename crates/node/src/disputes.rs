//! The validator as juror: after each finalized block, every open dispute this validator has
//! not voted on is judged, a receipt by the gateway's rule (`alx_gateway::Gateway::judge`: the
//! request re-run, the attribution recomputed, a greedy answer replayed), a near-duplicate
//! flag by the original's coverage of the contribution (`DatanetIndexes::flag_coverage`), and
//! the verdicts are sent in one `Verdicts` transaction. A dispute it cannot decide (weights or
//! datanet versions it does not hold) gets no vote. Guilt needs the quorum of the whole active
//! set, so a model whose weights most validators lack cannot be convicted of a generation
//! (see `alx_types::dispute` and docs/design/disputes.md).

use alx_gateway::{Gateway, Judgement};
use alx_indexer::DatanetIndexes;
use alx_ledger::ChainView;
use alx_state::Subject;
use alx_types::{
    Address, Height,
    datanet::{ContributionId, DatanetId},
    dispute::{FLAG_COVERAGE_MIN_BPS, VERDICTS_PER_TX_MAX, Verdict},
    tx::Payload,
    usage::UsageOp,
};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use std::{collections::BTreeMap, sync::Arc};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::{info, warn};

/// A vote sent is not sent again for this many blocks (it waits in the mempool meanwhile).
const RESEND_AFTER_BLOCKS: u64 = 20;
/// A dispute this node could not decide is looked at again after this many blocks (its data
/// may have arrived).
const RETRY_ABSTAINED_BLOCKS: u64 = 30;
/// Disputes judged per block at most: each may replay a whole answer.
const JUDGED_PER_BLOCK_MAX: usize = 8;

/// Runs until the ledger stops publishing blocks.
pub(crate) async fn run(
    ledger: Arc<dyn ChainView>,
    gateway: Arc<Gateway>,
    indexes: Arc<DatanetIndexes>,
    key: PrivateKey,
) {
    let me = Address::from_public_key(&key.public_key());
    let mut blocks = ledger.subscribe();
    // Dispute id → the height to look at it again from (voted or abstained).
    let mut later: BTreeMap<u64, Height> = BTreeMap::new();
    loop {
        round(&ledger, (&gateway, &indexes), &key, &me, &mut later).await;
        match blocks.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        while !matches!(blocks.try_recv(), Err(TryRecvError::Empty | TryRecvError::Closed)) {}
    }
}

async fn round(
    ledger: &Arc<dyn ChainView>,
    (gateway, indexes): (&Arc<Gateway>, &Arc<DatanetIndexes>),
    key: &PrivateKey,
    me: &Address,
    later: &mut BTreeMap<u64, Height>,
) {
    let committed = ledger.committed();
    let state = &committed.state;
    let height = committed.block.height();
    if !state.active_set().is_ok_and(|set| set.contains(me)) {
        return;
    }
    let open = match state.open_disputes() {
        Ok(open) => open,
        Err(e) => {
            warn!(err = %e, "cannot read the open disputes");
            return;
        }
    };
    later.retain(|id, _| open.iter().any(|(o, _)| o == id));
    let mut verdicts = Vec::new();
    for (id, record) in open {
        if verdicts.len() >= VERDICTS_PER_TX_MAX.min(JUDGED_PER_BLOCK_MAX) {
            break;
        }
        if record.guilty.contains(me)
            || record.innocent.contains(me)
            || later.get(&id).is_some_and(|at| height < *at)
        {
            continue;
        }
        let judged = match &record.subject {
            Subject::Receipt { dispute, root, receipts } => {
                let (juror, dispute, opened) =
                    (gateway.clone(), dispute.clone(), (*root, *receipts));
                tokio::task::spawn_blocking(move || juror.judge(&dispute, opened)).await
            }
            Subject::Flag { datanet, contribution } => {
                Ok(judge_flag(ledger, indexes, *datanet, *contribution).await)
            }
        };
        let guilty = match judged {
            Ok(Judgement::Guilty(detail)) => {
                info!(dispute = id, %detail, "dispute: the provider is guilty");
                true
            }
            Ok(Judgement::Innocent) => {
                info!(dispute = id, "dispute: the receipt holds up");
                false
            }
            Ok(Judgement::Abstain(reason)) => {
                info!(dispute = id, %reason, "dispute: cannot decide here");
                later.insert(id, height.saturating_add(RETRY_ABSTAINED_BLOCKS));
                continue;
            }
            Err(e) => {
                warn!(err = %e, "juror task failed");
                continue;
            }
        };
        verdicts.push(Verdict { dispute: id, guilty });
    }
    if verdicts.is_empty() {
        return;
    }
    let ids: Vec<u64> = verdicts.iter().map(|v| v.dispute).collect();
    match ledger.submit_own(key, Payload::Usage(UsageOp::Verdicts(verdicts))) {
        Ok(tx) => {
            info!(votes = ids.len(), tx = %alx_types::hash::to_hex(&tx), "dispute verdicts sent");
            for id in ids {
                later.insert(id, height.saturating_add(RESEND_AFTER_BLOCKS));
            }
        }
        Err(e) => warn!(err = %e, "dispute verdicts not admitted; trying again next block"),
    }
}

/// Whether the flag on `contribution` holds: the original it names covers at least
/// `FLAG_COVERAGE_MIN_BPS` of its bytes (guilty: the flag does not hold).
async fn judge_flag(
    ledger: &Arc<dyn ChainView>,
    indexes: &Arc<DatanetIndexes>,
    datanet: DatanetId,
    contribution: ContributionId,
) -> Judgement {
    let committed = ledger.committed();
    let Ok(Some(c)) = committed.state.contribution(datanet, contribution) else {
        return Judgement::Abstain("the contribution is gone".into());
    };
    let hash = c.content.hash;
    let bytes = match indexes.peers().fetch_into(indexes.blobs(), &hash).await {
        Ok(true) => indexes.blobs().get_verified(&hash).await,
        Ok(false) => Ok(None),
        Err(e) => Err(e),
    };
    let bytes = match bytes {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Judgement::Abstain("its data is not held here".into()),
        Err(e) => return Judgement::Abstain(format!("its data: {e}")),
    };
    let (judge, state) = (indexes.clone(), committed.state.clone());
    let measured =
        tokio::task::spawn_blocking(move || judge.flag_coverage(&state, datanet, &c, &bytes)).await;
    match measured {
        Ok(Ok(Some(bps))) if bps < FLAG_COVERAGE_MIN_BPS => Judgement::Guilty(format!(
            "the original covers {bps} bps of it, below {FLAG_COVERAGE_MIN_BPS}"
        )),
        Ok(Ok(Some(_))) => Judgement::Innocent,
        Ok(Ok(None)) => {
            Judgement::Abstain("the versions to measure it against are not here".into())
        }
        Ok(Err(e)) => Judgement::Abstain(format!("cannot measure it: {e}")),
        Err(e) => Judgement::Abstain(format!("the measuring task failed: {e}")),
    }
}
