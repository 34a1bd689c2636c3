//! The receipt of one paid model request, as the serving node signs, stores and serves it
//! (`GET /api/receipts/{id}`), and as settlements aggregate it.

use crate::{
    Address, Amount, Hash,
    datanet::{ContributionId, DatanetId},
    hash::sha256,
    model::{DatanetVersionRef, ModelId},
    usage::Credit,
};
use serde::{Deserialize, Serialize};

/// Domain separation of receipt signatures.
pub const NAMESPACE_RECEIPT: &[u8] = b"_ALX_RECEIPT";

/// A passage retrieved into the prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// The datanet.
    pub datanet: DatanetId,
    /// The contribution.
    pub contribution: ContributionId,
    /// Who contributed it.
    pub contributor: String,
    /// Rank in the retrieval (0 = best).
    pub rank: u32,
    /// The start of the passage, for people.
    pub excerpt: String,
}

/// One contribution's share of the data fee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareEntry {
    /// The datanet.
    pub datanet: DatanetId,
    /// The contribution.
    pub contribution: ContributionId,
    /// Who contributed it.
    pub contributor: String,
    /// Basis points of the data share (all entries sum to 10,000, or there are none).
    pub bps: u32,
}

/// What a receipt commits to (everything but its id and signature).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptBody {
    /// The provider's receipt number (settled in order, once).
    pub number: u64,
    /// The serving node.
    pub provider: Address,
    /// The model.
    pub model: ModelId,
    /// Its name.
    pub model_name: String,
    /// SHA-256 of the API key used.
    #[serde(with = "crate::hash::serde_hex")]
    pub key_hash: Hash,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// The fee charged.
    pub fee: Amount,
    /// The datanet versions the model draws on.
    pub datanets: Vec<DatanetVersionRef>,
    /// Passages retrieved into the prompt.
    pub citations: Vec<Citation>,
    /// Shares from span matching of the output, per datanet (basis points of that part).
    pub span_shares: Vec<ShareEntry>,
    /// The combined shares of the data fee.
    pub shares: Vec<ShareEntry>,
    /// The data fee paid to each contribution, in base units.
    pub credits: Vec<Credit>,
    /// The generated text (kept so anyone can re-derive the span attribution).
    pub output: String,
    /// What was asked: with the citations, enough to rebuild the prompt the model ran.
    #[serde(default)]
    pub input: RequestInput,
    /// The generated token ids (the output is their text, less a stop sequence).
    #[serde(default)]
    pub output_tokens: Vec<u32>,
    /// Whether every token was the most likely one, without penalties: then anyone holding
    /// the weights can replay the answer (what a generation dispute checks).
    #[serde(default)]
    pub greedy: bool,
    /// The penalties on repeated tokens the answer was chosen under (none: no penalty).
    #[serde(default)]
    pub penalties: Option<PenaltiesMilli>,
    /// The influence of the answer on the adapter's training examples with the highest
    /// scores (models whose adapter carries influence features): the integer scores the
    /// rule's influence part takes (`alx_attribution::rule::influence_shares`). Omitted when
    /// empty, so receipts from before it keep their ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub influence: Vec<InfluenceScore>,
}

/// One training example's influence on an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfluenceScore {
    /// The datanet.
    pub datanet: DatanetId,
    /// The contribution.
    pub contribution: ContributionId,
    /// TRAK's estimate, the largest magnitude over all examples scaled to 1,000,000.
    pub score: i64,
}

/// The most influence scores a receipt records (the highest; ~50 bytes each).
pub const INFLUENCE_RECORDED_MAX: usize = 32;

/// Penalties on repeated tokens, in thousandths (see `alx_model::Penalties`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PenaltiesMilli {
    /// Subtracted once per earlier occurrence.
    pub frequency: i32,
    /// Subtracted once if the token occurred.
    pub presence: i32,
    /// Divides a positive logit, multiplies a negative one (1,000 is off).
    pub repetition: u32,
    /// Generated tokens looked back at.
    pub window: u32,
}

/// What a request asked, as its receipt records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestInput {
    /// Nothing to replay: an embedding request (or a receipt that did not record it).
    #[default]
    None,
    /// A chat: the caller's messages (the retrieved notes are rebuilt from the citations).
    Chat {
        /// In order.
        messages: Vec<InputMessage>,
    },
    /// A completion of a prompt, with or without retrieval.
    Completion {
        /// The caller's prompt.
        prompt: String,
        /// Whether passages were retrieved for it.
        retrieval: bool,
    },
}

/// One chat message of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// Its text.
    pub content: String,
}

impl ReceiptBody {
    /// The receipt id: SHA-256 of the body's JSON (field order fixed by the struct, no maps).
    #[must_use]
    pub fn id(&self) -> Hash {
        sha256(&[&serde_json::to_vec(self).unwrap_or_default()])
    }
}

/// A signed receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReceipt {
    /// SHA-256 of the body.
    #[serde(with = "crate::hash::serde_hex")]
    pub id: Hash,
    /// What it records.
    #[serde(flatten)]
    pub body: ReceiptBody,
    /// ed25519 signature by the provider over `NAMESPACE_RECEIPT ‖ id`, hex.
    pub signature: String,
}

impl UsageReceipt {
    /// `body` signed by `key` (its provider's).
    #[must_use]
    pub fn sign(body: ReceiptBody, key: &commonware_cryptography::ed25519::PrivateKey) -> Self {
        use commonware_codec::Encode as _;
        use commonware_cryptography::Signer as _;
        let id = body.id();
        let signature = hex::encode(key.sign(NAMESPACE_RECEIPT, &id.0).encode());
        Self { id, body, signature }
    }

    /// The receipt in `json` if it is `provider`'s receipt `number` and its signature verifies
    /// (`None` for anything over the 60 KiB a receipt may take on chain, or not JSON of one).
    #[must_use]
    pub fn parse_signed(json: &str, provider: &Address, number: u64) -> Option<Self> {
        if json.len() > crate::dispute::DISPUTE_RECEIPT_BYTES_MAX {
            return None;
        }
        let r: Self = serde_json::from_str(json).ok()?;
        (r.verify() && r.body.provider == *provider && r.body.number == number).then_some(r)
    }

    /// Whether the id matches the body and the provider signed it.
    #[must_use]
    pub fn verify(&self) -> bool {
        use commonware_codec::ReadExt as _;
        use commonware_cryptography::Verifier as _;
        if self.body.id() != self.id {
            return false;
        }
        let Some(key) = self.body.provider.to_public_key() else { return false };
        let Ok(bytes) = hex::decode(&self.signature) else { return false };
        if !crate::strict::is_strict_signature(&bytes) {
            return false;
        }
        let Ok(sig) = commonware_cryptography::ed25519::Signature::read(
            &mut commonware_codec::Copying(bytes.as_slice()),
        ) else {
            return false;
        };
        key.verify(NAMESPACE_RECEIPT, &self.id.0, &sig)
    }
}

/// The `alexandria` object of every gateway response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptSummary {
    /// The receipt id (fetch it at `/api/receipts/{id}`).
    #[serde(with = "crate::hash::serde_hex")]
    pub receipt_id: Hash,
    /// The model.
    pub model: String,
    /// Prompt tokens.
    pub tokens_in: u32,
    /// Generated tokens.
    pub tokens_out: u32,
    /// The fee charged.
    pub fee: Amount,
    /// Passages retrieved into the prompt.
    pub citations: Vec<Citation>,
    /// Shares of the data fee.
    pub attribution: Vec<ShareEntry>,
}
