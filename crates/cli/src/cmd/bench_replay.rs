//! `alx bench replay`: greedy answers replayed per minute (what a juror or auditor checks)
//! against generating them, on the same weights in the same run
//! ([`alx_model::bench_replay`]).

use crate::{Globals, output::emit};
use alx_model::{
    LoadConfig,
    bench_replay::{ReplayOptions, ReplayReport},
};
use clap::Args;
use std::{num::NonZeroUsize, path::PathBuf};

/// `alx bench replay`.
#[derive(Args)]
pub(crate) struct ReplayArgs {
    /// The GGUF file (default: SmolLM2 in the home's model cache, fetched if missing).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Prompt tokens at least (the gateway's prompts with retrieved notes are ~740).
    #[arg(long, default_value_t = 740)]
    prompt_tokens: usize,
    /// Tokens generated at most per answer.
    #[arg(long, default_value_t = 128)]
    output_tokens: usize,
    /// Timed runs (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Threads (candle's kernels take theirs from CANDLE_NUM_THREADS; start the process with
    /// the same value).
    #[arg(long, default_value_t = NonZeroUsize::MIN)]
    threads: NonZeroUsize,
}

pub(crate) fn run(g: &Globals, a: &ReplayArgs) -> anyhow::Result<()> {
    let model = match &a.model {
        Some(p) => p.clone(),
        None => super::model_fetch::fetch_smollm2(&g.home.join("models"))?,
    };
    let options = ReplayOptions {
        load: LoadConfig { threads: a.threads, ..LoadConfig::DEFAULT },
        prompt_tokens: a.prompt_tokens,
        output_tokens: a.output_tokens,
        runs: a.runs.max(1),
    };
    let report = alx_model::bench_replay::run(&model, &options)?;
    emit(g.json, &report, || text(&report))
}

fn text(r: &ReplayReport) -> String {
    format!(
        "{} prompt tokens, {} generated (median of {})\n  generate  {:>8.0} ms   {:>6.1} answers/min\n  replay    {:>8.0} ms   {:>6.1} answers/min   ({:.1}× the generation)\n  largest logit gap {:.4} (tolerance 1.0); every replay clean: {}",
        r.prompt_tokens,
        r.output_tokens,
        r.options.runs,
        r.generate_ms,
        r.generations_per_minute,
        r.replay_ms,
        r.replays_per_minute,
        r.replay_vs_generate,
        r.max_gap,
        r.replayed_clean
    )
}
