//! The JSON shapes of the public REST API (`/api`). Amounts are strings of base units; hashes
//! are lowercase hex; addresses are `alx1…`.

use crate::{
    Address, Amount, Block, ChainId, Hash, Receipt, SignedTx,
    block::Height,
    datanet::{ContentRef, ContributionId, DatanetId, DatanetOp, DatanetSpec},
    hash::to_hex,
    merkle::StateProof,
    model::ModelOp,
    subnet::{SubnetId, SubnetOp, Uid},
    tx::Payload,
    usage::UsageOp,
};
use serde::{Deserialize, Serialize};

/// `GET /api/status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusResponse {
    /// The chain id.
    pub chain_id: ChainId,
    /// Height of the last finalized, committed block.
    pub height: Height,
    /// Its digest (hex).
    pub last_block_hash: String,
    /// The state root after it (hex).
    pub state_root: String,
    /// The epoch the next block belongs to (epoch `e` holds heights `e·L ..= e·L + L − 1`).
    pub epoch: u64,
    /// Blocks per epoch (`L`).
    pub epoch_length: u64,
    /// The active validators of that epoch, by address.
    pub validators: Vec<Address>,
    /// Transactions waiting in this node's mempool.
    pub mempool_size: usize,
    /// Software version of the node.
    pub version: String,
}

/// A transaction as JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TxJson {
    /// Transaction id (hex).
    pub hash: String,
    /// Chain id.
    pub chain_id: ChainId,
    /// Sender.
    pub sender: Address,
    /// Nonce.
    pub nonce: u64,
    /// Fee.
    pub fee: Amount,
    /// What it does.
    pub payload: PayloadJson,
}

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
            },
            Payload::ReportEquivocation(ref e) => {
                Self::ReportEquivocation { evidence: (**e).clone() }
            }
        }
    }
}

impl From<&SignedTx> for TxJson {
    fn from(s: &SignedTx) -> Self {
        Self {
            hash: to_hex(&s.hash()),
            chain_id: s.tx.chain_id,
            sender: s.tx.sender,
            nonce: s.tx.nonce,
            fee: s.tx.fee,
            payload: PayloadJson::from(&s.tx.payload),
        }
    }
}

/// A block header as JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockHeaderJson {
    /// Block digest (hex).
    pub hash: String,
    /// Parent digest (hex).
    pub parent: String,
    /// Height.
    pub height: Height,
    /// Consensus epoch.
    pub epoch: u64,
    /// Consensus view.
    pub view: u64,
    /// Proposer.
    pub proposer: Address,
    /// Proposer's timestamp (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// Transaction root (hex).
    pub tx_root: String,
    /// Receipts root (hex).
    pub receipts_root: String,
    /// State root after the block (hex).
    pub state_root: String,
    /// Number of transactions.
    pub tx_count: usize,
}

impl From<&Block> for BlockHeaderJson {
    fn from(b: &Block) -> Self {
        let h = &b.header;
        Self {
            hash: to_hex(&b.digest()),
            parent: to_hex(&h.parent),
            height: h.height,
            epoch: h.epoch,
            view: h.view,
            proposer: h.proposer,
            timestamp_ms: h.timestamp_ms,
            tx_root: to_hex(&h.tx_root),
            receipts_root: to_hex(&h.receipts_root),
            state_root: to_hex(&h.state_root),
            tx_count: b.txs.len(),
        }
    }
}

/// `GET /api/blocks/{height|hash}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockResponse {
    /// The header.
    pub header: BlockHeaderJson,
    /// The transactions with their receipts, in order.
    pub txs: Vec<TxWithReceipt>,
}

/// A transaction and its receipt.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TxWithReceipt {
    /// The transaction.
    pub tx: TxJson,
    /// Its receipt.
    pub receipt: Receipt,
}

/// `GET /api/txs/{hash}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TxResponse {
    /// The transaction.
    pub tx: TxJson,
    /// Its receipt.
    pub receipt: Receipt,
    /// The block that included it.
    pub height: Height,
    /// Its index in that block.
    pub index: u32,
    /// The block's digest (hex).
    pub block_hash: String,
    /// The signed transaction's canonical bytes (hex). Its hash is `tx.hash`, so a client that
    /// has proven the hash (`alx tx show --proof`) can believe the contents decoded from them.
    #[serde(default)]
    pub raw: String,
}

/// An account's state.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountJson {
    /// Spendable balance.
    pub balance: Amount,
    /// Next nonce.
    pub nonce: u64,
    /// Total stake bonded by this account (to any validator).
    pub bonded: Amount,
    /// Total stake unbonding.
    pub unbonding: Amount,
}

/// `GET /api/accounts/{address}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountResponse {
    /// The address.
    pub address: Address,
    /// The account.
    pub account: AccountJson,
    /// Height of the state this answer is from.
    pub height: Height,
    /// State root at that height (hex): the root in that block's header.
    pub state_root: String,
    /// The proof, present when `?proof=true`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proof: Option<AccountProof>,
    /// The nonce a new transaction should take: `account.nonce` past the sender's
    /// transactions waiting in this node's mempool (not proven: the node's own view).
    #[serde(default)]
    pub next_nonce: Option<u64>,
}

/// A Merkle proof of the account's state entry against `state_root`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountProof {
    /// The state key (hex).
    pub key: String,
    /// The encoded account entry (hex), or `None` if the account does not exist.
    pub value: Option<String>,
    /// The proof.
    pub proof: StateProof,
}

/// `POST /api/txs` body: the canonical encoding of a signed transaction, hex.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SubmitTxRequest {
    /// Hex of the signed transaction's canonical encoding.
    pub tx: String,
}

/// `POST /api/txs` answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubmitTxResponse {
    /// The transaction id (hex).
    pub hash: String,
}

/// Every API error: `{"error": {"type": "...", "message": "..."}}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// The body of an API error.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// A stable snake_case identifier clients can match on.
    #[serde(rename = "type")]
    pub kind: String,
    /// A human-readable explanation.
    pub message: String,
}

/// A finalized block event on the stream (`GET /api/stream/blocks`).
pub type BlockEvent = BlockHeaderJson;

/// Formats a hash for JSON.
#[must_use]
pub fn hash_json(h: &Hash) -> String {
    to_hex(h)
}

/// `GET /api/light/finalizations/{height}`: proof that the block at `height` is final, for a
/// light client (`alx-light`): the headers from `height` to the first height at or after it
/// whose finalization certificate this node holds, and that certificate. Bytes are hex of the
/// codec encodings the chain signs and hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalizationResponse {
    /// The height asked for.
    pub height: Height,
    /// The height the certificate is for (`height` or a descendant's).
    pub certified_height: Height,
    /// Encoded block headers, `height..=certified_height`, each the parent of the next.
    pub headers: Vec<String>,
    /// The encoded simplex finalization of `certified_height`'s block.
    pub certificate: String,
}

/// `GET /api/light/epochs/{epoch}`: the validator set of `epoch` (from 1) and a proof of it
/// against the state root of the boundary block that chose it (the last block of the epoch
/// before, at `boundary`). A light client that verified that block's finalization with the
/// previous epoch's set checks `proof` against its state root under
/// [`crate::merkle::ACTIVE_SET_KEY`], and so learns the set without trusting the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochSetProof {
    /// The epoch whose set this is.
    pub epoch: u64,
    /// The block that chose it: the last of epoch `epoch − 1`.
    pub boundary: Height,
    /// The set, hex of the stored value (32-byte addresses, ascending).
    pub validators: String,
    /// The proof of that value against the boundary block's state root.
    pub proof: StateProof,
}

/// Most state keys one `GET /api/proofs` request may ask for.
pub const PROOF_KEYS_MAX: usize = 16;

/// `GET /api/proofs?keys=HEX,…`: state entries with proofs against the state root at `height`,
/// all from the same state (a client computes the keys itself and checks the proofs against a
/// header its light client shows final).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateProofsResponse {
    /// Height of the state the entries are from.
    pub height: Height,
    /// One per key asked, in order.
    pub entries: Vec<ProvenEntry>,
}

/// A state key, its stored value (absent: `None`) and the proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenEntry {
    /// The key (hex).
    pub key: String,
    /// The stored bytes (hex), or `None` when the key is absent.
    pub value: Option<String>,
    /// The proof against the state root at the response's height.
    pub proof: StateProof,
}
