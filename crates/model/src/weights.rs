//! Weight tensors of a llama GGUF file, converted at load to the format the forward pass runs.
//!
//! Why convert: candle's CPU kernels have a fast (AVX2) dot product for Q8_0 but only a scalar
//! one for Q4_1, the format SmolLM2 ships in, so Q4_1 runs 3–4× slower than the same weights
//! re-quantized to Q8_0, which is near-lossless (perplexity 23.77 vs 23.74 in f32). f32 is the
//! exact reference, and the fastest for long prompts, at four times the memory.

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
    /// Every matrix re-quantized to Q8_0 (the default: fast and near-lossless). Matrices whose
    /// input width is not a multiple of 32 stay in f32.
    Q8_0,
    /// Every matrix dequantized to f32: exact, fastest prefill, four times the memory.
    F32,
    /// Matrices kept in the file's format (slow for Q4_1; for comparisons).
    AsStored,
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
            matrix_from("token_embd.weight", &embedding, format)?
        } else {
            matrix(file, "output.weight", &[v, h], format)?
        };
        let output_norm = vector(file, "output_norm.weight", h)?;
        let mut blocks = Vec::with_capacity(params.layers);
        for i in 0..params.layers {
            let name = |t: &str| format!("blk.{i}.{t}.weight");
            blocks.push(Block {
                attn_norm: vector(file, &name("attn_norm"), h)?,
                wq: matrix(file, &name("attn_q"), &[q_width, h], format)?,
                wk: matrix(file, &name("attn_k"), &[kv_width, h], format)?,
                wv: matrix(file, &name("attn_v"), &[kv_width, h], format)?,
                wo: matrix(file, &name("attn_output"), &[h, q_width], format)?,
                ffn_norm: vector(file, &name("ffn_norm"), h)?,
                w_gate: matrix(file, &name("ffn_gate"), &[f, h], format)?,
                w_up: matrix(file, &name("ffn_up"), &[f, h], format)?,
                w_down: matrix(file, &name("ffn_down"), &[h, f], format)?,
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

/// A matrix weight, converted to `format`.
fn matrix(
    file: &mut GgufFile,
    name: &str,
    shape: &[usize],
    format: WeightFormat,
) -> Result<QMatMul> {
    let q = Arc::new(file.tensor(name, shape)?);
    matrix_from(name, &q, format)
}

fn matrix_from(name: &str, q: &Arc<QTensor>, format: WeightFormat) -> Result<QMatMul> {
    convert(q, format).map_err(|source| tensor_error(name, source))
}

fn convert(q: &Arc<QTensor>, format: WeightFormat) -> candle_core::Result<QMatMul> {
    let dense = matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
    let in_width = q.shape().dims().last().copied().unwrap_or(0);
    let q8_fits = in_width % GgmlDType::Q8_0.block_size() == 0;
    match format {
        WeightFormat::F32 => Ok(QMatMul::Tensor(q.dequantize(&Device::Cpu)?)),
        WeightFormat::AsStored if dense => Ok(QMatMul::Tensor(q.dequantize(&Device::Cpu)?)),
        WeightFormat::AsStored => Ok(QMatMul::QTensor(Arc::clone(q))),
        WeightFormat::Q8_0 if q.dtype() == GgmlDType::Q8_0 => Ok(QMatMul::QTensor(Arc::clone(q))),
        WeightFormat::Q8_0 if !q8_fits => Ok(QMatMul::Tensor(q.dequantize(&Device::Cpu)?)),
        WeightFormat::Q8_0 => {
            let requantized = QTensor::quantize(&q.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?;
            Ok(QMatMul::QTensor(Arc::new(requantized)))
        }
    }
}

fn tensor_error(name: &str, source: candle_core::Error) -> Error {
    Error::TensorData { name: name.to_owned(), source }
}
