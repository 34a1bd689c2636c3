//! Model transactions: specialized models registered on chain, with their prices and the fee
//! split of every paid request.
//!
//! ```text
//! ModelOp = 0 Register { spec }                the sender owns the new model
//!         | 1 SetPrices { model, input, output }   owner: new prices per 1,000 tokens
//!         | 2 Retire { model }                  owner: no longer served or settled
//! ```

use crate::{
    Amount, Hash,
    datanet::{DatanetId, read_count, read_str, str_bytes, write_str},
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};
use serde::{Deserialize, Serialize};

crate::id::u64_newtype! {
    /// A model's id: models are numbered from 0 in registration order.
    ModelId
}

/// Longest model name, in bytes.
pub const MODEL_NAME_LEN_MAX: usize = 64;
/// Most datanet versions one model draws on.
pub const MODEL_DATANETS_MAX: usize = 8;
/// Basis points in a whole.
pub const BPS: u16 = 10_000;
/// Least share of every fee that goes to data contributors (protocol bound).
pub const DATA_BPS_MIN: u16 = 2_500;
/// Least share of every fee that goes to the protocol (protocol bound).
pub const PROTOCOL_BPS_MIN: u16 = 500;

/// The fee of a request at `(input, output)` per 1,000 tokens:
/// `(prompt × input + completion × output) / 1000`, rounded down. The one formula the gateway
/// charges by and a challenge judges a leaf by.
#[must_use]
pub fn token_fee(
    input_per_1k: Amount,
    output_per_1k: Amount,
    prompt_tokens: u32,
    completion_tokens: u32,
) -> Amount {
    let input = input_per_1k.0.saturating_mul(u128::from(prompt_tokens));
    let output = output_per_1k.0.saturating_mul(u128::from(completion_tokens));
    Amount(input.saturating_add(output) / 1000)
}

/// A datanet version a model draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DatanetVersionRef {
    /// The datanet.
    pub datanet: DatanetId,
    /// Its version.
    pub version: u32,
}

/// How a paid request's fee is split, in basis points summing to 10,000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSplit {
    /// Data contributors, by attribution.
    pub data_bps: u16,
    /// The model's owner.
    pub owner_bps: u16,
    /// The node that served the request.
    pub provider_bps: u16,
    /// The protocol treasury.
    pub protocol_bps: u16,
}

impl FeeSplit {
    /// DESIGN.md's default: data 50%, owner 25%, provider 15%, protocol 10%.
    pub const DEFAULT: Self =
        Self { data_bps: 5_000, owner_bps: 2_500, provider_bps: 1_500, protocol_bps: 1_000 };

    /// Whether the parts sum to a whole and respect the protocol's minimums.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        let sum = u32::from(self.data_bps)
            + u32::from(self.owner_bps)
            + u32::from(self.provider_bps)
            + u32::from(self.protocol_bps);
        sum == u32::from(BPS)
            && self.data_bps >= DATA_BPS_MIN
            && self.protocol_bps >= PROTOCOL_BPS_MIN
    }
}

/// What a new model is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Short name: `[a-z0-9-]`, 1 to 64 bytes (unique on chain).
    pub name: String,
    /// BLAKE3 of the base model's weights file (e.g. the GGUF).
    #[serde(with = "crate::hash::serde_hex")]
    pub base_model: Hash,
    /// BLAKE3 of a fine-tuned adapter, if any.
    #[serde(default, with = "crate::hash::serde_hex_opt")]
    pub adapter: Option<Hash>,
    /// The datanet versions it draws on (retrieval and attribution), at most 8, no datanet
    /// twice.
    pub datanets: Vec<DatanetVersionRef>,
    /// Price per 1,000 prompt tokens.
    pub price_input_per_1k: Amount,
    /// Price per 1,000 generated tokens.
    pub price_output_per_1k: Amount,
    /// Fee split.
    pub split: FeeSplit,
}

/// A model operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelOp {
    /// Register a model owned by the sender.
    Register(Box<ModelSpec>),
    /// New prices (owner).
    SetPrices {
        /// The model.
        model: ModelId,
        /// Per 1,000 prompt tokens.
        input_per_1k: Amount,
        /// Per 1,000 generated tokens.
        output_per_1k: Amount,
    },
    /// Retire the model (owner): it can no longer be settled against.
    Retire {
        /// The model.
        model: ModelId,
    },
}

impl ModelOp {
    /// A stable lowercase name, as shown by the API.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Register(_) => "model_register",
            Self::SetPrices { .. } => "model_set_prices",
            Self::Retire { .. } => "model_retire",
        }
    }
}

fn write_opt_hash(h: Option<&Hash>, buf: &mut impl BufMut) {
    match h {
        None => buf.put_u8(0),
        Some(h) => {
            buf.put_u8(1);
            h.write(buf);
        }
    }
}

fn read_opt_hash(buf: &mut impl Buf) -> Result<Option<Hash>, CodecError> {
    match u8::read(buf)? {
        0 => Ok(None),
        1 => Ok(Some(Hash::read(buf)?)),
        other => Err(CodecError::InvalidEnum(other)),
    }
}

impl Write for ModelSpec {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.name, buf);
        self.base_model.write(buf);
        write_opt_hash(self.adapter.as_ref(), buf);
        buf.put_u8(self.datanets.len().min(255) as u8);
        for d in self.datanets.iter().take(255) {
            d.datanet.write(buf);
            d.version.write(buf);
        }
        self.price_input_per_1k.write(buf);
        self.price_output_per_1k.write(buf);
        for bps in [
            self.split.data_bps,
            self.split.owner_bps,
            self.split.provider_bps,
            self.split.protocol_bps,
        ] {
            bps.write(buf);
        }
    }
}

impl EncodeSize for ModelSpec {
    fn encode_size(&self) -> usize {
        2 + str_bytes(&self.name).len()
            + Hash::SIZE
            + 1
            + self.adapter.map_or(0, |_| Hash::SIZE)
            + 1
            + self.datanets.len().min(255) * (u64::SIZE + u32::SIZE)
            + 2 * Amount::SIZE
            + 4 * u16::SIZE
    }
}

impl Read for ModelSpec {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let name = read_str(buf, MODEL_NAME_LEN_MAX)?;
        let base_model = Hash::read(buf)?;
        let adapter = read_opt_hash(buf)?;
        let datanets = (0..read_count(buf, MODEL_DATANETS_MAX)?)
            .map(|_| {
                Ok(DatanetVersionRef { datanet: DatanetId::read(buf)?, version: u32::read(buf)? })
            })
            .collect::<Result<_, CodecError>>()?;
        Ok(Self {
            name,
            base_model,
            adapter,
            datanets,
            price_input_per_1k: Amount::read(buf)?,
            price_output_per_1k: Amount::read(buf)?,
            split: FeeSplit {
                data_bps: u16::read(buf)?,
                owner_bps: u16::read(buf)?,
                provider_bps: u16::read(buf)?,
                protocol_bps: u16::read(buf)?,
            },
        })
    }
}

impl Write for ModelOp {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Register(spec) => {
                buf.put_u8(0);
                spec.write(buf);
            }
            Self::SetPrices { model, input_per_1k, output_per_1k } => {
                buf.put_u8(1);
                model.write(buf);
                input_per_1k.write(buf);
                output_per_1k.write(buf);
            }
            Self::Retire { model } => {
                buf.put_u8(2);
                model.write(buf);
            }
        }
    }
}

impl EncodeSize for ModelOp {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Register(spec) => spec.encode_size(),
            Self::SetPrices { .. } => u64::SIZE + 2 * Amount::SIZE,
            Self::Retire { .. } => u64::SIZE,
        }
    }
}

impl Read for ModelOp {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::Register(Box::new(ModelSpec::read(buf)?)),
            1 => Self::SetPrices {
                model: ModelId::read(buf)?,
                input_per_1k: Amount::read(buf)?,
                output_per_1k: Amount::read(buf)?,
            },
            2 => Self::Retire { model: ModelId::read(buf)? },
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

/// What an adapter was trained from and how, written beside its weights by `alx model
/// finetune`. Its BLAKE3 (of these JSON bytes, as the blob store keys them) is what a model
/// registers as its `adapter`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct AdapterManifest {
    /// BLAKE3 of the base model's GGUF file (the hash a model registers as its base).
    #[serde(with = "crate::hash::serde_hex")]
    pub base_model: Hash,
    /// BLAKE3 of the adapter's safetensors file.
    #[serde(with = "crate::hash::serde_hex")]
    pub adapter: Hash,
    /// The datanet versions it was trained on, with their Merkle roots.
    pub datanets: Vec<TrainedOn>,
    /// The training configuration (adapter shape, optimizer, schedule), as the engine took it.
    pub hyperparameters: serde_json::Value,
    /// Tokens per training window, windows per step, held-out share in basis points.
    pub data: serde_json::Value,
    /// The engine and its version (`alx-model x.y.z`).
    pub engine: String,
    /// Held-out perplexity of the base model and of the base with the adapter.
    pub held_out_perplexity_before: f64,
    /// The same after training.
    pub held_out_perplexity_after: f64,
    /// Steps taken.
    pub steps: u64,
    /// The influence features of its training examples, if they were computed: what the
    /// gateway scores answers against to credit contributions by influence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub influence: Option<InfluenceFeatures>,
}

/// The influence features of an adapter's training examples, one row per contribution trained
/// on (`alx_model::train::Features`), and how answers are scored against them.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct InfluenceFeatures {
    /// BLAKE3 of the features file (safetensors).
    #[serde(with = "crate::hash::serde_hex")]
    pub features: Hash,
    /// Examples (contributions) it holds.
    pub examples: u64,
    /// Features per example (buckets of the gradient sketch).
    pub dims: u64,
    /// Seed of the sketch.
    pub seed: u64,
    /// TRAK's relative damping.
    pub damping: f64,
    /// The most tokens of an answer's prompt and output its influence query runs (the last
    /// ones): part of the rule, so every juror scores an answer as its server did.
    #[serde(default = "default_query_tokens")]
    pub query_tokens: u64,
}

/// The query window of manifests that do not state one.
const fn default_query_tokens() -> u64 {
    128
}

/// A datanet version an adapter was trained on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TrainedOn {
    /// The datanet.
    pub datanet: crate::datanet::DatanetId,
    /// The version.
    pub version: u32,
    /// Its Merkle root, recomputed from the contributions trained on.
    #[serde(with = "crate::hash::serde_hex")]
    pub root: Hash,
    /// Contributions trained on.
    pub contributions: u64,
}
