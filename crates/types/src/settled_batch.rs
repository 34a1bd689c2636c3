//! A settled batch as its provider publishes it, and the check anyone can run of it against
//! the settlement on chain: the leaves rebuild the settlement's receipt root, and every leaf
//! settles no more than its signed receipt says.

use crate::{
    Address, Amount, Hash,
    hash::ZERO,
    settled::{SettledReceipt, root},
    usage::Settlement,
    usage_api::UsageReceipt,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A batch of receipts and what a settlement settled for each
/// (`GET /api/settlements/{provider}/{first_receipt}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettledBatch {
    /// The serving node.
    pub provider: Address,
    /// The batch's first receipt number.
    pub first_receipt: u64,
    /// The settlement transaction last submitted for the batch.
    #[serde(with = "crate::hash::serde_hex")]
    pub tx_hash: Hash,
    /// What the settlement settles per receipt, in receipt order.
    pub leaves: Vec<SettledReceipt>,
    /// The signed receipts the leaves name, in order (a receipt the provider lost is absent,
    /// and its leaf settles nothing).
    pub receipts: Vec<UsageReceipt>,
}

/// What a batch check found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCheck {
    /// Receipts in the batch.
    pub receipts: u64,
    /// Receipts charged as signed.
    pub charged: u64,
    /// Receipts settled without a charge.
    pub written_off: u64,
    /// Credits of the signed receipts the settlement left out (their share went to the
    /// datanets' owners).
    pub credits_dropped: u64,
    /// The fees charged.
    pub fee: Amount,
}

/// Why a batch does not match its settlement. The codes are stable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The batch is not the settlement's range.
    #[error(
        "the batch covers receipts {first}.. ({leaves} leaves), the settlement {settled_first}.. ({settled})"
    )]
    Range {
        /// The batch's first receipt.
        first: u64,
        /// Its leaves.
        leaves: usize,
        /// The settlement's first receipt.
        settled_first: u64,
        /// The settlement's receipt count.
        settled: u32,
    },
    /// The leaves do not rebuild the settlement's receipt root.
    #[error("the leaves do not rebuild the settlement's receipt root: {0}")]
    Root(String),
    /// A leaf names a receipt the batch does not hold.
    #[error("receipt {0} is settled but not published")]
    Missing(u64),
    /// A published receipt's id or signature does not verify, or another provider signed it.
    #[error("receipt {0} is not signed by the provider")]
    Unsigned(u64),
    /// A leaf settles more than (or other than) its receipt says.
    #[error("receipt {number}: the settlement {what}")]
    Disagrees {
        /// The receipt number.
        number: u64,
        /// What differs.
        what: &'static str,
    },
}

impl BatchError {
    /// A stable snake_case code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Range { .. } => "batch_range_mismatch",
            Self::Root(_) => "batch_root_mismatch",
            Self::Missing(_) => "receipt_not_published",
            Self::Unsigned(_) => "receipt_not_signed",
            Self::Disagrees { .. } => "leaf_disagrees_with_receipt",
        }
    }
}

impl SettledBatch {
    /// Checks the batch against `settlement` (as the chain holds it, sent by `self.provider`).
    pub fn check(&self, settlement: &Settlement) -> Result<BatchCheck, BatchError> {
        if self.first_receipt != settlement.first_receipt
            || self.leaves.len() != settlement.receipts as usize
        {
            return Err(BatchError::Range {
                first: self.first_receipt,
                leaves: self.leaves.len(),
                settled_first: settlement.first_receipt,
                settled: settlement.receipts,
            });
        }
        let rebuilt = root(&self.leaves).map_err(|e| BatchError::Root(e.to_string()))?;
        if rebuilt.digest != settlement.receipts_root {
            return Err(BatchError::Root(format!(
                "they give {}, the settlement names {}",
                crate::hash::to_hex(&rebuilt.digest),
                crate::hash::to_hex(&settlement.receipts_root)
            )));
        }
        let receipts: BTreeMap<u64, &UsageReceipt> =
            self.receipts.iter().map(|r| (r.body.number, r)).collect();
        let mut report = BatchCheck { receipts: self.leaves.len() as u64, ..BatchCheck::default() };
        for (i, leaf) in self.leaves.iter().enumerate() {
            let number = self.first_receipt.saturating_add(i as u64);
            let disagrees = |what| BatchError::Disagrees { number, what };
            if leaf.number != number {
                return Err(disagrees("numbers its leaves out of order"));
            }
            let charged =
                !leaf.fee.is_zero() || leaf.prompt_tokens > 0 || leaf.completion_tokens > 0;
            if leaf.id == ZERO {
                // A receipt the provider lost: settled only if it charges nothing.
                if charged {
                    return Err(BatchError::Missing(number));
                }
                report.written_off += 1;
                continue;
            }
            let r = receipts.get(&number).ok_or(BatchError::Missing(number))?;
            if r.id != leaf.id || !r.verify() || r.body.provider != self.provider {
                return Err(BatchError::Unsigned(number));
            }
            let dropped = leaf_agrees(leaf, r).map_err(disagrees)?;
            report.credits_dropped += dropped;
            if !charged {
                report.written_off += 1;
                continue;
            }
            report.charged += 1;
            report.fee = Amount(report.fee.0.saturating_add(leaf.fee.0));
        }
        Ok(report)
    }
}

/// Whether `leaf` settles what its signed receipt `r` records (the same key and model; unless
/// written off, the receipt's tokens, at most its fee, and a subset of its credits at their
/// amounts). Returns how many of the receipt's credits the leaf leaves out (refused by the
/// chain, or all of them for a leaf written off), or what disagrees.
///
/// # Errors
/// What the leaf settles that the receipt does not record.
pub fn leaf_agrees(leaf: &SettledReceipt, r: &UsageReceipt) -> Result<u64, &'static str> {
    if r.body.key_hash != leaf.key_hash || r.body.model != leaf.model {
        return Err("names another key or model than the receipt");
    }
    let charged = !leaf.fee.is_zero() || leaf.prompt_tokens > 0 || leaf.completion_tokens > 0;
    if !charged {
        return if leaf.credits.is_empty() {
            Ok(r.body.credits.len() as u64)
        } else {
            Err("credits a receipt it does not charge")
        };
    }
    // A leaf may charge less than its receipt (the provider caps a fee at the model's price
    // when settling), never more, and settles the receipt's tokens.
    if leaf.fee > r.body.fee
        || leaf.prompt_tokens != r.body.prompt_tokens
        || leaf.completion_tokens != r.body.completion_tokens
    {
        return Err("charges more than the receipt, or other tokens");
    }
    let mut signed: BTreeMap<_, u128> = BTreeMap::new();
    for c in &r.body.credits {
        let e = signed.entry((c.model, c.datanet, c.contribution)).or_default();
        *e = e.saturating_add(c.amount.0);
    }
    for c in &leaf.credits {
        if signed.remove(&(c.model, c.datanet, c.contribution)) != Some(c.amount.0) {
            return Err("credits a contribution other than the receipt does");
        }
    }
    Ok(signed.len() as u64)
}
