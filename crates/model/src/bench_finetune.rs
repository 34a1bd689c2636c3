//! `alx bench finetune`: LoRA training throughput on a frozen base (tokens trained per second,
//! forward and backward), against the base's own inference forward over the same windows in
//! the same run (what one training token costs in forward passes), with the peak memory.
//!
//! The feasibility study (`research/ml_feasibility.md` §3) measured about 40 training tokens/s
//! for SmolLM2-135M with candle on this class of CPU; the goal is 80.

use crate::{
    Model, PerplexityConfig,
    error::{Error, Result},
    model::LoadConfig,
    train::{FrozenBase, TrainConfig, Trainer},
};
use serde::Serialize;
use std::{num::NonZeroUsize, path::Path, time::Instant};

/// What to measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinetuneBenchOptions {
    /// Adapter and optimizer (its `total_steps` is the timed steps).
    pub train: TrainConfig,
    /// Tokens per window.
    pub window: usize,
    /// Windows per step.
    pub micro_batches: usize,
    /// Steps run before timing (the first allocates).
    pub warmup_steps: u64,
    /// Threads of the inference peer (training runs on candle's pool, whose size
    /// `CANDLE_NUM_THREADS` sets: give both the same).
    pub threads: NonZeroUsize,
}

impl FinetuneBenchOptions {
    /// Rank 8 on every attention projection, 128-token windows, 4 per step, 4 timed steps
    /// after one.
    #[must_use]
    pub fn new() -> Self {
        Self {
            train: TrainConfig::new(4),
            window: 128,
            micro_batches: 4,
            warmup_steps: 1,
            threads: NonZeroUsize::MIN,
        }
    }
}

impl Default for FinetuneBenchOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Measured figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinetuneBenchReport {
    /// The file measured.
    pub path: String,
    /// The options used.
    pub options: FinetuneBenchOptions,
    /// Training tokens per second (targets of the timed steps over their time).
    pub train_tokens_per_s: f64,
    /// Mean time of a step, ms.
    pub step_ms: f64,
    /// The peer, same run: the base's inference forward (perplexity) over the same windows,
    /// tokens per second.
    pub forward_tokens_per_s: f64,
    /// How many inference forwards one training token costs.
    pub train_vs_forward: f64,
    /// The feasibility study's figure for candle on this class of CPU (not this run).
    pub study_tokens_per_s: f64,
    /// Loss at the first and last timed step (training works, not just runs).
    pub loss_first: f32,
    /// See `loss_first`.
    pub loss_last: f32,
    /// Peak resident memory of the process (Linux `VmHWM`).
    pub peak_rss_bytes: Option<u64>,
}

/// A text long enough for any window: prose about the network, repeated.
const TEXT: &str = "A datanet pools a community's documents; every contribution is signed, \
addressed by its hash and recorded on the ledger. A model fine-tuned on a datanet version \
names that version's Merkle root in its manifest, so anyone can check what it was trained on \
and re-run the training to the same adapter. When the model answers, the fee is split among \
the contributors it drew on, its owner, the provider that served it and the protocol. ";

/// Loads `path` and measures training against inference on the same windows.
pub fn run(path: &Path, options: &FinetuneBenchOptions) -> Result<FinetuneBenchReport> {
    options.train.validate()?;
    if options.window < 2 || options.micro_batches == 0 {
        return Err(Error::InvalidConfig {
            reason: "the window needs 2 tokens and a step one window".into(),
        });
    }
    let model = Model::load(path, &LoadConfig { threads: options.threads, ..LoadConfig::DEFAULT })?;
    let needed = (options.window + 1) * options.micro_batches;
    let mut tokens = Vec::new();
    while tokens.len() < needed {
        tokens.extend(model.tokenizer().encode(TEXT)?);
    }
    let windows: Vec<&[u32]> =
        tokens.chunks(options.window + 1).take(options.micro_batches).collect();
    let window = NonZeroUsize::new(options.window + 1).unwrap_or(NonZeroUsize::MIN);
    let started = Instant::now();
    for w in &windows {
        model.perplexity(w, &PerplexityConfig { window })?;
    }
    let forward_s = started.elapsed().as_secs_f64();
    drop(model);

    let base = FrozenBase::load(path, options.window + 1)?;
    let mut config = options.train.clone();
    config.total_steps = options.train.total_steps + options.warmup_steps;
    let mut trainer = Trainer::new(&base, config)?;
    for _ in 0..options.warmup_steps {
        trainer.step(&windows)?;
    }
    let (mut trained, mut losses) = (0usize, Vec::new());
    let started = Instant::now();
    for _ in 0..options.train.total_steps {
        let report = trainer.step(&windows)?;
        trained += report.tokens;
        losses.push(report.loss);
    }
    let seconds = started.elapsed().as_secs_f64();
    let per_window: usize = windows.iter().map(|w| w.len() - 1).sum();
    #[allow(clippy::cast_precision_loss)]
    let (train_tokens_per_s, forward_tokens_per_s) =
        (trained as f64 / seconds, per_window as f64 / forward_s);
    #[allow(clippy::cast_precision_loss)]
    let step_ms = seconds * 1e3 / options.train.total_steps.max(1) as f64;
    Ok(FinetuneBenchReport {
        path: path.display().to_string(),
        options: options.clone(),
        train_tokens_per_s,
        step_ms,
        forward_tokens_per_s,
        train_vs_forward: forward_tokens_per_s / train_tokens_per_s,
        study_tokens_per_s: 40.0,
        loss_first: losses.first().copied().unwrap_or(f32::NAN),
        loss_last: losses.last().copied().unwrap_or(f32::NAN),
        peak_rss_bytes: crate::bench::peak_rss_bytes(),
    })
}
