//! The JSON shapes of the datanet endpoints (`/api/datanets…`).

use crate::{
    Address, Amount, Hash, Height,
    datanet::{ContentRef, ContributionId, DatanetId, DatanetSpec},
};
use serde::{Deserialize, Serialize};

/// A datanet.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DatanetJson {
    /// Its id.
    pub id: DatanetId,
    /// Its owner.
    pub owner: Address,
    /// Name, description, tags, license, policy, fee, stake, cap, curators.
    #[serde(flatten)]
    pub spec: DatanetSpec,
    /// Height of creation.
    pub created_at: Height,
    /// Contributions ever submitted.
    pub contributions: u64,
    /// Contributions approved.
    pub approved: u64,
    /// Their bytes.
    pub approved_bytes: u64,
    /// The latest version (0: none).
    pub version: u32,
}

/// A contribution.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ContributionJson {
    /// Its id within the datanet.
    pub id: ContributionId,
    /// Who offered it.
    pub contributor: Address,
    /// The blob.
    #[serde(flatten)]
    pub content: ContentRef,
    /// `awaiting_data` (until a quorum of validators holds its bytes), `pending` (held,
    /// awaiting review), `approved`, `rejected` (by a reviewer), `withdrawn`, `unavailable`
    /// (its data never came), `refused` (see `refusal`) or `removed` (by the owner).
    pub status: String,
    /// Height of submission.
    pub submitted_at: Height,
    /// Stake still locked with it.
    pub stake: Amount,
    /// Flagged as a near-duplicate (of `copy_of`): its data share goes to the protection fund.
    pub near_duplicate: bool,
    /// The earlier contribution a flag says it copies (absent: not flagged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<crate::datanet::ContributionId>,
    /// The first version that holds it (0 until approved).
    pub first_version: u32,
    /// What it has earned from paid model use, in total.
    #[serde(default)]
    pub earned: crate::Amount,
    /// The datanet's version when it was offered (near-duplicate coverage is measured
    /// against it).
    #[serde(default)]
    pub base_version: u32,
    /// While it awaits its data: the height at which it is dropped as unavailable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_due_at: Option<Height>,
    /// Why the validators' verdict refused it, with the evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<crate::availability::Refusal>,
}

/// A published version.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionJson {
    /// The datanet.
    pub datanet: DatanetId,
    /// Its number (from 1).
    pub version: u32,
    /// Merkle root over the approved contributions' leaves, in id order.
    #[serde(with = "crate::hash::serde_hex")]
    pub root: Hash,
    /// Contributions it holds.
    pub contributions: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Height of publication.
    pub published_at: Height,
}

/// `GET /api/datanets/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DatanetResponse {
    /// The datanet.
    pub datanet: DatanetJson,
    /// Every published version, oldest first.
    pub versions: Vec<VersionJson>,
    /// The latest version the answering node has indexed for attribution (0: none).
    #[serde(default)]
    pub indexed_version: u32,
}

/// `GET /api/datanets/{id}/contributions/{c}/credits`: what a contribution earned from each
/// settlement, newest first, from the node's history index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributionCreditsResponse {
    /// The datanet.
    pub datanet: DatanetId,
    /// The contribution.
    pub contribution: ContributionId,
    /// The last height the history index covers.
    pub indexed_height: Height,
    /// The credits, newest first.
    pub credits: Vec<CreditEventJson>,
}

/// One settlement's credit to a contribution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditEventJson {
    /// The block of the settlement.
    pub height: Height,
    /// The settlement transaction's index there.
    pub tx_index: u32,
    /// The model whose fees paid it.
    pub model: crate::model::ModelId,
    /// Base units.
    pub amount: Amount,
    /// The provider that settled; its node serves the batch's receipts
    /// (`/api/settlements/{provider}/{first_receipt}`).
    pub provider: Address,
    /// The provider's first receipt number in the batch.
    pub first_receipt: u64,
    /// Receipts in the batch.
    pub receipts: u32,
}

/// `GET /api/datanets/{id}/contributions/{c}/events`: what happened to a contribution after it
/// was offered (reviews, withdrawal, removal, flags, flag disputes), oldest first, from the
/// node's history index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributionEventsResponse {
    /// The datanet.
    pub datanet: DatanetId,
    /// The contribution.
    pub contribution: ContributionId,
    /// The last height the history index covers.
    pub indexed_height: Height,
    /// The events, oldest first.
    pub events: Vec<ContributionEventJson>,
}

/// One thing that happened to a contribution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributionEventJson {
    /// The block.
    pub height: Height,
    /// The transaction's index there.
    pub tx_index: u32,
    /// `attested_held` or `attested_refused` (one validator's verdict on its bytes),
    /// `approved`, `rejected`, `withdrawn`, `removed`, `flagged_near_duplicate` or
    /// `flag_disputed`.
    pub event: String,
    /// Who sent the transaction.
    pub by: Address,
    /// For a flag: the contribution it is said to copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<ContributionId>,
}
