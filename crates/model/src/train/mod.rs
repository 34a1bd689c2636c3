//! LoRA fine-tuning on a frozen base (issue 16): the base dequantized from its GGUF to f32 and
//! never changed, low-rank adapters on the attention projections (`lora`), a forward pass
//! built from operations with a backward (`forward`), AdamW written here so its state can be
//! checkpointed, a linear warm-up then cosine decay of the learning rate, gradient clipping by
//! global norm, and gradient accumulation over micro-batches.
//!
//! ```text
//! step(micro-batches):  for each: loss = cross-entropy(next token) → gradients of A and B
//!                       summed, divided by their count → clipped to `clip_norm` (global L2)
//!                       → AdamW at lr(step) → step + 1
//! lr(step) = lr · (step + 1) / warmup                     for step < warmup
//!          = min + (lr − min) · (1 + cos(π · progress)) / 2    after, progress ∈ [0, 1]
//! ```
//!
//! A checkpoint holds the adapter, the optimizer's moments and the step: training resumed from
//! one continues exactly as if it had never stopped (tested bit for bit).

mod examples;
mod finetune;
mod forward;
mod frozen;
pub mod influence;
mod lora;

pub use examples::{
    AdapterInfluence, DIMS_MAX, ExampleKey, FEATURES_BYTES_MAX, Features, QUERY_TOKENS_MAX,
    SCORE_SCALE, Scoring, quantize, query_window,
};
pub use finetune::{Corpus, Event, FinetuneOptions, FinetuneReport, Sample, finetune};
pub use forward::FrozenBase;
pub use lora::{LoraConfig, Projection};

use crate::error::{Error, Result};
use candle_core::{Device, Tensor};
use lora::Lora;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path};

/// How the adapter is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The adapter's shape.
    pub lora: LoraConfig,
    /// Peak learning rate.
    pub lr: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: u64,
    /// Steps in all (the cosine reaches `min_lr_ratio · lr` at the last).
    pub total_steps: u64,
    /// The floor of the decay, as a share of `lr`.
    pub min_lr_ratio: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Largest global L2 norm of the gradient (larger ones are scaled down to it).
    pub clip_norm: f64,
}

impl TrainConfig {
    /// The default adapter, lr 1e-3, 10% warm-up of `total_steps`, decay to a tenth, weight
    /// decay 0.01, clipping at 1.
    #[must_use]
    pub fn new(total_steps: u64) -> Self {
        Self {
            lora: LoraConfig::default_for_attention(),
            lr: 1e-3,
            warmup_steps: total_steps / 10,
            total_steps,
            min_lr_ratio: 0.1,
            weight_decay: 0.01,
            clip_norm: 1.0,
        }
    }

    /// Refuses values that cannot train.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] saying which value and its range.
    pub fn validate(&self) -> Result<()> {
        self.lora.validate()?;
        let bad = |reason: String| Err(Error::InvalidConfig { reason });
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 1.0) {
            return bad(format!("learning rate {} is not in (0, 1]", self.lr));
        }
        if self.total_steps == 0 || self.total_steps > STEPS_MAX {
            return bad(format!("{} steps is not 1 to {STEPS_MAX}", self.total_steps));
        }
        if self.warmup_steps > self.total_steps {
            return bad(format!(
                "{} warm-up steps is more than the {} steps",
                self.warmup_steps, self.total_steps
            ));
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return bad(format!("min_lr_ratio {} is not in [0, 1]", self.min_lr_ratio));
        }
        if !(0.0..1.0).contains(&self.weight_decay) {
            return bad(format!("weight decay {} is not in [0, 1)", self.weight_decay));
        }
        if !(self.clip_norm.is_finite() && self.clip_norm > 0.0) {
            return bad(format!("clip norm {} is not a positive number", self.clip_norm));
        }
        Ok(())
    }

    /// The learning rate of step `step` (from 0).
    #[must_use]
    pub fn lr_at(&self, step: u64) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        #[allow(clippy::cast_precision_loss)]
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        let min = self.lr * self.min_lr_ratio;
        min + (self.lr - min) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepReport {
    /// The step (from 0).
    pub step: u64,
    /// Mean loss over the micro-batches, nats per token.
    pub loss: f32,
    /// The global gradient norm before clipping.
    pub grad_norm: f32,
    /// The learning rate used.
    pub lr: f64,
    /// Tokens predicted.
    pub tokens: usize,
}

/// An adapter being trained over a frozen base.
pub struct Trainer<'b> {
    base: &'b FrozenBase,
    lora: Lora,
    config: TrainConfig,
    /// AdamW's first and second moments, one pair per variable (in `Lora::vars` order).
    moments: Vec<(Tensor, Tensor)>,
    step: u64,
}

/// The most optimizer steps a run may take.
pub const STEPS_MAX: u64 = 1_000_000;
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl<'b> Trainer<'b> {
    /// A fresh adapter over `base`.
    ///
    /// # Errors
    /// An adapter configuration that is not valid.
    pub fn new(base: &'b FrozenBase, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        let mut shapes = BTreeMap::new();
        for (i, b) in base.blocks.iter().enumerate() {
            for (p, w) in [
                (Projection::Q, &b.wq),
                (Projection::K, &b.wk),
                (Projection::V, &b.wv),
                (Projection::O, &b.wo),
            ] {
                let (out, inp) = w.dims2()?;
                shapes.insert((i, p), (out, inp));
            }
        }
        let lora = Lora::new(config.lora.clone(), &shapes)?;
        let moments = lora
            .vars()
            .iter()
            .map(|v| Ok((v.as_tensor().zeros_like()?, v.as_tensor().zeros_like()?)))
            .collect::<Result<_>>()?;
        Ok(Self { base, lora, config, moments, step: 0 })
    }

    /// Steps taken.
    #[must_use]
    pub const fn steps(&self) -> u64 {
        self.step
    }

    /// Mean next-token loss of `tokens` (at least 2) under the adapter, nats per token.
    ///
    /// # Errors
    /// Tokens out of the vocabulary or past the context.
    pub fn loss(&self, tokens: &[u32]) -> Result<f32> {
        Ok(self.loss_tensor(tokens)?.to_scalar::<f32>()?)
    }

    /// The summed loss of `tokens[from..]`, each predicted from the tokens before it.
    fn summed_loss(&self, tokens: &[u32], from: usize) -> Result<Tensor> {
        let from = from.max(1);
        if tokens.len() <= from {
            return Err(Error::TooFewTokens { needed: from + 1, got: tokens.len() });
        }
        let logits = self.base.forward(&tokens[..tokens.len() - 1], &self.lora)?;
        let scored = tokens.len() - from;
        let logits = logits.narrow(0, from - 1, scored)?;
        let targets = Tensor::new(&tokens[from..], &Device::Cpu)?;
        #[allow(clippy::cast_precision_loss)]
        let sum = (candle_nn::loss::cross_entropy(&logits, &targets)? * scored as f64)?;
        Ok(sum)
    }

    /// Replaces the adapter with the one in `path` (an adapter file this configuration wrote).
    ///
    /// # Errors
    /// A file that does not hold this adapter's tensors in their shapes.
    pub fn load_adapter(&mut self, path: &Path) -> Result<()> {
        let read = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|source| Error::TensorData { name: path.display().to_string(), source })?;
        self.lora.set_from(&read.into_iter().collect())
    }

    /// Replaces the adapter with the safetensors `bytes` (an adapter file this configuration
    /// wrote).
    ///
    /// # Errors
    /// Bytes that do not hold this adapter's tensors in their shapes.
    pub fn load_adapter_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let read = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|source| Error::TensorData { name: "the adapter".into(), source })?;
        self.lora.set_from(&read.into_iter().collect())
    }

    fn loss_tensor(&self, tokens: &[u32]) -> Result<Tensor> {
        if tokens.len() < 2 {
            return Err(Error::TooFewTokens { needed: 2, got: tokens.len() });
        }
        let logits = self.base.forward(&tokens[..tokens.len() - 1], &self.lora)?;
        let targets = Tensor::new(&tokens[1..], &Device::Cpu)?;
        Ok(candle_nn::loss::cross_entropy(&logits, &targets)?)
    }

    /// One optimizer step over `batches` (micro-batches, gradients accumulated).
    ///
    /// # Errors
    /// No batch, or a batch the forward pass refuses.
    pub fn step(&mut self, batches: &[&[u32]]) -> Result<StepReport> {
        if batches.is_empty() {
            return Err(Error::TooFewTokens { needed: 2, got: 0 });
        }
        let vars = self.lora.vars();
        let mut sums: Vec<Option<Tensor>> = vec![None; vars.len()];
        let (mut loss_sum, mut tokens) = (0.0f32, 0usize);
        for (i, batch) in batches.iter().enumerate() {
            // This micro-batch's dropout masks: from the seed, the step and its place alone.
            let stream = self.config.lora.seed
                ^ self.step.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (i as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
            self.lora.set_dropout_stream(Some(stream));
            let loss = self.loss_tensor(batch);
            self.lora.set_dropout_stream(None);
            let loss = loss?;
            loss_sum += loss.to_scalar::<f32>()?;
            tokens += batch.len() - 1;
            let grads = loss.backward()?;
            for (sum, var) in sums.iter_mut().zip(&vars) {
                let g = grads
                    .get(var.as_tensor())
                    .cloned()
                    .map_or_else(|| var.as_tensor().zeros_like(), Ok)?;
                *sum = Some(match sum.take() {
                    Some(s) => (s + g)?,
                    None => g,
                });
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let n = batches.len() as f64;
        let grads: Vec<Tensor> =
            sums.into_iter().flatten().map(|g| g / n).collect::<candle_core::Result<_>>()?;
        let mut squares = 0.0f64;
        for g in &grads {
            squares += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
        }
        let norm = squares.sqrt();
        let clip = if norm > self.config.clip_norm { self.config.clip_norm / norm } else { 1.0 };
        let lr = self.config.lr_at(self.step);
        let t = i32::try_from(self.step + 1).unwrap_or(i32::MAX);
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        for ((var, g), (m, v)) in vars.iter().zip(&grads).zip(&mut self.moments) {
            let g = (g * clip)?;
            *m = ((&*m * BETA1)? + (&g * (1.0 - BETA1))?)?;
            *v = ((&*v * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
            let update = ((&*m / c1)? / ((&*v / c2)?.sqrt()? + EPS)?)?;
            let theta = var.as_tensor();
            let decayed = (theta * (1.0 - lr * self.config.weight_decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
        }
        let report = StepReport {
            step: self.step,
            #[allow(clippy::cast_possible_truncation)]
            loss: loss_sum / n as f32,
            #[allow(clippy::cast_possible_truncation)]
            grad_norm: norm as f32,
            lr,
            tokens,
        };
        self.step += 1;
        Ok(report)
    }

    /// Writes the adapter alone (what serving loads) as safetensors.
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn save_adapter(&self, path: &Path) -> Result<()> {
        self.lora.save(path)
    }

    /// Writes a checkpoint: the adapter, the optimizer's moments and the step.
    ///
    /// # Errors
    /// A file that cannot be written.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let mut tensors = self.lora.named();
        for (i, (m, v)) in self.moments.iter().enumerate() {
            tensors.insert(format!("adamw.{i:05}.m"), m.clone());
            tensors.insert(format!("adamw.{i:05}.v"), v.clone());
        }
        #[allow(clippy::cast_precision_loss)]
        let step = Tensor::new(&[self.step as f64], &Device::Cpu)?;
        tensors.insert("step".into(), step);
        let tensors: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
        candle_core::safetensors::save(&tensors, path)
            .map_err(|source| Error::TensorData { name: path.display().to_string(), source })
    }

    /// Resumes from a checkpoint written by [`Self::save_checkpoint`] with the same
    /// configuration and base.
    ///
    /// # Errors
    /// A file that does not hold this adapter's tensors in their shapes.
    pub fn load_checkpoint(&mut self, path: &Path) -> Result<()> {
        let read = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|source| Error::TensorData { name: path.display().to_string(), source })?;
        let tensors: BTreeMap<String, Tensor> = read.into_iter().collect();
        self.lora.set_from(&tensors)?;
        for (i, (m, v)) in self.moments.iter_mut().enumerate() {
            let get = |which: &str| {
                let name = format!("adamw.{i:05}.{which}");
                tensors.get(&name).cloned().ok_or(Error::MissingTensor { name })
            };
            *m = get("m")?;
            *v = get("v")?;
        }
        let step = tensors.get("step").ok_or(Error::MissingTensor { name: "step".into() })?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let step = step.to_vec1::<f64>()?.first().copied().unwrap_or(0.0) as u64;
        self.step = step;
        Ok(())
    }
}
