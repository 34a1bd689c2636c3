//! `alx bench adapters`: many LoRA adapters over one resident base against one merged model,
//! in the same run: decode tokens/s of a batch whose sequences each run their own adapter
//! (1, 10 and 100 resident), the same batch on the bare base and on a model with one adapter
//! merged into its weights; the time to read an adapter file into a servable adapter (what a
//! request to a model whose adapter is not resident waits for) and to build a merged model;
//! the memory an adapter takes.
//!
//! The adapters are the shape `alx model finetune` trains (rank `r` on every attention
//! projection), with seeded random values: speed does not depend on what they learned.

use crate::{
    Adapter, GenerateConfig, Model,
    error::{Error, Result},
    generate::step_batch,
    model::LoadConfig,
    sampling::{Penalties, Sampling},
    train::{FrozenBase, LoraConfig, TrainConfig, Trainer},
};
use serde::Serialize;
use std::{path::Path, sync::Arc, time::Instant};

/// What to measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdaptersBenchOptions {
    /// How the base is loaded.
    pub load: LoadConfig,
    /// Adapter rank.
    pub rank: usize,
    /// Adapters resident, one run each.
    pub resident: Vec<usize>,
    /// Sequences decoded together.
    pub batch: usize,
    /// Prompt tokens per sequence.
    pub prompt_tokens: usize,
    /// Tokens decoded per sequence.
    pub output_tokens: usize,
    /// Batches per run (sequences take adapters in turn across them).
    pub rounds: usize,
}

impl AdaptersBenchOptions {
    /// Rank 8; 1, 10 and 100 adapters; batches of 4 sequences, 32 prompt and 32 output
    /// tokens each, 3 batches per run.
    #[must_use]
    pub fn new() -> Self {
        Self {
            load: LoadConfig::DEFAULT,
            rank: 8,
            resident: vec![1, 10, 100],
            batch: 4,
            prompt_tokens: 32,
            output_tokens: 32,
            rounds: 3,
        }
    }
}

impl Default for AdaptersBenchOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// One resident-set run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResidentRun {
    /// Adapters resident.
    pub adapters: usize,
    /// Their memory, bytes.
    pub memory_bytes: usize,
    /// Decode tokens per second of the batch, each sequence with its own adapter.
    pub decode_tokens_per_s: f64,
    /// Against the merged model, same run.
    pub vs_merged: f64,
}

/// Measured figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdaptersBenchReport {
    /// The base file.
    pub path: String,
    /// The options used.
    pub options: AdaptersBenchOptions,
    /// Bytes of one adapter file.
    pub adapter_file_bytes: usize,
    /// Bytes one adapter takes in memory.
    pub adapter_memory_bytes: usize,
    /// Reading one adapter file into a servable adapter, median, ms (the wait of a request
    /// whose adapter is not resident, besides fetching its bytes).
    pub adapter_load_ms: f64,
    /// Loading a merged model (base plus one adapter folded in), ms.
    pub merged_load_ms: f64,
    /// Decode tokens per second of the batch on the bare base.
    pub base_decode_tokens_per_s: f64,
    /// The peer: the batch on one merged model.
    pub merged_decode_tokens_per_s: f64,
    /// One run per resident count.
    pub resident: Vec<ResidentRun>,
}

/// The text prompts are cut from.
const PROMPT: &str = "Each sequence of the batch runs its own adapter over the shared base. ";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Adapter files of `rank` for the base at `path`, one per seed.
fn adapter_files(path: &Path, rank: usize, count: usize) -> Result<Vec<Vec<u8>>> {
    let base = FrozenBase::load(path, 2)?;
    let scratch = std::env::temp_dir().join(format!("alx-bench-adapter-{}", std::process::id()));
    let mut files = Vec::with_capacity(count);
    for seed in 0..count as u64 {
        let lora = LoraConfig { rank, seed, ..LoraConfig::default_for_attention() };
        let trainer = Trainer::new(&base, TrainConfig { lora, ..TrainConfig::new(1) })?;
        trainer.save_adapter(&scratch)?;
        let bytes = std::fs::read(&scratch)
            .map_err(|source| Error::Io { path: scratch.clone(), source })?;
        files.push(bytes);
    }
    let _ = std::fs::remove_file(&scratch);
    Ok(files)
}

/// Decode tokens per second of `rounds` batches; sequence `i` of round `r` runs
/// `adapters[(r·batch + i) · stride % len]` (none when empty).
fn decode_rate(
    model: &Model,
    adapters: &[Arc<Adapter>],
    options: &AdaptersBenchOptions,
) -> Result<f64> {
    let mut prompt = Vec::new();
    while prompt.len() < options.prompt_tokens.max(1) {
        prompt.extend(model.tokenizer().encode(PROMPT)?);
    }
    prompt.truncate(options.prompt_tokens.max(1));
    let config = GenerateConfig {
        max_tokens: options.output_tokens.max(1),
        sampling: Sampling::Greedy,
        stop: Vec::new(),
        penalties: Penalties::NONE,
    };
    let stride = (adapters.len() / (options.batch * options.rounds).max(1)).max(1);
    let (mut tokens, mut seconds) = (0usize, 0.0f64);
    for round in 0..options.rounds.max(1) {
        let mut generations = (0..options.batch.max(1))
            .map(|i| {
                let pick = (round * options.batch + i) * stride;
                let adapter =
                    (!adapters.is_empty()).then(|| adapters[pick % adapters.len()].clone());
                let mut g = model.generation_adapted(&prompt, &config, adapter)?;
                g.prefill(usize::MAX)?;
                Ok(g)
            })
            .collect::<Result<Vec<_>>>()?;
        let started = Instant::now();
        while generations.iter().any(|g| !g.is_done()) {
            let mut batch: Vec<_> = generations.iter_mut().collect();
            for r in step_batch(&mut batch) {
                r?;
            }
        }
        seconds += started.elapsed().as_secs_f64();
        tokens += generations.iter().map(|g| g.tokens().len()).sum::<usize>();
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(if seconds > 0.0 { tokens as f64 / seconds } else { 0.0 })
}

/// Measures serving many adapters over the base at `path` against one merged model.
pub fn run(path: &Path, options: &AdaptersBenchOptions) -> Result<AdaptersBenchReport> {
    let model = Model::load(path, &options.load)?;
    let params = model.info().params.clone();
    let most = options.resident.iter().copied().max().unwrap_or(1).max(1);
    let files = adapter_files(path, options.rank, most)?;
    let alpha = LoraConfig::default_for_attention().alpha;
    let mut load_ms = Vec::new();
    let mut adapters = Vec::with_capacity(most);
    for file in &files {
        let started = Instant::now();
        adapters.push(Arc::new(Adapter::from_safetensors(file, alpha, &params)?));
        load_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let started = Instant::now();
    let merged = Model::load_merged(path, &options.load, &adapters[0])?;
    let merged_load_ms = started.elapsed().as_secs_f64() * 1e3;
    let merged_rate = decode_rate(&merged, &[], options)?;
    drop(merged);
    let base_rate = decode_rate(&model, &[], options)?;
    let mut resident = Vec::new();
    for &n in &options.resident {
        let set = &adapters[..n.clamp(1, most)];
        let rate = decode_rate(&model, set, options)?;
        resident.push(ResidentRun {
            adapters: set.len(),
            memory_bytes: set.iter().map(|a| a.memory_bytes()).sum(),
            decode_tokens_per_s: rate,
            vs_merged: if merged_rate > 0.0 { rate / merged_rate } else { 0.0 },
        });
    }
    Ok(AdaptersBenchReport {
        path: path.display().to_string(),
        options: options.clone(),
        adapter_file_bytes: files[0].len(),
        adapter_memory_bytes: adapters[0].memory_bytes(),
        adapter_load_ms: median(load_ms),
        merged_load_ms,
        base_decode_tokens_per_s: base_rate,
        merged_decode_tokens_per_s: merged_rate,
        resident,
    })
}
