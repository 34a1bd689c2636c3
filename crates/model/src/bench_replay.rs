//! `alx bench replay`: how many greedy answers a juror or an auditor can replay per minute
//! (`Model::replay_greedy`), against generating the same answer in the same run: a prompt of
//! the gateway's length (a system message with reference notes, then a question), an answer
//! generated greedily with the serving penalties, then replayed in one pass.

use crate::{
    Message, Model, Role,
    error::Result,
    generate::GenerateConfig,
    model::LoadConfig,
    sampling::{Penalties, Sampling},
};
use serde::Serialize;
use std::{path::Path, time::Instant};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReplayOptions {
    /// How to load the model.
    pub load: LoadConfig,
    /// Prompt tokens at least (reference notes are repeated to reach it).
    pub prompt_tokens: usize,
    /// Tokens generated at most.
    pub output_tokens: usize,
    /// Timed runs (the median is reported).
    pub runs: usize,
}

impl ReplayOptions {
    /// The gateway's prompt length with retrieved passages (~740 tokens), 128 tokens out, 3 runs.
    pub const DEFAULT: Self =
        Self { load: LoadConfig::DEFAULT, prompt_tokens: 740, output_tokens: 128, runs: 3 };
}

/// Measured figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The file measured.
    pub path: String,
    /// The options used.
    pub options: ReplayOptions,
    /// Prompt length.
    pub prompt_tokens: usize,
    /// Tokens the answer has.
    pub output_tokens: usize,
    /// Generating the answer (prefill and decode, one sequence), median, ms.
    pub generate_ms: f64,
    /// Replaying it, median, ms.
    pub replay_ms: f64,
    /// `60,000 / replay_ms`.
    pub replays_per_minute: f64,
    /// `60,000 / generate_ms`: the peer, generation on the same weights in the same run.
    pub generations_per_minute: f64,
    /// How much faster a replay is than the generation it checks.
    pub replay_vs_generate: f64,
    /// The largest gap between a generated token's logit and the replay's best (the tolerance
    /// the juror allows is 1.0).
    pub max_gap: f32,
    /// Whether every replay found the answer greedy.
    pub replayed_clean: bool,
}

const SYSTEM: &str = "Reference notes from the model's datanets follow. Use them where they help \
answer the user's question, and answer in your own words.";
const NOTE: &str = "A settlement commits to its receipts with a Merkle sum tree: every node holds \
the sums of the fees, tokens and credits below it, so the totals the chain applies are exactly \
what the leaves add up to. Anyone holding the published receipts rebuilds the root and checks it \
against the block; a provider that inflates a total or over-charges a request is slashed. ";
const QUESTION: &str = "How can someone who does not trust the node check that a contributor \
was paid what the answers owed them?";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Loads `path` and measures generation against replay.
pub fn run(path: &Path, options: &ReplayOptions) -> Result<ReplayReport> {
    let model = Model::load(path, &options.load)?;
    let mut notes = String::from(SYSTEM);
    let prompt = loop {
        let messages =
            [Message::new(Role::System, notes.clone()), Message::new(Role::User, QUESTION)];
        let prompt = model.chat_prompt(&messages)?;
        if prompt.len() >= options.prompt_tokens
            || prompt.len() + options.output_tokens >= model.context_length()
        {
            break prompt;
        }
        notes.push('\n');
        notes.push_str(NOTE);
    };
    let config = GenerateConfig {
        max_tokens: options.output_tokens.max(1),
        sampling: Sampling::Greedy,
        stop: Vec::new(),
        penalties: Penalties::SERVING,
    };
    let (mut generate_ms, mut replay_ms) = (Vec::new(), Vec::new());
    let (mut output_tokens, mut max_gap, mut clean) = (0, 0.0f32, true);
    for _ in 0..options.runs.max(1) {
        let started = Instant::now();
        let answer = model.generate(&prompt, &config, |_| {})?;
        generate_ms.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        let replay =
            model.replay_greedy(&prompt, &answer.tokens, &Penalties::SERVING, 1.0, None)?;
        replay_ms.push(started.elapsed().as_secs_f64() * 1e3);
        output_tokens = answer.tokens.len();
        max_gap = max_gap.max(replay.max_gap);
        clean &= replay.departure.is_none();
    }
    let (generate_ms, replay_ms) = (median(generate_ms), median(replay_ms));
    let per_minute = |ms: f64| if ms > 0.0 { 60_000.0 / ms } else { 0.0 };
    Ok(ReplayReport {
        path: path.display().to_string(),
        options: *options,
        prompt_tokens: prompt.len(),
        output_tokens,
        generate_ms,
        replay_ms,
        replays_per_minute: per_minute(replay_ms),
        generations_per_minute: per_minute(generate_ms),
        replay_vs_generate: if replay_ms > 0.0 { generate_ms / replay_ms } else { 0.0 },
        max_gap,
        replayed_clean: clean,
    })
}
