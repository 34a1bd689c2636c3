//! JSON of subnets, their neurons (the metagraph), epochs, weights and commits under `/api`.
//! Proportions are the `u16` values the chain stores (`x / 65535`).

use crate::{
    Address, Amount, Hash, Height,
    model::ModelId,
    subnet::{EpochSchedule, SubnetId, SubnetSpec, Uid},
};
use serde::{Deserialize, Serialize};

/// A subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetJson {
    /// Its id.
    pub id: SubnetId,
    /// Its owner (receives the owner's cut of every epoch).
    pub owner: Address,
    /// Name, task, datanets and hyperparameters.
    #[serde(flatten)]
    pub spec: SubnetSpec,
    /// Height of creation.
    pub created_at: Height,
    /// Uids in use (`0..neurons`).
    pub neurons: u16,
    /// Emission waiting for the next epoch (block shares, registration burns, the creation
    /// lock and what earlier epochs left unpaid).
    pub pending: Amount,
    /// Epochs run so far.
    pub epochs: u64,
    /// Height of the last epoch (0: none yet).
    pub last_epoch_block: Height,
    /// Height of the next epoch.
    pub next_epoch_block: Height,
    /// Liquid alpha, as its owner set it (off until then).
    #[serde(default = "liquid_alpha_off")]
    pub liquid_alpha: crate::subnet::LiquidAlpha,
}

const fn liquid_alpha_off() -> crate::subnet::LiquidAlpha {
    crate::subnet::LiquidAlpha::OFF
}

impl SubnetJson {
    /// When its epochs fall.
    #[must_use]
    pub const fn schedule(&self) -> EpochSchedule {
        EpochSchedule { created_at: self.created_at, tempo: self.spec.tempo }
    }
}

/// What a neuron does in its subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NeuronRole {
    /// Serves a model; earns incentive.
    Miner,
    /// Scores miners; earns dividends.
    Validator,
}

/// One uid of a subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronJson {
    /// Its uid.
    pub uid: Uid,
    /// The account holding it (paid its emission).
    pub address: Address,
    /// Miner or validator.
    pub kind: NeuronRole,
    /// The model served (miners).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model: Option<ModelId>,
    /// Where it is served (miners).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub endpoint: Option<String>,
    /// The stake Yuma counts: the account's bonded stake for validators, 0 for miners.
    pub stake: Amount,
    /// Holds a validator permit (may commit weights).
    pub validator_permit: bool,
    /// Height of (re)registration.
    pub registered_at: Height,
    /// Height of its last revealed weights (its registration if none).
    pub last_update: Height,
    /// Consensus weight as a miner, from the last epoch.
    pub consensus: u16,
    /// Incentive as a miner, from the last epoch.
    pub incentive: u16,
    /// Dividends as a validator, from the last epoch.
    pub dividends: u16,
    /// Validator trust, from the last epoch.
    pub validator_trust: u16,
    /// Paid to it by the last epoch (its pruning score).
    pub last_emission: Amount,
}

/// `GET /api/subnets/{id}/metagraph`: every uid of a subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetagraphJson {
    /// The subnet.
    pub subnet: SubnetId,
    /// Height of the state this is from.
    pub height: Height,
    /// The uids in order.
    pub neurons: Vec<NeuronJson>,
}

/// One epoch of a subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetEpochJson {
    /// The subnet's epoch number (0 ends at `created_at + tempo`).
    pub epoch: u64,
    /// Height it ran at.
    pub block: Height,
    /// Paid to the owner.
    pub owner_emission: Amount,
    /// Paid to the uids in total.
    pub total_emission: Amount,
    /// Paid per uid (miner incentive plus validator dividends), by uid.
    pub emission: Vec<Amount>,
}

/// A uid's stored weights.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsRowJson {
    /// The subnet.
    pub subnet: SubnetId,
    /// The setter.
    pub uid: Uid,
    /// `[dest, value]` pairs in revealed order.
    pub weights: Vec<(Uid, u16)>,
}

/// A uid's outstanding weight commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCommitJson {
    /// The subnet.
    pub subnet: SubnetId,
    /// The committer.
    pub uid: Uid,
    /// The commit (hex).
    #[serde(with = "crate::hash::serde_hex")]
    pub commit: Hash,
    /// Height of the commit.
    pub block: Height,
    /// The subnet epoch it was made in; it may be revealed only in the next.
    pub epoch: u64,
}

/// `GET /api/subnets/{id}/evals`: a sealed evaluation set, and its reveal once made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalSealJson {
    /// Its number in the subnet.
    pub seal: u64,
    /// The commitment (hex).
    #[serde(with = "crate::hash::serde_hex")]
    pub commitment: crate::Hash,
    /// The height it was sealed at.
    pub sealed_at: Height,
    /// The height it was revealed at (`null`: still sealed).
    pub revealed_at: Option<Height>,
    /// The revealed set's blob.
    pub content: Option<crate::datanet::ContentRef>,
}
