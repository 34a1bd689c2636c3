//! The JSON shapes of the public REST API (`/api`). Amounts are strings of base units; hashes
//! are lowercase hex; addresses are `alx1…`.

use crate::{
    Address, Amount, Block, ChainId, Hash, Receipt, SignedTx, block::Height, hash::to_hex,
    merkle::StateProof,
};
use serde::{Deserialize, Serialize};

pub use crate::api_payload::PayloadJson;

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
    /// The receipt's canonical bytes (hex), whose SHA-256 is its leaf under the header's
    /// receipts root: a client that cannot re-encode the receipt (a browser) checks these.
    #[serde(default)]
    pub receipt_raw: String,
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
    /// The receipt's canonical bytes (hex), as in a block's transactions.
    #[serde(default)]
    pub receipt_raw: String,
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
    /// A finer stable code where the error carries one (the gateway's OpenAI-style errors:
    /// `model_not_found`, `index_behind`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A finalized block event on the stream (`GET /api/stream/blocks`).
pub type BlockEvent = BlockHeaderJson;

/// Formats a hash for JSON.
#[must_use]
pub fn hash_json(h: &Hash) -> String {
    to_hex(h)
}

/// `GET /api/light/genesis`: what a light client trusts, from this node's genesis file: the
/// chain, its epoch length and epoch 0's validators. A client pins it once (or reads the
/// genesis file itself) and checks every later proof against it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LightGenesis {
    /// The chain id.
    pub chain_id: String,
    /// Blocks per epoch.
    pub epoch_length: u64,
    /// Epoch 0's validators, as in the genesis file.
    pub validators: Vec<Address>,
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

/// `GET /api/accounts/{address}/txs`: the transactions that touched an address (sent by it, or
/// naming it in their payload), newest first, from the node's history index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountTxsResponse {
    /// The address.
    pub address: Address,
    /// The last height the history index covers (blocks after it are not listed yet).
    pub indexed_height: Height,
    /// The page, newest first.
    pub txs: Vec<PlacedTx>,
    /// The `before` of the next page (`HEIGHT.INDEX`), when there may be more.
    pub next: Option<String>,
}

/// A transaction with its receipt and place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedTx {
    /// The block.
    pub height: Height,
    /// Its index there.
    pub index: u32,
    /// The transaction.
    pub tx: TxJson,
    /// Its receipt.
    pub receipt: Receipt,
}
