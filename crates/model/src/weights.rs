//! Weight tensors of a llama GGUF file, converted at load to the format the forward pass runs.
//!
//! The default, [`WeightFormat::Native`], converts nothing: Q4_1 and Q8_0 matrices stay as
//! stored and run on alx-model's own kernels (`kernels`), which read the fewest bytes per
//! token. The other formats run on candle and are kept for comparison and as references.
//!
//! Why candle's Q8_0 format converts: candle's CPU kernels have a fast (AVX2) dot product for Q8_0 but only a scalar
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
    Device, Module as _, Tensor,
    quantized::{GgmlDType, QMatMul, QTensor},
};
use serde::Serialize;

use crate::{
    adapter::{Adapter, LowRank},
    error::{Error, Result},
    gguf::GgufFile,
    kernels::{self, QuantMatrix},
    params::LlamaParams,
    train::Projection,
};

/// How matrix weights are held in memory after loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// Q4_1 and Q8_0 matrices as stored, on alx-model's own kernels (the default: the fewest
    /// bytes per token, the arithmetic of llama.cpp); matrices in other formats or whose input
    /// width is not a multiple of 32 are converted to f32 and run on candle.
    Native,
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
    Native,
    Q8_0,
    F16,
    F32,
    AsStored,
}

impl WeightFormat {
    /// The target of every matrix but the down projections.
    const fn matrix(self) -> Target {
        match self {
            Self::Native => Target::Native,
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
    pub(crate) wq: Linear,
    pub(crate) wk: Linear,
    pub(crate) wv: Linear,
    pub(crate) wo: Linear,
    pub(crate) ffn_norm: Tensor,
    pub(crate) w_gate: Linear,
    pub(crate) w_up: Linear,
    pub(crate) w_down: Linear,
}

/// A matrix weight and the kernels that run its products.
pub(crate) enum Linear {
    /// candle's kernels (f32, f16, or its quantized formats).
    Candle(QMatMul),
    /// alx-model's own Q4_1/Q8_0 kernels.
    Own(QuantMatrix),
}

impl Linear {
    /// `x (rows, in) → (rows, out)`.
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Candle(m) => m.forward(x),
            Self::Own(w) => {
                let (rows, width) = x.dims2()?;
                if width != w.cols() {
                    candle_core::bail!("input width {width}, the matrix takes {}", w.cols());
                }
                let input = x.flatten_all()?.to_vec1::<f32>()?;
                Tensor::from_vec(w.matmul(&input, rows), (rows, w.rows()), &Device::Cpu)
            }
        }
    }
}

/// All weights of a llama model.
pub(crate) struct Weights {
    /// Token embedding in the file's format; rows are dequantized on lookup.
    pub(crate) embedding: Arc<QTensor>,
    pub(crate) blocks: Vec<Block>,
    pub(crate) output_norm: Tensor,
    pub(crate) lm_head: Linear,
}

impl Weights {
    /// Reads every tensor of `params`' shape from `file` and converts it to `format`, with
    /// `merge`'s updates folded into the projections it adapts.
    pub(crate) fn read(
        file: &mut GgufFile,
        params: &LlamaParams,
        format: WeightFormat,
        merge: Option<&Adapter>,
    ) -> Result<Self> {
        let (h, f, v) = (params.hidden, params.ffn, params.vocab_size);
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
            let mut projection = |which: Projection| -> Result<Linear> {
                let (out, width) = which.shape(params);
                let name = name(which.name());
                match merge.and_then(|a| a.update(i, which)) {
                    None => matrix(file, &name, &[out, width], format.matrix()),
                    Some(update) => {
                        let q = file.tensor(&name, &[out, width])?;
                        merged(&name, &q, update, format.matrix())
                    }
                }
            };
            blocks.push(Block {
                wq: projection(Projection::Q)?,
                wk: projection(Projection::K)?,
                wv: projection(Projection::V)?,
                wo: projection(Projection::O)?,
                attn_norm: vector(file, &name("attn_norm"), h)?,
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
fn matrix(file: &mut GgufFile, name: &str, shape: &[usize], target: Target) -> Result<Linear> {
    let q = Arc::new(file.tensor(name, shape)?);
    matrix_from(name, &q, target)
}

fn matrix_from(name: &str, q: &Arc<QTensor>, target: Target) -> Result<Linear> {
    if target == Target::Native
        && let Some(own) = native(q).map_err(|source| tensor_error(name, source))?
    {
        return Ok(Linear::Own(own));
    }
    convert(q, target).map(Linear::Candle).map_err(|source| tensor_error(name, source))
}

/// `q` on alx-model's kernels, if its format has them.
fn native(q: &QTensor) -> candle_core::Result<Option<QuantMatrix>> {
    let &[rows, cols] = q.shape().dims() else { return Ok(None) };
    if !cols.is_multiple_of(kernels::BLOCK) {
        return Ok(None);
    }
    let bytes = q.data()?;
    let matrix = match q.dtype() {
        GgmlDType::Q4_1 => QuantMatrix::from_q4_1(rows, cols, &bytes),
        GgmlDType::Q8_0 => QuantMatrix::from_q8_0(rows, cols, &bytes),
        _ => return Ok(None),
    };
    matrix.map(Some).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

fn convert(q: &Arc<QTensor>, target: Target) -> candle_core::Result<QMatMul> {
    let dense = matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
    let in_width = q.shape().dims().last().copied().unwrap_or(0);
    let q8_fits = in_width % GgmlDType::Q8_0.block_size() == 0;
    match target {
        Target::F32 | Target::Native => Ok(QMatMul::Tensor(q.dequantize(&Device::Cpu)?)),
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

/// `q + s·B·A`, in f32 when `target` is f32 and in Q8_0 otherwise: 4-bit rounding would
/// erase most of a small update.
fn merged(
    name: &str,
    q: &QTensor,
    (update, scale): (&LowRank, f32),
    target: Target,
) -> Result<Linear> {
    let build = || -> candle_core::Result<Arc<QTensor>> {
        let dense = q.dequantize(&Device::Cpu)?;
        let delta = Tensor::from_vec(update.dense(scale), dense.shape(), &Device::Cpu)?;
        let sum = (dense + delta)?;
        let width = sum.dims().last().copied().unwrap_or(0);
        if target == Target::F32 || width % GgmlDType::Q8_0.block_size() != 0 {
            // Held as "f32 stored": `matrix_from` keeps it dense.
            return QTensor::quantize(&sum, GgmlDType::F32).map(Arc::new);
        }
        QTensor::quantize(&sum, GgmlDType::Q8_0).map(Arc::new)
    };
    let q = build().map_err(|source| tensor_error(name, source))?;
    let target = if target == Target::Native { Target::Native } else { Target::AsStored };
    matrix_from(name, &q, target)
}

fn tensor_error(name: &str, source: candle_core::Error) -> Error {
    Error::TensorData { name: name.to_owned(), source }
}
