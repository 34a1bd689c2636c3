//! JSON of staking and explained rewards under `/api`.

use crate::{Address, Amount, Height, staking::RewardSource};
use serde::{Deserialize, Serialize};

/// One source of an account's earnings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardLineJson {
    /// Where it came from (`source` names the kind; a datanet, model, subnet or validator
    /// field names what).
    #[serde(flatten)]
    pub source: RewardSource,
    /// Earned from it in all.
    pub earned: Amount,
    /// Of that, claimable now (zero for sources paid straight to the balance).
    pub claimable: Amount,
}

/// One delegation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationJson {
    /// The validator.
    pub validator: Address,
    /// The stake bonded to it.
    pub stake: Amount,
    /// Earned since it last settled (paid at the next claim, bond, unbond or redelegation).
    pub accrued: Amount,
}

/// What one source paid in one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardEpochJson {
    /// The chain epoch.
    pub epoch: u64,
    /// The source.
    #[serde(flatten)]
    pub source: RewardSource,
    /// Paid in that epoch (staking counts when settled).
    pub amount: Amount,
}

/// A pending change of commission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCommissionJson {
    /// The new commission, in basis points.
    pub bps: u16,
    /// The epoch it applies from.
    pub from_epoch: u64,
}

/// `GET /api/validators/{address}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorJson {
    /// The validator.
    pub address: Address,
    /// Stake bonded to it, its own included.
    pub stake: Amount,
    /// Its own stake.
    pub self_stake: Amount,
    /// In the current epoch's active set.
    pub active: bool,
    /// Height it registered at.
    pub registered_at: Height,
    /// The commission in force this epoch, in basis points of its staking reward.
    pub commission_bps: u16,
    /// A change announced and not in force yet.
    pub pending_commission: Option<PendingCommissionJson>,
    /// Commission earned and not paid yet.
    pub commission_unpaid: Amount,
    /// The epoch the answer is about.
    pub epoch: u64,
}
