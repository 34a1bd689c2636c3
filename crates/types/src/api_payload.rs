//! The JSON shape of a transaction's payload in the REST API (`/api`), tagged by `kind`.

use crate::{
    Address, Amount, Hash,
    datanet::{ContentRef, ContributionId, DatanetId, DatanetOp, DatanetSpec},
    model::ModelOp,
    staking::StakingOp,
    subnet::{SubnetId, SubnetOp, Uid},
    tx::Payload,
    usage::UsageOp,
};
use serde::{Deserialize, Serialize};

/// A payload as JSON, tagged by `kind`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PayloadJson {
    /// See [`Payload::Transfer`].
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount.
        amount: Amount,
    },
    /// See [`Payload::Bond`].
    Bond {
        /// Validator.
        validator: Address,
        /// Amount.
        amount: Amount,
    },
    /// See [`Payload::Unbond`].
    Unbond {
        /// Validator.
        validator: Address,
        /// Amount.
        amount: Amount,
    },
    /// See [`Payload::RegisterValidator`].
    RegisterValidator {
        /// `host:port` where peers dial the validator, e.g. `203.0.113.7:7701`.
        p2p_addr: std::net::SocketAddr,
    },
    /// See [`DatanetOp::Create`].
    DatanetCreate {
        /// The new datanet.
        #[serde(flatten)]
        spec: DatanetSpec,
    },
    /// See [`DatanetOp::Contribute`].
    DatanetContribute {
        /// The datanet.
        datanet: DatanetId,
        /// The content.
        #[serde(flatten)]
        content: ContentRef,
    },
    /// See [`DatanetOp::Review`].
    DatanetReview {
        /// The datanet.
        datanet: DatanetId,
        /// The contribution.
        contribution: ContributionId,
        /// Approved or rejected.
        approve: bool,
    },
    /// See [`DatanetOp::Withdraw`].
    DatanetWithdraw {
        /// The datanet.
        datanet: DatanetId,
        /// The contribution.
        contribution: ContributionId,
    },
    /// See [`DatanetOp::PublishVersion`].
    DatanetPublishVersion {
        /// The datanet.
        datanet: DatanetId,
    },
    /// See [`DatanetOp::FlagNearDuplicate`].
    DatanetFlagNearDuplicate {
        /// The datanet.
        datanet: DatanetId,
        /// The contribution.
        contribution: ContributionId,
        /// The earlier contribution it copies.
        copies: ContributionId,
    },
    /// See [`DatanetOp::Attest`].
    DatanetAttest {
        /// The verdicts.
        reports: Vec<crate::availability::DataReport>,
    },
    /// See [`DatanetOp::Remove`].
    DatanetRemove {
        /// The datanet.
        datanet: DatanetId,
        /// The contribution.
        contribution: ContributionId,
    },
    /// See [`DatanetOp::DisputeFlag`].
    DatanetDisputeFlag {
        /// The datanet.
        datanet: DatanetId,
        /// The flagged contribution.
        contribution: ContributionId,
    },
    /// See [`ModelOp::Register`].
    ModelRegister {
        /// The new model.
        #[serde(flatten)]
        spec: crate::model::ModelSpec,
    },
    /// See [`ModelOp::SetPrices`].
    ModelSetPrices {
        /// The model.
        model: crate::model::ModelId,
        /// Per 1,000 prompt tokens.
        input_per_1k: Amount,
        /// Per 1,000 generated tokens.
        output_per_1k: Amount,
    },
    /// See [`ModelOp::Retire`].
    ModelRetire {
        /// The model.
        model: crate::model::ModelId,
    },
    /// See [`UsageOp::Deposit`].
    Deposit {
        /// Amount.
        amount: Amount,
    },
    /// See [`UsageOp::Withdraw`].
    WithdrawDeposit {
        /// Amount.
        amount: Amount,
    },
    /// See [`UsageOp::CreateApiKey`].
    ApiKeyCreate {
        /// SHA-256 of the key (hex).
        #[serde(with = "crate::hash::serde_hex")]
        key_hash: Hash,
        /// The provider allowed to charge it.
        provider: Address,
        /// Moved from the deposit to the key.
        allowance: Amount,
    },
    /// See [`UsageOp::FundApiKey`].
    ApiKeyFund {
        /// SHA-256 of the key (hex).
        #[serde(with = "crate::hash::serde_hex")]
        key_hash: Hash,
        /// Moved from the deposit to the key.
        amount: Amount,
    },
    /// See [`UsageOp::RevokeApiKey`].
    ApiKeyRevoke {
        /// SHA-256 of the key (hex).
        #[serde(with = "crate::hash::serde_hex")]
        key_hash: Hash,
    },
    /// See [`UsageOp::Settle`].
    Settle {
        /// The batch.
        #[serde(flatten)]
        settlement: crate::usage::Settlement,
    },
    /// See [`UsageOp::Claim`].
    Claim,
    /// See [`UsageOp::BondProvider`].
    ProviderBond {
        /// Amount.
        amount: Amount,
    },
    /// See [`UsageOp::UnbondProvider`].
    ProviderUnbond {
        /// Amount.
        amount: Amount,
    },
    /// See [`UsageOp::Challenge`].
    Challenge {
        /// The challenge.
        #[serde(flatten)]
        challenge: crate::challenge::Challenge,
    },
    /// See [`UsageOp::Dispute`].
    Dispute {
        /// The dispute.
        #[serde(flatten)]
        dispute: crate::dispute::Dispute,
    },
    /// See [`UsageOp::Demand`].
    ReceiptDemand {
        /// What is demanded.
        #[serde(flatten)]
        demand: crate::withheld::Demand,
    },
    /// See [`UsageOp::Answer`].
    ReceiptAnswer {
        /// The opened receipt.
        #[serde(flatten)]
        answer: crate::withheld::Answer,
    },
    /// See [`UsageOp::Verdicts`].
    DisputeVerdicts {
        /// The votes.
        verdicts: Vec<crate::dispute::Verdict>,
    },
    /// See [`Payload::ReportEquivocation`].
    ReportEquivocation {
        /// The evidence.
        #[serde(flatten)]
        evidence: crate::equivocation::Equivocation,
    },
    /// See [`SubnetOp::Create`].
    SubnetCreate {
        /// The new subnet.
        #[serde(flatten)]
        spec: crate::subnet::SubnetSpec,
    },
    /// See [`SubnetOp::RegisterMiner`].
    SubnetRegisterMiner {
        /// The subnet.
        subnet: SubnetId,
        /// The model served.
        model: crate::model::ModelId,
        /// Where it is served.
        endpoint: String,
    },
    /// See [`SubnetOp::RegisterValidator`].
    SubnetRegisterValidator {
        /// The subnet.
        subnet: SubnetId,
    },
    /// See [`SubnetOp::CommitWeights`].
    SubnetCommitWeights {
        /// The subnet.
        subnet: SubnetId,
        /// The commit (hex).
        #[serde(with = "crate::hash::serde_hex")]
        commit: Hash,
    },
    /// See [`SubnetOp::RevealWeights`].
    SubnetRevealWeights {
        /// The subnet.
        subnet: SubnetId,
        /// Destination uids.
        dests: Vec<Uid>,
        /// Their weights.
        values: Vec<u16>,
        /// The commit's salt (hex).
        #[serde(with = "crate::hash::serde_hex")]
        salt: Hash,
    },
    /// See [`SubnetOp::SealEval`].
    SubnetSealEval {
        /// The subnet.
        subnet: SubnetId,
        /// The commitment (hex).
        #[serde(with = "crate::hash::serde_hex")]
        commitment: Hash,
    },
    /// See [`SubnetOp::RevealEval`].
    SubnetRevealEval {
        /// The subnet.
        subnet: SubnetId,
        /// The seal's number.
        seal: u64,
        /// The commitment's salt (hex).
        #[serde(with = "crate::hash::serde_hex")]
        salt: Hash,
        /// The set.
        #[serde(flatten)]
        content: ContentRef,
    },
    /// See [`StakingOp::SetCommission`].
    StakingSetCommission {
        /// Basis points of the validator's share.
        bps: u16,
    },
    /// See [`StakingOp::Redelegate`].
    StakingRedelegate {
        /// The validator the stake leaves.
        from: Address,
        /// The validator it joins.
        to: Address,
        /// Amount moved.
        amount: Amount,
    },
    /// See [`SubnetOp::SetLiquidAlpha`].
    SubnetSetLiquidAlpha {
        /// The subnet.
        subnet: SubnetId,
        /// On or off.
        enabled: bool,
        /// Lowest rate, `x / 65535`.
        alpha_low: u16,
        /// Highest rate, `x / 65535`.
        alpha_high: u16,
    },
}

impl From<&Payload> for PayloadJson {
    fn from(p: &Payload) -> Self {
        match *p {
            Payload::Transfer { to, amount } => Self::Transfer { to, amount },
            Payload::Bond { validator, amount } => Self::Bond { validator, amount },
            Payload::Unbond { validator, amount } => Self::Unbond { validator, amount },
            Payload::RegisterValidator { p2p_addr } => Self::RegisterValidator { p2p_addr },
            Payload::Datanet(ref op) => match op {
                DatanetOp::Create(spec) => Self::DatanetCreate { spec: (**spec).clone() },
                DatanetOp::Contribute { datanet, content } => {
                    Self::DatanetContribute { datanet: *datanet, content: *content }
                }
                DatanetOp::Review { datanet, contribution, approve } => Self::DatanetReview {
                    datanet: *datanet,
                    contribution: *contribution,
                    approve: *approve,
                },
                DatanetOp::Withdraw { datanet, contribution } => {
                    Self::DatanetWithdraw { datanet: *datanet, contribution: *contribution }
                }
                DatanetOp::PublishVersion { datanet } => {
                    Self::DatanetPublishVersion { datanet: *datanet }
                }
                DatanetOp::FlagNearDuplicate { datanet, contribution, copies } => {
                    Self::DatanetFlagNearDuplicate {
                        datanet: *datanet,
                        contribution: *contribution,
                        copies: *copies,
                    }
                }
                DatanetOp::Attest { reports } => Self::DatanetAttest { reports: reports.clone() },
                DatanetOp::Remove { datanet, contribution } => {
                    Self::DatanetRemove { datanet: *datanet, contribution: *contribution }
                }
                DatanetOp::DisputeFlag { datanet, contribution } => {
                    Self::DatanetDisputeFlag { datanet: *datanet, contribution: *contribution }
                }
            },
            Payload::Model(ref op) => match op {
                ModelOp::Register(spec) => Self::ModelRegister { spec: (**spec).clone() },
                ModelOp::SetPrices { model, input_per_1k, output_per_1k } => Self::ModelSetPrices {
                    model: *model,
                    input_per_1k: *input_per_1k,
                    output_per_1k: *output_per_1k,
                },
                ModelOp::Retire { model } => Self::ModelRetire { model: *model },
            },
            Payload::Usage(ref op) => match op {
                UsageOp::Deposit { amount } => Self::Deposit { amount: *amount },
                UsageOp::Withdraw { amount } => Self::WithdrawDeposit { amount: *amount },
                UsageOp::CreateApiKey { key_hash, provider, allowance } => Self::ApiKeyCreate {
                    key_hash: *key_hash,
                    provider: *provider,
                    allowance: *allowance,
                },
                UsageOp::FundApiKey { key_hash, amount } => {
                    Self::ApiKeyFund { key_hash: *key_hash, amount: *amount }
                }
                UsageOp::RevokeApiKey { key_hash } => Self::ApiKeyRevoke { key_hash: *key_hash },
                UsageOp::Settle(s) => Self::Settle { settlement: (**s).clone() },
                UsageOp::Claim => Self::Claim,
                UsageOp::BondProvider { amount } => Self::ProviderBond { amount: *amount },
                UsageOp::UnbondProvider { amount } => Self::ProviderUnbond { amount: *amount },
                UsageOp::Challenge(c) => Self::Challenge { challenge: (**c).clone() },
                UsageOp::Dispute(d) => Self::Dispute { dispute: (**d).clone() },
                UsageOp::Verdicts(v) => Self::DisputeVerdicts { verdicts: v.clone() },
                UsageOp::Demand(d) => Self::ReceiptDemand { demand: *d },
                UsageOp::Answer(a) => Self::ReceiptAnswer { answer: (**a).clone() },
            },
            Payload::Subnet(ref op) => match op {
                SubnetOp::Create(spec) => Self::SubnetCreate { spec: (**spec).clone() },
                SubnetOp::RegisterMiner { subnet, model, endpoint } => Self::SubnetRegisterMiner {
                    subnet: *subnet,
                    model: *model,
                    endpoint: endpoint.clone(),
                },
                SubnetOp::RegisterValidator { subnet } => {
                    Self::SubnetRegisterValidator { subnet: *subnet }
                }
                SubnetOp::CommitWeights { subnet, commit } => {
                    Self::SubnetCommitWeights { subnet: *subnet, commit: *commit }
                }
                SubnetOp::RevealWeights { subnet, dests, values, salt } => {
                    Self::SubnetRevealWeights {
                        subnet: *subnet,
                        dests: dests.clone(),
                        values: values.clone(),
                        salt: commonware_cryptography::sha256::Digest(*salt),
                    }
                }
                SubnetOp::SealEval { subnet, commitment } => {
                    Self::SubnetSealEval { subnet: *subnet, commitment: *commitment }
                }
                SubnetOp::RevealEval { subnet, seal, salt, content } => Self::SubnetRevealEval {
                    subnet: *subnet,
                    seal: *seal,
                    salt: commonware_cryptography::sha256::Digest(*salt),
                    content: *content,
                },
                SubnetOp::SetLiquidAlpha { subnet, enabled, alpha_low, alpha_high } => {
                    Self::SubnetSetLiquidAlpha {
                        subnet: *subnet,
                        enabled: *enabled,
                        alpha_low: *alpha_low,
                        alpha_high: *alpha_high,
                    }
                }
            },
            Payload::ReportEquivocation(ref e) => {
                Self::ReportEquivocation { evidence: (**e).clone() }
            }
            Payload::Staking(StakingOp::SetCommission { bps }) => {
                Self::StakingSetCommission { bps }
            }
            Payload::Staking(StakingOp::Redelegate { from, to, amount }) => {
                Self::StakingRedelegate { from, to, amount }
            }
        }
    }
}
