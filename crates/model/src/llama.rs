//! The llama forward pass: token embedding, blocks of (RMSNorm → grouped-query attention with
//! interleaved RoPE) and (RMSNorm → SwiGLU MLP) with residual connections, a final RMSNorm and
//! the output projection.
//!
//! Shapes for a sequence of `s` new tokens after `p` cached ones (batch size is always 1):
//!
//! ```text
//! x (s, hidden) ─ norm ─┬─ q (heads, s, d)
//!                       └─ k, v (kv_heads, s, d) ─ cache ─ K, V (kv_heads, p+s, d)
//! q regrouped (kv_heads, group·s, d) · Kᵀ → scores (heads, s, p+s) + causal mask
//! softmax · V → (heads, s, d) → (s, hidden) ─ wo ─ + x
//! ```
//!
//! GGUF llama files store Q and K permuted for the interleaved rotary convention (pairs
//! `(2i, 2i+1)` rotate together), hence `rope_i`. Query head `h` reads key/value head
//! `h / group`; regrouping the queries instead of repeating the keys avoids copying the cache.

use candle_core::{D, Device, Tensor};
use candle_nn::{
    ops::{rms_norm, softmax_last_dim},
    rotary_emb::rope_i,
};

use crate::{
    adapter::{Adapter, RowAdapters, add_updates},
    attention::{self, Heads},
    cache::KvCache,
    error::{Error, Result},
    params::LlamaParams,
    train::Projection,
    weights::{Block, Linear, Weights},
};

/// Which positions of a forward pass get logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// Only the last position (next-token prediction; skips most of the output projection).
    Last,
    /// Every position (perplexity, scoring).
    All,
}

/// A loaded llama model: weights plus precomputed rotary tables.
pub(crate) struct Llama {
    params: LlamaParams,
    weights: Weights,
    /// Usable context length (the model's, possibly capped by the load configuration).
    context_length: usize,
    cos: Tensor,
    sin: Tensor,
}

impl Llama {
    pub(crate) fn new(
        params: LlamaParams,
        weights: Weights,
        context_length: usize,
    ) -> Result<Self> {
        let (cos, sin) = rope_tables(&params, context_length)?;
        Ok(Self { params, weights, context_length, cos, sin })
    }

    pub(crate) const fn context_length(&self) -> usize {
        self.context_length
    }

    /// A cache sized for this model.
    pub(crate) fn cache(&self) -> KvCache {
        KvCache::new(self.params.layers, self.context_length)
    }

    /// Bytes one position takes in a cache (keys and values of every layer, f32).
    pub(crate) const fn cache_bytes_per_token(&self) -> usize {
        self.params.layers * self.params.kv_heads * self.params.head_dim * 2 * 4
    }

    /// Runs `tokens` after the ones already in `cache`, appends them to the cache and returns
    /// logits `(positions, vocab)` as f32.
    pub(crate) fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        positions: Positions,
        adapter: Option<&Adapter>,
    ) -> Result<Tensor> {
        let hidden = self.hidden(tokens, cache, adapter)?;
        let hidden = match positions {
            Positions::Last => hidden.narrow(0, tokens.len() - 1, 1)?,
            Positions::All => hidden,
        };
        self.logits(&hidden)
    }

    /// Logits `(rows, vocab)` of final hidden states `(rows, hidden)`.
    pub(crate) fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let x = rms_norm(hidden, &self.weights.output_norm, self.params.rms_eps)?;
        Ok(self.weights.lm_head.forward(&x)?)
    }

    /// The embedding of `tokens` from an empty context: the final-normed hidden states (what
    /// the output projection reads) averaged over the positions, scaled to unit length.
    pub(crate) fn embed(&self, tokens: &[u32], adapter: Option<&Adapter>) -> Result<Vec<f32>> {
        let mut cache = self.cache();
        cache.reserve(tokens.len());
        let hidden = self.hidden(tokens, &mut cache, adapter)?;
        let x = rms_norm(&hidden, &self.weights.output_norm, self.params.rms_eps)?;
        let mean = x.mean(0)?;
        let norm = mean.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?;
        let mean = if norm > 0.0 { (mean / f64::from(norm))? } else { mean };
        Ok(mean.to_vec1::<f32>()?)
    }

    /// Runs `tokens` after the ones already in `cache`, appends them to the cache and returns
    /// the last block's output `(tokens, hidden)`, before the final norm.
    pub(crate) fn hidden(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        adapter: Option<&Adapter>,
    ) -> Result<Tensor> {
        let seq = tokens.len();
        let start = cache.len();
        if seq == 0 {
            return Err(Error::TooFewTokens { needed: 1, got: 0 });
        }
        if start + seq > self.context_length {
            return Err(Error::ContextOverflow {
                prompt_tokens: start,
                max_tokens: seq,
                context_length: self.context_length,
            });
        }
        let vocab_size = self.params.vocab_size;
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= vocab_size) {
            return Err(Error::TokenOutOfRange { token, vocab_size });
        }
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut x = self.weights.embedding.embedding(&ids)?;
        let cos = self.cos.narrow(0, start, seq)?;
        let sin = self.sin.narrow(0, start, seq)?;
        let mask = if seq > 1 { Some(causal_mask(seq, start)?) } else { None };
        let eps = self.params.rms_eps;
        for (layer, block) in self.weights.blocks.iter().enumerate() {
            let h = rms_norm(&x, &block.attn_norm, eps)?;
            let rope = Rope { cos: &cos, sin: &sin };
            let at = At { layer, adapters: RowAdapters::All(adapter) };
            let attn = self.attention(block, &h, rope, mask.as_ref(), cache, at)?;
            x = (x + attn)?;
            let h = rms_norm(&x, &block.ffn_norm, eps)?;
            let gate = block.w_gate.forward(&h)?.silu()?;
            let up = block.w_up.forward(&h)?;
            x = (x + block.w_down.forward(&(gate * up)?)?)?;
        }
        cache.commit(seq);
        Ok(x)
    }

    /// One decode step of several sequences at once: `tokens[i]` follows the tokens in
    /// `caches[i]`. The weight products run once over all rows (decode reads every weight once
    /// per step, so a step of `n` sequences costs little more than a step of one); attention
    /// runs per sequence over its own cache. Every row's arithmetic is the one `forward` does
    /// for that sequence alone, so batching does not change a token. Returns logits
    /// `(tokens, vocab)`.
    pub(crate) fn decode_batch(
        &self,
        tokens: &[u32],
        caches: &mut [&mut KvCache],
        adapters: &[Option<&Adapter>],
    ) -> Result<Tensor> {
        let rows = tokens.len();
        if rows == 0 || rows != caches.len() || rows != adapters.len() {
            return Err(Error::TooFewTokens { needed: caches.len().max(1), got: rows });
        }
        let vocab_size = self.params.vocab_size;
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= vocab_size) {
            return Err(Error::TokenOutOfRange { token, vocab_size });
        }
        if let Some(full) = caches.iter().find(|c| c.len() + 1 > self.context_length) {
            return Err(Error::ContextOverflow {
                prompt_tokens: full.len(),
                max_tokens: 1,
                context_length: self.context_length,
            });
        }
        let positions: Vec<u32> =
            caches.iter().map(|c| u32::try_from(c.len()).unwrap_or(u32::MAX)).collect();
        let positions = Tensor::new(positions.as_slice(), &Device::Cpu)?;
        let cos = self.cos.index_select(&positions, 0)?.contiguous()?;
        let sin = self.sin.index_select(&positions, 0)?.contiguous()?;
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut x = self.weights.embedding.embedding(&ids)?;
        let eps = self.params.rms_eps;
        let p = &self.params;
        let shape = Heads { heads: p.heads, kv_heads: p.kv_heads, head_dim: p.head_dim };
        for (layer, block) in self.weights.blocks.iter().enumerate() {
            let h = rms_norm(&x, &block.attn_norm, eps)?;
            // (rows, n·d) → (n, rows, d): the rows take the place of a sequence's positions,
            // each with its own rotary row.
            let at = At { layer, adapters: RowAdapters::PerRow(adapters) };
            let heads = |w: &Linear, which: Projection, n: usize| -> Result<Tensor> {
                let t = at.project(w, which, &h)?.reshape((rows, n, p.head_dim))?;
                Ok(t.transpose(0, 1)?.contiguous()?)
            };
            let rope = Rope { cos: &cos, sin: &sin };
            let q = rope.apply(&heads(&block.wq, Projection::Q, p.heads)?)?;
            let k = rope.apply(&heads(&block.wk, Projection::K, p.kv_heads)?)?;
            let v = heads(&block.wv, Projection::V, p.kv_heads)?;
            let mut out = Vec::with_capacity(rows * p.heads * p.head_dim);
            for (i, cache) in caches.iter_mut().enumerate() {
                let ki = k.narrow(1, i, 1)?.contiguous()?;
                let vi = v.narrow(1, i, 1)?.contiguous()?;
                let (keys, values) = cache.append(layer, &ki, &vi)?;
                let qi = q.narrow(1, i, 1)?.flatten_all()?.to_vec1::<f32>()?;
                match attention::one_token(&qi, &keys, &values, shape) {
                    Some(o) => out.extend(o),
                    None => {
                        let o = self.attention_slow(&q.narrow(1, i, 1)?, &keys, &values)?;
                        out.extend(o.flatten_all()?.to_vec1::<f32>()?);
                    }
                }
            }
            let attn = Tensor::from_vec(out, (rows, p.heads * p.head_dim), &Device::Cpu)?;
            x = (x + at.project(&block.wo, Projection::O, &attn)?)?;
            let h = rms_norm(&x, &block.ffn_norm, eps)?;
            let gate = block.w_gate.forward(&h)?.silu()?;
            let up = block.w_up.forward(&h)?;
            x = (x + block.w_down.forward(&(gate * up)?)?)?;
        }
        for cache in caches.iter_mut() {
            cache.commit(1);
        }
        self.logits(&x)
    }

    /// Attention of one query position `(heads, 1, d)` over `keys`/`values` through candle,
    /// for caches not laid out as `attention::one_token` reads them; returns `(heads, d)`.
    fn attention_slow(&self, q: &Tensor, keys: &Tensor, values: &Tensor) -> Result<Tensor> {
        let p = &self.params;
        let group = p.heads / p.kv_heads;
        let q = q.contiguous()?.reshape((p.kv_heads, group, p.head_dim))?;
        let scale = 1.0 / (p.head_dim as f64).sqrt();
        let scores = (q.matmul(&keys.t()?)? * scale)?;
        let probs = softmax_last_dim(&scores)?;
        Ok(probs.matmul(values)?.reshape((p.heads, p.head_dim))?)
    }

    fn attention(
        &self,
        block: &Block,
        h: &Tensor,
        rope: Rope<'_>,
        mask: Option<&Tensor>,
        cache: &mut KvCache,
        at: At<'_>,
    ) -> Result<Tensor> {
        let p = &self.params;
        let seq = h.dim(0)?;
        let heads = |w: &Linear, which: Projection, n: usize| -> Result<Tensor> {
            let t = at.project(w, which, h)?.reshape((seq, n, p.head_dim))?;
            Ok(t.transpose(0, 1)?.contiguous()?)
        };
        let q = rope.apply(&heads(&block.wq, Projection::Q, p.heads)?)?;
        let k = rope.apply(&heads(&block.wk, Projection::K, p.kv_heads)?)?;
        let v = heads(&block.wv, Projection::V, p.kv_heads)?;
        let (keys, values) = cache.append(at.layer, &k, &v)?;
        if seq == 1 {
            let shape = Heads { heads: p.heads, kv_heads: p.kv_heads, head_dim: p.head_dim };
            let query = q.flatten_all()?.to_vec1::<f32>()?;
            if let Some(out) = attention::one_token(&query, &keys, &values, shape) {
                let out = Tensor::from_vec(out, (1, p.heads * p.head_dim), &Device::Cpu)?;
                return at.project(&block.wo, Projection::O, &out);
            }
        }
        let total = keys.dim(1)?;
        let group = p.heads / p.kv_heads;
        let q = q.reshape((p.kv_heads, group * seq, p.head_dim))?;
        let scale = 1.0 / (p.head_dim as f64).sqrt();
        let scores = (q.matmul(&keys.t()?)? * scale)?.reshape((p.heads, seq, total))?;
        let scores = match mask {
            Some(mask) => scores.broadcast_add(mask)?,
            None => scores,
        };
        let probs = softmax_last_dim(&scores)?.reshape((p.kv_heads, group * seq, total))?;
        let out = probs.matmul(&values)?.reshape((p.heads, seq, p.head_dim))?;
        let out = out.transpose(0, 1)?.reshape((seq, p.heads * p.head_dim))?;
        at.project(&block.wo, Projection::O, &out)
    }
}

/// A block of a forward pass and the adapters of its rows.
#[derive(Clone, Copy)]
struct At<'a> {
    layer: usize,
    adapters: RowAdapters<'a>,
}

impl At<'_> {
    /// `x·Wᵀ` plus each row's adapter update of `which`.
    fn project(self, w: &Linear, which: Projection, x: &Tensor) -> Result<Tensor> {
        add_updates(x, w.forward(x)?, self.layer, which, self.adapters)
    }
}

/// The rotary tables of the positions being computed.
#[derive(Clone, Copy)]
struct Rope<'a> {
    cos: &'a Tensor,
    sin: &'a Tensor,
}

impl Rope<'_> {
    /// Rotates `(heads, seq, head_dim)`.
    fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(rope_i(&x.unsqueeze(0)?, self.cos, self.sin)?.squeeze(0)?)
    }
}

/// `cos` and `sin` of `position · base^(-2i/d)` for every position below `len`, `(len, d/2)`.
fn rope_tables(params: &LlamaParams, len: usize) -> Result<(Tensor, Tensor)> {
    let half = params.head_dim / 2;
    let d = params.head_dim as f32;
    let inv_freq: Vec<f32> =
        (0..half).map(|i| params.rope_base.powf(-2.0 * i as f32 / d)).collect();
    let mut cos = Vec::with_capacity(len * half);
    let mut sin = Vec::with_capacity(len * half);
    for position in 0..len {
        for &f in &inv_freq {
            let angle = position as f32 * f;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    let cos = Tensor::from_vec(cos, (len, half), &Device::Cpu)?;
    let sin = Tensor::from_vec(sin, (len, half), &Device::Cpu)?;
    Ok((cos, sin))
}

/// `(seq, start + seq)`: 0 where query `i` (at position `start + i`) may attend to key `j`,
/// minus infinity after it.
fn causal_mask(seq: usize, start: usize) -> Result<Tensor> {
    let total = start + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..total).map(move |j| if j > start + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(mask, (seq, total), &Device::Cpu)?)
}

/// Natural-log probabilities of `targets[i]` under logits row `i`, `(n, vocab)` → n values.
pub(crate) fn target_log_probs(logits: &Tensor, targets: &[u32]) -> Result<Vec<f32>> {
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let ids = Tensor::new(targets, &Device::Cpu)?.unsqueeze(1)?;
    Ok(log_probs.gather(&ids, 1)?.squeeze(1)?.to_vec1::<f32>()?)
}
