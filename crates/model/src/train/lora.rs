//! LoRA adapters: for each chosen projection `W` `(out, in)` of each block, `A` `(r, in)` drawn
//! from N(0, 1/in) by a seeded stream and `B` `(out, r)` zero, so training starts from the base
//! model exactly; the projection becomes `W·x + (α / r)·B·A·x`. Saved as safetensors, one pair
//! of tensors per projection (`blk.{i}.{proj}.lora_a`, `….lora_b`).

use crate::error::{Error, Result};
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path};

/// The attention projections an adapter may update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Projection {
    /// Queries.
    Q,
    /// Keys.
    K,
    /// Values.
    V,
    /// The attention output.
    O,
}

impl Projection {
    /// Every projection.
    pub const ALL: [Self; 4] = [Self::Q, Self::K, Self::V, Self::O];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Q => "attn_q",
            Self::K => "attn_k",
            Self::V => "attn_v",
            Self::O => "attn_output",
        }
    }

    /// `(out, in)` of this projection in a model of `params`.
    pub(crate) const fn shape(self, params: &crate::LlamaParams) -> (usize, usize) {
        let (q, kv) = (params.heads * params.head_dim, params.kv_heads * params.head_dim);
        match self {
            Self::Q => (q, params.hidden),
            Self::K | Self::V => (kv, params.hidden),
            Self::O => (params.hidden, q),
        }
    }
}

/// The shape of an adapter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank `r` of each update.
    pub rank: usize,
    /// Scale `α` (the update is multiplied by `α / r`).
    pub alpha: f32,
    /// The projections updated in every block.
    pub targets: Vec<Projection>,
    /// Seed of `A`'s initial values (and of the dropout masks).
    pub seed: u64,
    /// Share of the update's inputs zeroed while training (the survivors scaled up to keep
    /// the mean), in `[0, 1)`; 0 is off. Masks come from the seed, the step and the
    /// micro-batch, so a run resumed from a checkpoint draws the same ones.
    #[serde(default)]
    pub dropout: f32,
}

impl LoraConfig {
    /// Refuses a shape that cannot be trained or served.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] saying which value and its range.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::InvalidConfig { reason });
        if !(1..=crate::RANK_MAX).contains(&self.rank) {
            return bad(format!("rank {} is not 1 to {}", self.rank, crate::RANK_MAX));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return bad(format!("alpha {} is not a positive number", self.alpha));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        if self.targets.is_empty() {
            return bad("an adapter needs at least one projection".into());
        }
        Ok(())
    }

    /// Rank 8, α 16, every attention projection, seed 0, no dropout.
    #[must_use]
    pub fn default_for_attention() -> Self {
        Self { rank: 8, alpha: 16.0, targets: Projection::ALL.to_vec(), seed: 0, dropout: 0.0 }
    }
}

/// An adapter's variables, in a fixed order (block, projection).
pub(crate) struct Lora {
    pub(crate) config: LoraConfig,
    /// (block, projection) → (A, B).
    pairs: BTreeMap<(usize, Projection), (Var, Var)>,
    /// The dropout stream of the forward pass being trained, if any (none when evaluating).
    dropout_stream: std::cell::Cell<Option<u64>>,
}

/// SplitMix64: a stream of 64-bit values from a seed, the same on every machine.
pub(crate) fn splitmix(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// SplitMix64, then Box–Muller: the same seed gives the same initial adapter on every machine.
fn normal_stream(seed: u64, n: usize, std: f32) -> Vec<f32> {
    let mut next = splitmix(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        #[allow(clippy::cast_precision_loss)]
        let u1 = ((next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        #[allow(clippy::cast_precision_loss)]
        let u2 = (next() >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        #[allow(clippy::cast_possible_truncation)]
        out.extend([(r * theta.cos()) as f32 * std, (r * theta.sin()) as f32 * std]);
    }
    out.truncate(n);
    out
}

impl Lora {
    /// A fresh adapter for blocks whose projections have `shapes[(block, proj)] = (out, in)`.
    pub(crate) fn new(
        config: LoraConfig,
        shapes: &BTreeMap<(usize, Projection), (usize, usize)>,
    ) -> Result<Self> {
        config.validate()?;
        let mut pairs = BTreeMap::new();
        for (i, (&key, &(out, inp))) in
            shapes.iter().filter(|((_, p), _)| config.targets.contains(p)).enumerate()
        {
            #[allow(clippy::cast_precision_loss)]
            let std = 1.0 / (inp as f32).sqrt();
            let seed = config.seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
            let a = Var::from_vec(
                normal_stream(seed, config.rank * inp, std),
                (config.rank, inp),
                &Device::Cpu,
            )?;
            let b = Var::zeros((out, config.rank), candle_core::DType::F32, &Device::Cpu)?;
            pairs.insert(key, (a, b));
        }
        Ok(Self { config, pairs, dropout_stream: std::cell::Cell::new(None) })
    }

    /// Sets the dropout stream of the next forward passes (`None`: no dropout, as when
    /// evaluating).
    pub(crate) fn set_dropout_stream(&self, stream: Option<u64>) {
        self.dropout_stream.set(stream);
    }

    /// `x` with the dropout of this pass for (block, projection) applied, if any.
    fn dropped(&self, block: usize, which: Projection, x: &Tensor) -> Result<Tensor> {
        let p = self.config.dropout;
        let Some(stream) = self.dropout_stream.get().filter(|_| p > 0.0) else {
            return Ok(x.clone());
        };
        let key = (block as u64) << 8 | which as u64;
        let mut next = splitmix(stream ^ key.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        let keep = 1.0 / (1.0 - p);
        #[allow(clippy::cast_precision_loss)]
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| if ((next() >> 40) as f32 / (1u64 << 24) as f32) < p { 0.0 } else { keep })
            .collect();
        Ok((x * Tensor::from_vec(mask, x.shape(), &Device::Cpu)?)?)
    }

    /// The variables, in a fixed order (A then B of each (block, projection)).
    pub(crate) fn vars(&self) -> Vec<&Var> {
        self.pairs.values().flat_map(|(a, b)| [a, b]).collect()
    }

    /// `(α / r)·B·A·x` for projection `which` of `block`, or `None` if it is not adapted.
    pub(crate) fn update(
        &self,
        block: usize,
        which: Projection,
        x: &Tensor,
    ) -> Result<Option<Tensor>> {
        let Some((a, b)) = self.pairs.get(&(block, which)) else { return Ok(None) };
        #[allow(clippy::cast_precision_loss)]
        let scale = f64::from(self.config.alpha) / self.config.rank as f64;
        let low = self.dropped(block, which, x)?.matmul(&a.as_tensor().t()?)?;
        Ok(Some((low.matmul(&b.as_tensor().t()?)? * scale)?))
    }

    /// The tensors by name (what an adapter file holds).
    pub(crate) fn named(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (&(block, p), (a, b)) in &self.pairs {
            out.insert(format!("blk.{block}.{}.lora_a", p.name()), a.as_tensor().clone());
            out.insert(format!("blk.{block}.{}.lora_b", p.name()), b.as_tensor().clone());
        }
        out
    }

    /// Writes the adapter as safetensors.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        // candle writes the names in sorted order, whatever the map.
        let named: std::collections::HashMap<String, Tensor> = self.named().into_iter().collect();
        candle_core::safetensors::save(&named, path)
            .map_err(|source| Error::TensorData { name: path.display().to_string(), source })
    }

    /// Sets every variable from `tensors` (an adapter file's), which must hold each one in its
    /// shape.
    pub(crate) fn set_from(&self, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
        for (name, t) in self.named() {
            let stored =
                tensors.get(&name).ok_or_else(|| Error::MissingTensor { name: name.clone() })?;
            if stored.dims() != t.dims() {
                return Err(Error::InvalidConfig {
                    reason: format!(
                        "{name} is {:?} in the file, {:?} here",
                        stored.dims(),
                        t.dims()
                    ),
                });
            }
        }
        for (&(block, p), (a, b)) in &self.pairs {
            a.set(&tensors[&format!("blk.{block}.{}.lora_a", p.name())])?;
            b.set(&tensors[&format!("blk.{block}.{}.lora_b", p.name())])?;
        }
        Ok(())
    }
}
