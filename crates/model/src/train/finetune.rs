//! A fine-tuning run: documents tokenized and split (a held-out share chosen by a hash of each
//! document's text, so the split does not depend on their order), cut into windows, trained
//! over in a fixed order, checkpointed every few steps and resumed from the checkpoint if one
//! exists, with the held-out perplexity measured before and after.

use super::{StepReport, TrainConfig, Trainer, forward::FrozenBase};
use crate::{
    chat::{ChatTemplate, Message, PromptEnd},
    error::{Error, Result},
    tokenizer::{TokenId, Tokenizer},
};
use serde::Serialize;
use std::{path::Path, time::Instant};

/// Documents tokenized, split and cut into windows of `window + 1` tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// Training windows.
    pub train: Vec<Vec<TokenId>>,
    /// Held-out windows.
    pub held_out: Vec<Vec<TokenId>>,
    /// Per document, in the order given: whether it is in the training split (the examples
    /// influence is attributed to).
    pub trained: Vec<bool>,
}

/// FNV-1a: a fixed hash of a document's text (the split must not change across versions).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// One training document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sample {
    /// Plain text, trained on as it is (completion format).
    Text(String),
    /// A conversation, rendered in the model's chat template and trained on whole.
    Chat(Vec<Message>),
}

impl Sample {
    /// The text its place in the split is decided by.
    fn split_text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Chat(messages) => messages
                .iter()
                .map(|m| format!("{}: {}", m.role.as_str(), m.content))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

impl Corpus {
    /// [`Corpus::new`] over samples of either format; conversations need `chat` (the model's
    /// template).
    ///
    /// # Errors
    /// As [`Corpus::new`], and a conversation without a template.
    pub fn from_samples(
        tokenizer: &Tokenizer,
        chat: Option<&ChatTemplate>,
        samples: &[Sample],
        window: usize,
        held_out_bps: u32,
    ) -> Result<Self> {
        let texts: Vec<String> = samples.iter().map(Sample::split_text).collect();
        let tokens = samples
            .iter()
            .map(|s| Self::sample_tokens(tokenizer, chat, s))
            .collect::<Result<Vec<_>>>()?;
        Self::split(tokenizer, &texts, tokens, window, held_out_bps)
    }

    /// The tokens one sample is trained on, without the end-of-text token the corpus adds.
    ///
    /// # Errors
    /// Text the tokenizer refuses, or a conversation without a template.
    pub fn sample_tokens(
        tokenizer: &Tokenizer,
        chat: Option<&ChatTemplate>,
        sample: &Sample,
    ) -> Result<Vec<TokenId>> {
        match sample {
            Sample::Text(t) => tokenizer.encode(t),
            Sample::Chat(messages) => chat.ok_or_else(crate::chat::no_template)?.tokens(
                tokenizer,
                messages,
                PromptEnd::LastMessage,
            ),
        }
    }

    /// Tokenizes `documents` (each ended by the end-of-text token, if the vocabulary has one),
    /// puts those whose text hashes below `held_out_bps` of the range in the held-out split, and
    /// cuts each split's token stream into windows of `window + 1` tokens (the last, shorter
    /// one kept if it has at least two). A small datanet whose hashes put every document on
    /// one side still gets one on the other: the lowest hash is held out, or the highest
    /// trained on.
    ///
    /// # Errors
    /// A document the tokenizer refuses, or a split left empty (fewer than two documents).
    pub fn new(
        tokenizer: &Tokenizer,
        documents: &[String],
        window: usize,
        held_out_bps: u32,
    ) -> Result<Self> {
        let tokens = documents.iter().map(|d| tokenizer.encode(d)).collect::<Result<Vec<_>>>()?;
        Self::split(tokenizer, documents, tokens, window, held_out_bps)
    }

    fn split(
        tokenizer: &Tokenizer,
        texts: &[String],
        tokens: Vec<Vec<TokenId>>,
        window: usize,
        held_out_bps: u32,
    ) -> Result<Self> {
        let ranks: Vec<u64> = texts.iter().map(|d| fnv1a(d.as_bytes()) % 10_000).collect();
        let mut held: Vec<bool> = ranks.iter().map(|&r| r < u64::from(held_out_bps)).collect();
        if texts.len() >= 2 {
            let lowest = (0..ranks.len()).min_by_key(|&i| (ranks[i], i));
            let highest = (0..ranks.len()).max_by_key(|&i| (ranks[i], i));
            if !held.contains(&true)
                && let Some(i) = lowest
            {
                held[i] = true;
            }
            if !held.contains(&false)
                && let Some(i) = highest
            {
                held[i] = false;
            }
        }
        let (mut train, mut held_out) = (Vec::new(), Vec::new());
        let trained = held.iter().map(|h| !h).collect();
        for (mut tokens, held) in tokens.into_iter().zip(held) {
            tokens.extend(tokenizer.eos());
            if held { held_out.extend(tokens) } else { train.extend(tokens) }
        }
        let w = window.max(1);
        // Each window also holds the next token: the target of its last position.
        let cut = |stream: Vec<TokenId>| -> Vec<Vec<TokenId>> {
            (0..stream.len().div_ceil(w))
                .map(|i| stream[i * w..((i + 1) * w + 1).min(stream.len())].to_vec())
                .filter(|win| win.len() >= 2)
                .collect()
        };
        let corpus = Self { train: cut(train), held_out: cut(held_out), trained };
        if corpus.train.is_empty() || corpus.held_out.is_empty() {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "{} training and {} held-out windows: fine-tuning needs some of each (at least two documents)",
                    corpus.train.len(),
                    corpus.held_out.len()
                ),
            });
        }
        Ok(corpus)
    }
}

/// How a run goes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinetuneOptions {
    /// The optimizer, schedule and adapter.
    pub train: TrainConfig,
    /// Micro-batches (windows) per step, their gradients accumulated.
    pub micro_batches: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
}

/// What a run reports as it goes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Before the first step.
    Start {
        /// Steps to take (from `from_step`).
        steps: u64,
        /// The step the run starts at (past 0 when resumed from a checkpoint).
        from_step: u64,
        /// Windows in each split.
        train_windows: usize,
        /// Windows in each split.
        held_out_windows: usize,
        /// The held-out perplexity with the adapter as it starts.
        held_out_perplexity: f64,
    },
    /// A step was taken.
    Step {
        /// What it did.
        #[serde(flatten)]
        report: StepReport,
        /// Training tokens per second so far in this run.
        tokens_per_s: f64,
        /// Seconds left at that rate.
        eta_s: f64,
    },
}

/// The outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FinetuneReport {
    /// Steps taken in all.
    pub steps: u64,
    /// Held-out perplexity of the base model (a fresh adapter changes nothing).
    pub held_out_perplexity_before: f64,
    /// Held-out perplexity with the trained adapter.
    pub held_out_perplexity_after: f64,
    /// Training tokens of this run.
    pub tokens: usize,
    /// Its wall time.
    pub seconds: f64,
}

fn perplexity(trainer: &Trainer<'_>, windows: &[Vec<TokenId>]) -> Result<f64> {
    let (mut nll, mut n) = (0.0f64, 0usize);
    for w in windows {
        let tokens = w.len() - 1;
        nll += f64::from(trainer.loss(w)?) * tokens as f64;
        n += tokens;
    }
    Ok((nll / n.max(1) as f64).exp())
}

/// Trains an adapter over `base` on `corpus`; writes it to `adapter` (safetensors), and
/// checkpoints to `checkpoint` every `checkpoint_every` steps (resuming from it if it exists).
/// `on_event` sees the start and every step.
///
/// # Errors
/// A window the model refuses, or a file that cannot be read or written.
pub fn finetune(
    base: &FrozenBase,
    corpus: &Corpus,
    options: &FinetuneOptions,
    (adapter, checkpoint): (&Path, &Path),
    mut on_event: impl FnMut(&Event),
) -> Result<FinetuneReport> {
    let fresh = Trainer::new(base, options.train.clone())?;
    let before = perplexity(&fresh, &corpus.held_out)?;
    let mut trainer = fresh;
    if checkpoint.exists() {
        trainer.load_checkpoint(checkpoint)?;
    }
    let total = options.train.total_steps;
    let from = trainer.steps();
    on_event(&Event::Start {
        steps: total.saturating_sub(from),
        from_step: from,
        train_windows: corpus.train.len(),
        held_out_windows: corpus.held_out.len(),
        held_out_perplexity: if from == 0 {
            before
        } else {
            perplexity(&trainer, &corpus.held_out)?
        },
    });
    let started = Instant::now();
    let mut tokens = 0usize;
    let micro = options.micro_batches.max(1);
    while trainer.steps() < total {
        let step = trainer.steps();
        // Windows in a fixed order: the same steps see the same data, resumed or not.
        let batches: Vec<&[TokenId]> = (0..micro)
            .map(|j| {
                let i = (step as usize * micro + j) % corpus.train.len();
                corpus.train[i].as_slice()
            })
            .collect();
        let report = trainer.step(&batches)?;
        tokens += report.tokens;
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let tokens_per_s = tokens as f64 / elapsed;
        let left = total.saturating_sub(trainer.steps()) as f64;
        let per_step = elapsed / (trainer.steps() - from) as f64;
        on_event(&Event::Step { report, tokens_per_s, eta_s: left * per_step });
        if trainer.steps() % options.checkpoint_every.max(1) == 0 || trainer.steps() == total {
            trainer.save_checkpoint(checkpoint)?;
        }
    }
    trainer.save_adapter(adapter)?;
    Ok(FinetuneReport {
        steps: trainer.steps(),
        held_out_perplexity_before: before,
        held_out_perplexity_after: perplexity(&trainer, &corpus.held_out)?,
        tokens,
        seconds: started.elapsed().as_secs_f64(),
    })
}
