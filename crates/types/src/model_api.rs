//! JSON of models, rewards and API keys under `/api`.

use crate::{
    Address, Amount, Height,
    model::{ModelId, ModelSpec},
};
use serde::{Deserialize, Serialize};

/// A registered model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelJson {
    /// Its id.
    pub id: ModelId,
    /// Its owner.
    pub owner: Address,
    /// Name, weights, datanets, prices, split.
    #[serde(flatten)]
    pub spec: ModelSpec,
    /// Height of registration.
    pub registered_at: Height,
    /// No longer settled against.
    pub retired: bool,
}

/// An account's rewards and prepaid deposit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardsJson {
    /// The account.
    pub address: Address,
    /// Earned and not yet claimed.
    pub claimable: Amount,
    /// Earned in total.
    pub earned: Amount,
    /// Prepaid deposit for model use.
    pub prepaid: Amount,
    /// Staking rewards earned and not settled yet (every delegation's share and, for a
    /// validator, its commission): claimable too, and settled by the next claim.
    #[serde(default)]
    pub staking_accrued: Amount,
    /// What was earned, source by source (settled amounts; `staking_accrued` aside).
    #[serde(default)]
    pub sources: Vec<crate::staking_api::RewardLineJson>,
    /// The account's delegations and what each has accrued.
    #[serde(default)]
    pub delegations: Vec<crate::staking_api::DelegationJson>,
    /// A validator's commission earned and not paid yet (in `staking_accrued`).
    #[serde(default)]
    pub commission_unpaid: Amount,
    /// Earnings per epoch and source, oldest first (the chain keeps the last 64 epochs).
    #[serde(default)]
    pub epochs: Vec<crate::staking_api::RewardEpochJson>,
}

/// An API key's on-chain record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyJson {
    /// SHA-256 of the secret, hex.
    #[serde(with = "crate::hash::serde_hex")]
    pub key_hash: crate::Hash,
    /// Who pays.
    pub payer: Address,
    /// The only node that may charge it.
    pub provider: Address,
    /// What is left for the provider to charge.
    pub allowance: Amount,
    /// Charged so far.
    pub spent: Amount,
    /// Closed: no more charges; its allowance went back to the deposit.
    pub revoked: bool,
    /// The height at which a payer's revocation closes it (absent: not being revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<Height>,
}

/// `GET /api/providers/{address}`: a serving provider's bond and what it settled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderJson {
    /// The provider.
    pub address: Address,
    /// Its bond: it caps the fees at risk (settled, still challengeable) and is slashed on a
    /// proven challenge.
    pub bond: Amount,
    /// Fees of settlements still in their challenge window (at most `bond`).
    pub at_risk: Amount,
    /// The bond cannot be withdrawn before this height (its last settlement's challenge
    /// window).
    pub locked_until: Height,
    /// Receipts settled so far (its next receipt number).
    pub next_receipt: u64,
}

/// A model's price as a settlement's challenge is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedPrice {
    /// The model.
    pub model: crate::model::ModelId,
    /// Its highest input price in the window before the settlement (per 1,000 tokens).
    pub input_per_1k: Amount,
    /// Its highest output price in that window (per 1,000 tokens).
    pub output_per_1k: Amount,
}

/// `GET /api/providers/{address}/settlements/{first}`: what the chain keeps of a settlement
/// while it can be challenged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRecordJson {
    /// The provider.
    pub provider: Address,
    /// Its first receipt.
    pub first_receipt: u64,
    /// Receipts settled.
    pub receipts: u32,
    /// The receipt root.
    #[serde(with = "crate::hash::serde_hex")]
    pub receipts_root: crate::Hash,
    /// Per model charged, the prices a challenge is judged by.
    pub prices: Vec<RecordedPrice>,
}

/// `GET /api/emission`: the schedule's state and where minted tokens wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmissionJson {
    /// The genesis emission parameters (schedule, split, subnet split), if the chain mints.
    pub params: Option<serde_json::Value>,
    /// The preset those parameters are (`alexandria`, `morpheus`, `bittensor`), if they are one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Minted by emission so far.
    pub minted: Amount,
    /// The total supply.
    pub supply: Amount,
    /// What the next block mints.
    pub next_block: Amount,
    /// Subnet-class emission no subnet has taken yet (dust, and the backlog of blocks without
    /// subnets, released at most at the class's rate per block).
    pub pool_subnets: Amount,
    /// Credited to subnets and waiting for their epochs (creation locks and registration
    /// burns included).
    #[serde(default)]
    pub subnets_pending: Amount,
    /// This epoch's data contributors' pool.
    pub pool_data: Amount,
    /// This epoch's compute providers' pool.
    pub pool_compute: Amount,
    /// The protection fund.
    pub protection_fund: Amount,
    /// The community treasury (also receives the protocol's fee share).
    pub treasury: Amount,
    /// The schedule sampled at 64 evenly spaced heights up to where it has minted 99.9% of
    /// its total (empty when the chain mints nothing).
    #[serde(default)]
    pub curve: Vec<CurvePointJson>,
}

/// One sampled height of the emission schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurvePointJson {
    /// The height.
    pub height: crate::Height,
    /// What the block at that height mints.
    pub per_block: Amount,
    /// The total minted through that height.
    pub minted: Amount,
}

/// `GET /api/models/{id}/usage`: what settlements charged for a model, newest first, from the
/// node's history index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUsageResponse {
    /// The model.
    pub model: crate::model::ModelId,
    /// The last height the history index covers.
    pub indexed_height: crate::Height,
    /// The settlements, newest first.
    pub settlements: Vec<ModelFeesJson>,
}

/// What one settlement charged for a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFeesJson {
    /// The block of the settlement.
    pub height: crate::Height,
    /// The settlement transaction's index there.
    pub tx_index: u32,
    /// The fees charged for the model, before the split.
    pub fees: Amount,
    /// API keys charged for it.
    pub api_keys: u32,
    /// The provider that settled.
    pub provider: Address,
}
