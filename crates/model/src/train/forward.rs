//! The training forward pass: the llama of `crate::llama` rebuilt from operations that have a
//! backward pass (candle's fused `rms_norm`, `softmax_last_dim` and `rope_i` kernels have
//! none), over frozen f32 weights dequantized from the GGUF, with low-rank updates
//! `(α / r) · B · A · x` added to the chosen attention projections. Only `A` and `B` are
//! variables; the base gets no gradient (`frozen::linear`).

use super::{
    frozen::linear,
    lora::{Lora, Projection},
};
use crate::{
    error::{Error, Result},
    gguf::GgufFile,
    params::LlamaParams,
};
use candle_core::{D, Device, Tensor};
use candle_nn::{ops, rotary_emb::rope_i_slow};
use std::path::Path;

/// One block's frozen weights.
pub(crate) struct FrozenBlock {
    attn_norm: Tensor,
    pub(crate) wq: Tensor,
    pub(crate) wk: Tensor,
    pub(crate) wv: Tensor,
    pub(crate) wo: Tensor,
    ffn_norm: Tensor,
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

/// A model's weights, every one dequantized to f32 and held constant.
pub struct FrozenBase {
    pub(crate) params: LlamaParams,
    embedding: Tensor,
    pub(crate) blocks: Vec<FrozenBlock>,
    output_norm: Tensor,
    lm_head: Tensor,
    cos: Tensor,
    sin: Tensor,
}

fn f32_tensor(file: &mut GgufFile, name: &str, shape: &[usize]) -> Result<Tensor> {
    let q = file.tensor(name, shape)?;
    q.dequantize(&Device::Cpu).map_err(|source| Error::TensorData { name: name.to_owned(), source })
}

impl FrozenBase {
    /// Reads a llama GGUF file and dequantizes every weight; sequences up to `context` tokens.
    ///
    /// # Errors
    /// A file that is not a llama GGUF of a consistent shape.
    pub fn load(path: &Path, context: usize) -> Result<Self> {
        let mut file = GgufFile::open(path)?;
        let params = LlamaParams::read(&file)?;
        let (h, f, v) = (params.hidden, params.ffn, params.vocab_size);
        let (qw, kvw) = (params.heads * params.head_dim, params.kv_heads * params.head_dim);
        let embedding = f32_tensor(&mut file, "token_embd.weight", &[v, h])?;
        let lm_head = if params.tied_embeddings {
            embedding.clone()
        } else {
            f32_tensor(&mut file, "output.weight", &[v, h])?
        };
        let output_norm = f32_tensor(&mut file, "output_norm.weight", &[h])?;
        let mut blocks = Vec::with_capacity(params.layers);
        for i in 0..params.layers {
            let mut t = |name: &str, shape: &[usize]| {
                f32_tensor(&mut file, &format!("blk.{i}.{name}.weight"), shape)
            };
            blocks.push(FrozenBlock {
                attn_norm: t("attn_norm", &[h])?,
                wq: t("attn_q", &[qw, h])?,
                wk: t("attn_k", &[kvw, h])?,
                wv: t("attn_v", &[kvw, h])?,
                wo: t("attn_output", &[h, qw])?,
                ffn_norm: t("ffn_norm", &[h])?,
                gate: t("ffn_gate", &[f, h])?,
                up: t("ffn_up", &[f, h])?,
                down: t("ffn_down", &[h, f])?,
            });
        }
        let context = context.min(params.context_length).max(1);
        let (cos, sin) = rope_tables(&params, context)?;
        Ok(Self { params, embedding, blocks, output_norm, lm_head, cos, sin })
    }

    /// The longest sequence a step may take.
    #[must_use]
    pub fn context(&self) -> usize {
        self.cos.dims()[0]
    }

    /// Logits `(tokens, vocab)` of `tokens` from an empty context, with `lora`'s updates.
    pub(crate) fn forward(&self, tokens: &[u32], lora: &Lora) -> Result<Tensor> {
        let p = &self.params;
        let seq = tokens.len();
        if seq == 0 || seq > self.context() {
            return Err(Error::ContextOverflow {
                prompt_tokens: seq,
                max_tokens: 0,
                context_length: self.context(),
            });
        }
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= p.vocab_size) {
            return Err(Error::TokenOutOfRange { token, vocab_size: p.vocab_size });
        }
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut x = self.embedding.index_select(&ids, 0)?;
        let cos = self.cos.narrow(0, 0, seq)?;
        let sin = self.sin.narrow(0, 0, seq)?;
        let mask = causal_mask(seq)?;
        let eps = p.rms_eps;
        for (layer, b) in self.blocks.iter().enumerate() {
            let h = ops::rms_norm_slow(&x, &b.attn_norm, eps)?;
            let project = |which: Projection, w: &Tensor, input: &Tensor| -> Result<Tensor> {
                let base = linear(input, w)?;
                Ok(match lora.update(layer, which, input)? {
                    Some(delta) => (base + delta)?,
                    None => base,
                })
            };
            let heads = |t: Tensor, n: usize| -> Result<Tensor> {
                Ok(t.reshape((1, seq, n, p.head_dim))?.transpose(1, 2)?.contiguous()?)
            };
            let q = rope_i_slow(&heads(project(Projection::Q, &b.wq, &h)?, p.heads)?, &cos, &sin)?;
            let k =
                rope_i_slow(&heads(project(Projection::K, &b.wk, &h)?, p.kv_heads)?, &cos, &sin)?;
            let v = heads(project(Projection::V, &b.wv, &h)?, p.kv_heads)?;
            let (k, v) =
                (repeat_kv(&k, p.heads / p.kv_heads)?, repeat_kv(&v, p.heads / p.kv_heads)?);
            let scale = 1.0 / (p.head_dim as f64).sqrt();
            let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&mask)?;
            let probs = ops::softmax(&scores, D::Minus1)?;
            let out = probs.matmul(&v)?.transpose(1, 2)?.reshape((seq, p.heads * p.head_dim))?;
            x = (x + project(Projection::O, &b.wo, &out)?)?;
            let h = ops::rms_norm_slow(&x, &b.ffn_norm, eps)?;
            let gated = (linear(&h, &b.gate)?.silu()? * linear(&h, &b.up)?)?;
            x = (x + linear(&gated, &b.down)?)?;
        }
        let x = ops::rms_norm_slow(&x, &self.output_norm, eps)?;
        Ok(linear(&x, &self.lm_head)?)
    }
}

/// `(1, kv, seq, d)` → `(1, kv · group, seq, d)`, each key/value head shared by `group` query
/// heads in order.
fn repeat_kv(x: &Tensor, group: usize) -> Result<Tensor> {
    if group == 1 {
        return Ok(x.clone());
    }
    let (b, kv, seq, d) = x.dims4()?;
    Ok(x.unsqueeze(2)?.expand((b, kv, group, seq, d))?.reshape((b, kv * group, seq, d))?)
}

/// `cos`/`sin` tables as `crate::llama` builds them (the same angles, `(len, d/2)`).
fn rope_tables(params: &LlamaParams, len: usize) -> Result<(Tensor, Tensor)> {
    let half = params.head_dim / 2;
    let d = params.head_dim as f32;
    let inv_freq: Vec<f32> =
        (0..half).map(|i| params.rope_base.powf(-2.0 * i as f32 / d)).collect();
    let (mut cos, mut sin) = (Vec::with_capacity(len * half), Vec::with_capacity(len * half));
    for position in 0..len {
        for &f in &inv_freq {
            let angle = position as f32 * f;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    Ok((
        Tensor::from_vec(cos, (len, half), &Device::Cpu)?,
        Tensor::from_vec(sin, (len, half), &Device::Cpu)?,
    ))
}

fn causal_mask(seq: usize) -> Result<Tensor> {
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..seq).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(mask, (seq, seq), &Device::Cpu)?)
}
