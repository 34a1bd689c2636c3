//! Weight tensors of a llama GGUF file, converted at load to the format the forward pass runs.
//!
//! Why convert: candle's CPU kernels have a fast (AVX2) dot product for Q8_0 but only a scalar
//! one for Q4_1, the format SmolLM2 ships in, so Q4_1 runs 3–4× slower than the same weights
//! re-quantized to Q8_0, which is near-lossless (perplexity 23.70 vs 23.74 in f32). f32 is the
//! exact reference, and the fastest for long prompts, at four times the memory.
//!
//! One exception in Q8_0: the feed-forward down projections are held in f16. A product with a
//! Q8_0 matrix quantizes the activations to 8 bits too (in blocks of 32, one scale each), and
//! the down projection's input, the SwiGLU product, has large outliers that flatten the other
//! values of their block. That barely moves perplexity but flips near-ties: SmolLM2's greedy
//! answer to "What is the capital of France?" becomes a French ramble instead of "The capital
//! of France is Paris.", as candle's own Q4_1 path does too. With the down projections in f16
//! (activations in f16, no blocks) the answers match f32 again, at the same speed and +28 MB
//! for SmolLM2.

use std::sync::Arc;

use candle_core::{
    Device, Tensor,
    quantized::{GgmlDType, QMatMul, QTensor},
};
use serde::Serialize;

use crate::{
    error::{Error, Result},
    gguf::GgufFile,
    params::LlamaParams,
};

/// How matrix weights are held in memory after loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// Every matrix re-quantized to Q8_0 (the default: fast and near-lossless), except the
    /// feed-forward down projections, held in f16. Matrices whose input width is not a
    /// multiple of 32 stay in f32.
    Q8_0,
    /// Every matrix dequantized to f32: exact, fastest prefill, four times the memory.
    F32,
    /// Matrices kept in the file's format (slow for Q4_1; for comparisons).
    AsStored,
}

/// What one matrix becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Q8_0,
    F16,
    F32,
    AsStored,
}

impl WeightFormat {
    /// The target of every matrix but the down projections.
    const fn matrix(self) -> Target {
        match self {
            Self::Q8_0 => Target::Q8_0,
            Self::F32 => Target::F32,
            Self::AsStored => Target::AsStored,
        }
    }

    /// The target of the feed-forward down projections (see the module docs).
    const fn down_projection(self) -> Target {
        match self {
            Self::Q8_0 => Target::F16,
            other => other.matrix(),
        }
    }
}

/// One transformer block.
pub(crate) struct Block {
    pub(crate) attn_norm: Tensor,
    pub(crate) wq: QMatMul,
    pub(crate) wk: QMatMul,
    pub(crate) wv: QMatMul,
    pub(crate) wo: QMatMul,
    pub(crate) ffn_norm: Tensor,
    pub(crate) w_gate: QMatMul,
    pub(crate) w_up: QMatMul,
    pub(crate) w_down: QMatMul,
}

/// All weights of a llama model.
pub(crate) struct Weights {
    /// Token embedding in the file's format; rows are dequantized on lookup.
    pub(crate) embedding: Arc<QTensor>,
    pub(crate) blocks: Vec<Block>,
    pub(crate) output_norm: Tensor,
    pub(crate) lm_head: QMatMul,
}

impl Weights {
    /// Reads every tensor of `params`' shape from `file` and converts it to `format`.
    pub(crate) fn read(
        file: &mut GgufFile,
        params: &LlamaParams,
        format: WeightFormat,
    ) -> Result<Self> {
        let (h, f, v) = (params.hidden, params.ffn, params.vocab_size);
        let q_width = params.heads * params.head_dim;
        let kv_width = params.kv_heads * params.head_dim;
        let embedding = Arc::new(file.tensor("token_embd.weight", &[v, h])?);
        let lm_head = if params.tied_embeddings {
            matrix_from("token_embd.weight", &embedding, format.matrix())?
        } else {
            matrix(file, "output.weight", &[v, h], format.matrix())?
        };
        let output_norm = vector(file, "output_norm.weight", h)?;
        let mut blocks = Vec::with_capacity(params.layers);
        for i in 0..params.layers {
            let name = |t: &str| format!("blk.{i}.{t}.weight");
            blocks.push(Block {
                attn_norm: vector(file, &name("attn_norm"), h)?,
                wq: matrix(file, &name("attn_q"), &[q_width, h], format.matrix())?,
                wk: matrix(file, &name("attn_k"), &[kv_width, h], format.matrix())?,
                wv: matrix(file, &name("attn_v"), &[kv_width, h], format.matrix())?,
                wo: matrix(file, &name("attn_output"), &[h, q_width], format.matrix())?,
                ffn_norm: vector(file, &name("ffn_norm"), h)?,
                w_gate: matrix(file, &name("ffn_gate"), &[f, h], format.matrix())?,
                w_up: matrix(file, &name("ffn_up"), &[f, h], format.matrix())?,
                w_down: matrix(file, &name("ffn_down"), &[h, f], format.down_projection())?,
            });
        }
        Ok(Self { embedding, blocks, output_norm, lm_head })
    }
}

/// A norm weight, always f32.
fn vector(file: &mut GgufFile, name: &str, len: usize) -> Result<Tensor> {
    let q = file.tensor(name, &[len])?;
    q.dequantize(&Device::Cpu).map_err(|source| tensor_error(name, source))
}

/// A matrix weight, converted to `target`.
fn matrix(file: &mut GgufFile, name: &str, shape: &[usize], target: Target) -> Result<QMatMul> {
    let q = Arc::new(file.tensor(name, shape)?);
    matrix_from(name, &q, target)
}

fn matrix_from(name: &str, q: &Arc<QTensor>, target: Target) -> Result<QMatMul> {
    convert(q, target).map_err(|source| tensor_error(name, source))
}

fn convert(q: &Arc<QTensor>, target: Target) -> candle_core::Result<QMatMul> {
    let dense = matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
    let in_width = q.shape().dims().last().copied().unwrap_or(0);
    let q8_fits = in_width % GgmlDType::Q8_0.block_size() == 0;
    match target {
        Target::F32 => Ok(QMatMul::Tensor(q.dequantize(&Device::Cpu)?)),
        Target::F16 => Ok(QMatMul::TensorF16(q.dequantize_f16(&Device::Cpu)?)),
        Target::AsStored if dense => Ok(QMatMul::Tensor(q.dequantize(&Device::Cpu)?)),
        Target::AsStored => Ok(QMatMul::QTensor(Arc::clone(q))),
        Target::Q8_0 if q.dtype() == GgmlDType::Q8_0 => Ok(QMatMul::QTensor(Arc::clone(q))),
        Target::Q8_0 if !q8_fits => Ok(QMatMul::Tensor(q.dequantize(&Device::Cpu)?)),
        Target::Q8_0 => {
            let requantized = QTensor::quantize(&q.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?;
            Ok(QMatMul::QTensor(Arc::new(requantized)))
        }
    }
}

fn tensor_error(name: &str, source: candle_core::Error) -> Error {
    Error::TensorData { name: name.to_owned(), source }
}
