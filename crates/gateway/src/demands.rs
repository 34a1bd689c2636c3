//! Answering demands: when anyone demands that this provider open one of its settled receipts
//! on chain (`alx_types::withheld`), the settler answers from the batch it published, before
//! the deadline slashes its bond. The demand's escrow pays for the answer.

use crate::{Gateway, settle::Settler};
use alx_types::{
    hash::to_hex,
    settled::LeafProof,
    tx::Payload,
    usage::UsageOp,
    withheld::{Answer, Demand},
};

/// An answer sent is not sent again for this many blocks (it waits in the mempool meanwhile).
const RESEND_AFTER_BLOCKS: u64 = 10;

/// The answer to `demand` from this node's published batch (`None` if it holds none).
fn answer(g: &Gateway, demand: &Demand) -> Option<Answer> {
    let batch = g.settled_batch(&g.me, demand.number)?;
    let index = batch.leaves.iter().position(|l| l.number == demand.number)?;
    let leaf = batch.leaves[index].clone();
    let receipt = batch
        .receipts
        .iter()
        .find(|r| r.id == leaf.id)
        .and_then(|r| serde_json::to_string(r).ok())
        .unwrap_or_default();
    Some(Answer {
        provider: g.me,
        first_receipt: batch.first_receipt,
        proof: LeafProof::of(&batch.leaves, index)?,
        leaf,
        receipt,
    })
}

impl Settler {
    /// Answers every open demand on this provider's receipts not answered recently.
    pub(crate) fn answer_demands(&mut self, g: &Gateway) {
        let committed = g.chain.committed();
        let height = committed.block.height();
        let open = match committed.state.open_demands(Some(&g.me)) {
            Ok(open) => open,
            Err(e) => {
                tracing::error!(err = %e, "cannot read the demands on this provider");
                return;
            }
        };
        self.answered
            .retain(|slot, _| open.iter().any(|(d, _)| (d.first_receipt, d.number) == *slot));
        for (demand, _) in open {
            let slot = (demand.first_receipt, demand.number);
            if self
                .answered
                .get(&slot)
                .is_some_and(|at| height.0 < at.0.saturating_add(RESEND_AFTER_BLOCKS))
            {
                continue;
            }
            let Some(answer) = answer(g, &demand) else {
                tracing::error!(
                    first = demand.first_receipt,
                    receipt = demand.number,
                    "a receipt is demanded that this node did not publish: the bond will be slashed"
                );
                continue;
            };
            match g.chain.submit_own(&g.key, Payload::Usage(UsageOp::Answer(Box::new(answer)))) {
                Ok(tx) => {
                    tracing::info!(receipt = demand.number, tx = %to_hex(&tx), "demanded receipt opened on chain");
                    self.answered.insert(slot, height);
                }
                Err(e) => tracing::warn!(err = %e, "answer to a demand not admitted; trying again"),
            }
        }
    }
}
