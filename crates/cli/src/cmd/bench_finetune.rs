//! `alx bench finetune`: LoRA training tokens/s on SmolLM2 against the base's inference
//! forward in the same run, with peak memory ([`alx_model::bench_finetune`]); and
//! `alx bench adapters`: decode with 1, 10 and 100 adapters over one base against one merged
//! model in the same run, adapter load and merge times ([`alx_model::bench_adapters`]).

use crate::{Globals, output::emit};
use alx_model::{
    LoadConfig,
    bench_adapters::{AdaptersBenchOptions, AdaptersBenchReport},
    bench_finetune::{FinetuneBenchOptions, FinetuneBenchReport},
};
use clap::Args;
use std::{num::NonZeroUsize, path::PathBuf};

/// `alx bench finetune`.
#[derive(Args)]
pub(crate) struct FinetuneBenchArgs {
    /// The GGUF file (default: SmolLM2 in the home's model cache, fetched if missing).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Adapter rank.
    #[arg(long, default_value_t = 8)]
    rank: usize,
    /// Tokens per window.
    #[arg(long, default_value_t = 128)]
    window: usize,
    /// Windows per step.
    #[arg(long, default_value_t = 4)]
    micro_batches: usize,
    /// Timed steps (after one untimed).
    #[arg(long, default_value_t = 4)]
    steps: u64,
    /// Threads of the inference peer; training uses candle's pool, sized by
    /// CANDLE_NUM_THREADS (default: every core). Give both the same.
    #[arg(long, default_value_t = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))]
    threads: NonZeroUsize,
}

/// `alx bench adapters`.
#[derive(Args)]
pub(crate) struct AdaptersBenchArgs {
    /// The GGUF file (default: SmolLM2 in the home's model cache, fetched if missing).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Adapter rank.
    #[arg(long, default_value_t = 8)]
    rank: usize,
    /// Adapters resident, one run each (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    resident: Vec<usize>,
    /// Sequences decoded together.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Tokens decoded per sequence.
    #[arg(long, default_value_t = 32)]
    output_tokens: usize,
    /// Threads (candle's kernels take theirs from CANDLE_NUM_THREADS; start the process with
    /// the same value).
    #[arg(long, default_value_t = NonZeroUsize::MIN)]
    threads: NonZeroUsize,
}

fn model_path(g: &Globals, model: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match model {
        Some(p) => p.clone(),
        None => super::model_fetch::fetch_smollm2(&g.home.join("models"))?,
    })
}

pub(crate) fn finetune(g: &Globals, a: &FinetuneBenchArgs) -> anyhow::Result<()> {
    let path = model_path(g, a.model.as_ref())?;
    let mut options = FinetuneBenchOptions::new();
    options.train.total_steps = a.steps.max(1);
    options.train.lora.rank = a.rank;
    options.window = a.window;
    options.micro_batches = a.micro_batches;
    options.threads = a.threads;
    let report = alx_model::bench_finetune::run(&path, &options)?;
    emit(g.json, &report, || finetune_text(&report))
}

fn finetune_text(r: &FinetuneBenchReport) -> String {
    format!(
        "rank-{} LoRA, {} windows of {} tokens per step\n  train    {:>7.1} tokens/s  ({:.0} ms/step; the feasibility study measured {:.0})\n  forward  {:>7.1} tokens/s  (inference, same run: a training token costs {:.1} forwards)\n  loss {:.3} → {:.3}; peak memory {}",
        r.options.train.lora.rank,
        r.options.micro_batches,
        r.options.window,
        r.train_tokens_per_s,
        r.step_ms,
        r.study_tokens_per_s,
        r.forward_tokens_per_s,
        r.train_vs_forward,
        r.loss_first,
        r.loss_last,
        r.peak_rss_bytes.map_or_else(|| "unknown".into(), |b| format!("{:.2} GB", b as f64 / 1e9)),
    )
}

pub(crate) fn adapters(g: &Globals, a: &AdaptersBenchArgs) -> anyhow::Result<()> {
    let path = model_path(g, a.model.as_ref())?;
    let options = AdaptersBenchOptions {
        load: LoadConfig { threads: a.threads, ..LoadConfig::DEFAULT },
        rank: a.rank,
        resident: a.resident.clone(),
        batch: a.batch.max(1),
        output_tokens: a.output_tokens.max(1),
        ..AdaptersBenchOptions::new()
    };
    let report = alx_model::bench_adapters::run(&path, &options)?;
    emit(g.json, &report, || adapters_text(&report))
}

fn adapters_text(r: &AdaptersBenchReport) -> String {
    let mut out = format!(
        "rank-{} adapters: {} bytes on disk, {} in memory; load {:.1} ms, merged model {:.0} ms\n  base      {:>7.1} decode tokens/s (batch of {})\n  merged    {:>7.1}",
        r.options.rank,
        r.adapter_file_bytes,
        r.adapter_memory_bytes,
        r.adapter_load_ms,
        r.merged_load_ms,
        r.base_decode_tokens_per_s,
        r.options.batch,
        r.merged_decode_tokens_per_s,
    );
    for run in &r.resident {
        out.push_str(&format!(
            "\n  {:>3} resident {:>7.1}  ({:.2}× merged, {:.1} MB)",
            run.adapters,
            run.decode_tokens_per_s,
            run.vs_merged,
            run.memory_bytes as f64 / 1e6
        ));
    }
    out
}

/// `alx bench influence`.
#[derive(Args)]
pub(crate) struct InfluenceBenchArgs {
    /// The base: a GGUF file, `smollm2` (the home's copy, fetched if missing), or `tiny` (a
    /// generated 2-layer model: seconds instead of minutes, for trying the benchmark).
    #[arg(long, default_value = "smollm2")]
    model: String,
    /// Random half-subsets retrained on.
    #[arg(long, default_value_t = 16)]
    subsets: usize,
    /// Optimizer steps per adapter [default: 10, or 40 on `tiny`].
    #[arg(long)]
    steps: Option<u64>,
    /// Features per example (the gradient sketch's buckets).
    #[arg(long, default_value_t = 1024)]
    dims: usize,
}

pub(crate) fn influence(g: &Globals, a: &InfluenceBenchArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let (path, tiny) = match a.model.as_str() {
        "tiny" => {
            let path = scratch.path().join("tiny.gguf");
            let spec = alx_model::tiny::TinySpec {
                context_length: 512,
                ..alx_model::tiny::TinySpec::DEFAULT
            };
            alx_model::tiny::write(&path, &spec)?;
            (path, true)
        }
        other => (super::model_fetch::file_or_smollm2(&g.home, other)?, false),
    };
    let mut config = alx_bench::influence::InfluenceConfig::new();
    config.subsets = a.subsets;
    config.steps = a.steps.unwrap_or(if tiny { 40 } else { 10 });
    config.sketch.dims = a.dims.max(1);
    if !tiny {
        config.lr = 3e-3;
    }
    let report = alx_bench::influence::run(&path, &config)?;
    emit(g.json, &report, || {
        let mut out = format!(
            "LDS over {} half-subsets of {} documents, {} queries ({} steps each; {:.0} s)\n",
            report.config.subsets,
            report.config.documents,
            report.config.queries,
            report.config.steps,
            report.seconds
        );
        out.push_str("  method      LDS    quoting  restating  top-1\n");
        for m in &report.methods {
            out.push_str(&format!(
                "  {:<10} {:>6.3} {:>8.3} {:>10.3} {:>6.2}\n",
                m.method, m.lds, m.lds_quoting, m.lds_restating, m.top1
            ));
        }
        out.push_str(&format!(
            "  features {:.0} ms per document, {:.0} ms per query",
            report.features_ms_per_document, report.query_ms
        ));
        out
    })
}
