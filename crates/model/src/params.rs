//! Llama hyperparameters from GGUF metadata, validated and bounded.

use serde::Serialize;

use crate::{
    error::{Error, Result},
    gguf::GgufFile,
};

/// Upper bounds on hyperparameters. They are far above any llama-family model that runs on a
/// CPU, and keep a hostile file from asking for absurd allocations before tensors are read.
const LAYERS_MAX: u32 = 512;
const HIDDEN_MAX: u32 = 65_536;
const FFN_MAX: u32 = 262_144;
const HEADS_MAX: u32 = 1_024;
const VOCAB_MAX: u32 = 1 << 20;
const CONTEXT_MAX: u32 = 1 << 20;

/// The shape of a llama-family model, as read from its GGUF metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlamaParams {
    /// `general.architecture`.
    pub architecture: String,
    /// Transformer blocks.
    pub layers: usize,
    /// Embedding (residual stream) width.
    pub hidden: usize,
    /// Feed-forward inner width.
    pub ffn: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
    /// RoPE frequency base.
    pub rope_base: f32,
    /// The context length the model was trained for.
    pub context_length: usize,
    /// Vocabulary size (rows of the token embedding).
    pub vocab_size: usize,
    /// True when the output projection shares the token embedding's weights.
    pub tied_embeddings: bool,
}

impl LlamaParams {
    /// Reads and validates the hyperparameters of a llama GGUF file.
    pub(crate) fn read(file: &GgufFile) -> Result<Self> {
        let architecture = file.string("general.architecture")?.to_owned();
        if architecture != "llama" {
            return Err(Error::UnsupportedArchitecture { architecture });
        }
        let key = |name: &str| format!("{architecture}.{name}");
        let layers = bounded(file, &key("block_count"), None, LAYERS_MAX)?;
        let hidden = bounded(file, &key("embedding_length"), None, HIDDEN_MAX)?;
        let ffn = bounded(file, &key("feed_forward_length"), None, FFN_MAX)?;
        let heads = bounded(file, &key("attention.head_count"), None, HEADS_MAX)?;
        let kv_heads = bounded(file, &key("attention.head_count_kv"), Some(heads), heads)?;
        let context_length = bounded(file, &key("context_length"), None, CONTEXT_MAX)?;
        if hidden % heads != 0 || heads % kv_heads != 0 {
            return Err(Error::InvalidMetadata {
                key: key("attention.head_count"),
                reason: format!(
                    "{heads} heads / {kv_heads} kv heads do not divide the width {hidden}"
                ),
            });
        }
        let head_dim = hidden / heads;
        let rope_dim = bounded(file, &key("rope.dimension_count"), Some(head_dim), HIDDEN_MAX)?;
        if rope_dim != head_dim || head_dim % 2 != 0 {
            return Err(Error::InvalidMetadata {
                key: key("rope.dimension_count"),
                reason: format!(
                    "rotary width {rope_dim} must equal the even head width {head_dim}"
                ),
            });
        }
        reject_unsupported(file, &architecture)?;
        let rms_eps = positive(file, &key("attention.layer_norm_rms_epsilon"), 1e-5)?;
        let rope_base = positive(file, &key("rope.freq_base"), 10_000.0)?;
        let vocab_size = file.strings("tokenizer.ggml.tokens")?.len();
        if vocab_size == 0 || vocab_size > VOCAB_MAX as usize {
            return Err(Error::InvalidMetadata {
                key: "tokenizer.ggml.tokens".to_owned(),
                reason: format!("{vocab_size} tokens, expected 1..={VOCAB_MAX}"),
            });
        }
        Ok(Self {
            architecture,
            layers: layers as usize,
            hidden: hidden as usize,
            ffn: ffn as usize,
            heads: heads as usize,
            kv_heads: kv_heads as usize,
            head_dim: head_dim as usize,
            rms_eps,
            rope_base,
            context_length: context_length as usize,
            vocab_size,
            tied_embeddings: !file.has_tensor("output.weight"),
        })
    }
}

/// A required (or defaulted) integer in `1..=max`.
fn bounded(file: &GgufFile, key: &str, default: Option<u32>, max: u32) -> Result<u32> {
    let value = match (file.u32_opt(key)?, default) {
        (Some(v), _) | (None, Some(v)) => v,
        (None, None) => return Err(Error::MissingMetadata { key: key.to_owned() }),
    };
    if value == 0 || value > max {
        return Err(Error::InvalidMetadata {
            key: key.to_owned(),
            reason: format!("{value} is outside 1..={max}"),
        });
    }
    Ok(value)
}

/// An optional positive finite float.
fn positive(file: &GgufFile, key: &str, default: f32) -> Result<f32> {
    let value = file.f32_opt(key)?.unwrap_or(default);
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::InvalidMetadata {
            key: key.to_owned(),
            reason: format!("{value} is not a positive finite number"),
        });
    }
    Ok(value)
}

/// Llama variants whose forward pass differs from the plain one implemented here.
fn reject_unsupported(file: &GgufFile, architecture: &str) -> Result<()> {
    let experts = format!("{architecture}.expert_count");
    if file.u32_opt(&experts)?.is_some_and(|n| n > 0) {
        return Err(Error::UnsupportedArchitecture {
            architecture: format!("{architecture} (mixture of experts)"),
        });
    }
    let scaling = format!("{architecture}.rope.scaling.type");
    if let Some(kind) = file.string_opt(&scaling)?
        && kind != "none"
    {
        return Err(Error::UnsupportedArchitecture {
            architecture: format!("{architecture} (rope scaling {kind:?})"),
        });
    }
    Ok(())
}
