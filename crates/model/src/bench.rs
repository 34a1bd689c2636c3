//! A fixed benchmark of a model file: load time, prompt (prefill) and generation (decode)
//! throughput, perplexity-evaluation throughput and peak memory. The CLI prints its report.
//!
//! The prompt is a fixed ChatML conversation and decoding is greedy for a fixed number of
//! tokens whatever the model produces (end tokens included), so runs are comparable.

use std::{num::NonZeroUsize, path::Path, time::Instant};

use serde::Serialize;

use crate::{
    chat::{Message, Role},
    error::{Error, Result},
    llama::Positions,
    model::{LoadConfig, Model},
    perplexity::PerplexityConfig,
    sampling::argmax,
    tokenizer::TokenId,
};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BenchOptions {
    /// How to load the model.
    pub load: LoadConfig,
    /// Tokens generated after the prompt.
    pub decode_tokens: usize,
    /// Tokens of text scored for perplexity (0 skips the perplexity measurement).
    pub perplexity_tokens: usize,
    /// Perplexity window (capped at the context length).
    pub perplexity_window: NonZeroUsize,
}

impl BenchOptions {
    /// 128 decoded tokens, 1,024 tokens of perplexity in windows of 512, default loading.
    pub const DEFAULT: Self = Self {
        load: LoadConfig::DEFAULT,
        decode_tokens: 128,
        perplexity_tokens: 1_024,
        perplexity_window: NonZeroUsize::new(512).expect("non-zero"),
    };
}

/// Measured figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// The file measured.
    pub path: String,
    /// The options used.
    pub options: BenchOptions,
    /// Threads of candle's quantized kernels (process-wide, from `CANDLE_NUM_THREADS`).
    pub kernel_threads: usize,
    /// Time to load and convert the weights, in milliseconds.
    pub load_ms: f64,
    /// Prompt length.
    pub prompt_tokens: usize,
    /// Prompt tokens per second (one forward pass over the whole prompt).
    pub prefill_tokens_per_s: f64,
    /// Tokens generated.
    pub decode_tokens: usize,
    /// Generated tokens per second (one forward pass per token, cache warm).
    pub decode_tokens_per_s: f64,
    /// Greedy output text (a sanity check that the model is not producing noise).
    pub decode_text: String,
    /// Tokens scored for perplexity.
    pub perplexity_tokens: usize,
    /// Scored tokens per second.
    pub perplexity_tokens_per_s: f64,
    /// The perplexity of the benchmark text.
    pub perplexity: f64,
    /// Peak resident memory of the process (Linux `VmHWM`), if known.
    pub peak_rss_bytes: Option<u64>,
    /// The prompt's token ids, so that a peer engine can be measured on the same input.
    #[serde(skip)]
    pub prompt_ids: Vec<TokenId>,
    /// The token ids scored for perplexity, likewise.
    #[serde(skip)]
    pub perplexity_ids: Vec<TokenId>,
}

/// The benchmark's conversation.
const SYSTEM: &str = "You are a concise assistant that explains technical ideas clearly.";
const QUESTION: &str = "A network pays the people who contribute training data every time a \
model answer draws on their work. Explain in a few sentences how such a network could decide \
which contributions an answer used, what could go wrong, and how validators could check it.";

/// Text scored for perplexity (repeated to reach the requested length).
const TEXT: &str = "Libraries have always depended on the people who fill them. A city library \
grows because readers donate books, scholars write catalogues and volunteers repair bindings. \
When a new kind of library is built from data instead of paper, the same question returns: who \
did the work, and how are they recognised? An open network can keep a public record of every \
contribution, measure how often each one shapes an answer, and pay its authors in proportion. \
The record must be verifiable by anyone, the measurement must be cheap enough to repeat, and the \
payments must follow fixed rules, so that nobody has to trust the operator of the network. \
Small models make this practical: they run on ordinary computers, they can be evaluated quickly, \
and many of them can compete on the same task while independent validators compare their \
answers on data the builders have never seen. ";

/// Loads `path` and measures it.
pub fn run(path: &Path, options: &BenchOptions) -> Result<BenchReport> {
    let started = Instant::now();
    let model = Model::load(path, &options.load)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;

    let messages = [Message::new(Role::System, SYSTEM), Message::new(Role::User, QUESTION)];
    let prompt = match model.chat_prompt(&messages) {
        Ok(prompt) => prompt,
        Err(_) => model.tokenizer().encode(&format!("{SYSTEM}\n{QUESTION}\n"))?,
    };
    let room = model.context_length().saturating_sub(prompt.len());
    if room < options.decode_tokens {
        return Err(Error::ContextOverflow {
            prompt_tokens: prompt.len(),
            max_tokens: options.decode_tokens,
            context_length: model.context_length(),
        });
    }
    let mut session = model.session();
    let started = Instant::now();
    let logits = session.feed(&prompt, Positions::Last)?;
    let prefill_s = started.elapsed().as_secs_f64();

    let mut generated: Vec<TokenId> = Vec::with_capacity(options.decode_tokens);
    let mut next = argmax(logits.last());
    let started = Instant::now();
    for _ in 0..options.decode_tokens {
        generated.push(next);
        next = argmax(session.feed(&[next], Positions::Last)?.last());
    }
    let decode_s = started.elapsed().as_secs_f64();
    let decode_text = model.tokenizer().decode(&generated)?;

    let perplexity_ids = perplexity_text(&model, options.perplexity_tokens)?;
    let (perplexity_tokens, perplexity_tokens_per_s, perplexity) =
        measure_perplexity(&model, options, &perplexity_ids)?;
    Ok(BenchReport {
        path: path.display().to_string(),
        options: *options,
        kernel_threads: model.info().kernel_threads,
        load_ms,
        prompt_tokens: prompt.len(),
        prefill_tokens_per_s: rate(prompt.len(), prefill_s),
        decode_tokens: options.decode_tokens,
        decode_tokens_per_s: rate(options.decode_tokens, decode_s),
        decode_text,
        perplexity_tokens,
        perplexity_tokens_per_s,
        perplexity,
        peak_rss_bytes: peak_rss_bytes(),
        prompt_ids: prompt,
        perplexity_ids,
    })
}

/// Decode speed with a given number of tokens already in the cache.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextReport {
    /// Tokens fed before decoding starts (the context the first decoded token attends to).
    pub context_tokens: usize,
    /// Tokens generated after them.
    pub decode_tokens: usize,
    /// Generated tokens per second.
    pub decode_tokens_per_s: f64,
    /// The token ids fed, so that a peer engine can be measured on the same input.
    #[serde(skip)]
    pub prompt_ids: Vec<TokenId>,
}

/// Loads `path` once and, for each length in `contexts`, feeds that many tokens of the
/// benchmark text (not timed), then decodes `decode_tokens` greedily (timed): how decode
/// slows as attention reads a longer cache.
pub fn decode_at_contexts(
    path: &Path,
    load: &LoadConfig,
    contexts: &[usize],
    decode_tokens: usize,
) -> Result<Vec<ContextReport>> {
    let model = Model::load(path, load)?;
    let mut reports = Vec::with_capacity(contexts.len());
    for &context in contexts {
        if context == 0 || context + decode_tokens > model.context_length() {
            return Err(Error::ContextOverflow {
                prompt_tokens: context,
                max_tokens: decode_tokens,
                context_length: model.context_length(),
            });
        }
        let prompt = perplexity_text(&model, context)?;
        let mut session = model.session_for(context + decode_tokens);
        let logits = session.feed(&prompt, Positions::Last)?;
        let mut next = argmax(logits.last());
        let started = Instant::now();
        for _ in 0..decode_tokens {
            next = argmax(session.feed(&[next], Positions::Last)?.last());
        }
        reports.push(ContextReport {
            context_tokens: context,
            decode_tokens,
            decode_tokens_per_s: rate(decode_tokens, started.elapsed().as_secs_f64()),
            prompt_ids: prompt,
        });
    }
    Ok(reports)
}

/// `len` tokens of the benchmark text (repeated as needed).
fn perplexity_text(model: &Model, len: usize) -> Result<Vec<TokenId>> {
    let mut tokens = Vec::new();
    let once = model.tokenizer().encode(TEXT)?;
    while tokens.len() < len && !once.is_empty() {
        tokens.extend_from_slice(&once);
    }
    tokens.truncate(len);
    Ok(tokens)
}

fn measure_perplexity(
    model: &Model,
    options: &BenchOptions,
    tokens: &[TokenId],
) -> Result<(usize, f64, f64)> {
    if tokens.is_empty() {
        return Ok((0, 0.0, 0.0));
    }
    let window = options.perplexity_window.get().min(model.context_length());
    let window = NonZeroUsize::new(window).unwrap_or(NonZeroUsize::MIN);
    let started = Instant::now();
    let result = model.perplexity(tokens, &PerplexityConfig { window })?;
    let elapsed = started.elapsed().as_secs_f64();
    Ok((result.tokens_scored, rate(result.tokens_scored, elapsed), result.perplexity))
}

fn rate(tokens: usize, seconds: f64) -> f64 {
    if seconds > 0.0 { tokens as f64 / seconds } else { 0.0 }
}

/// Peak resident set size from `/proc/self/status` (`VmHWM: 1234 kB`).
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
