//! Perplexity: how well the model predicts a text, the score validators compare models by.
//!
//! Logits are computed for 128 positions at a time from the window's
//! hidden states, so memory stays at a few tens of MB for any window (a 2,048-token window of
//! SmolLM2 would otherwise hold 0.4 GB of logits, twice).
//!
//! The tokens are cut into consecutive windows; each window is one forward pass from an empty
//! context with logits at every position, and every token after the first of its window is
//! scored by its negative log-likelihood. (Non-overlapping windows, as llama.cpp's
//! `perplexity` tool does: the first tokens of each window are scored with little context, so
//! results depend on the window and are comparable only at equal windows.)

use std::num::NonZeroUsize;

use serde::Serialize;

use crate::{
    adapter::Adapter,
    error::{Error, Result},
    llama::target_log_probs,
    model::Model,
    tokenizer::TokenId,
};

/// Positions whose logits are held at once.
pub(crate) const ROWS_PER_LOGITS_PASS: usize = 128;

/// How to evaluate perplexity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PerplexityConfig {
    /// Tokens per forward pass (at most the context length).
    pub window: NonZeroUsize,
}

/// The result of a perplexity evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Perplexity {
    /// Tokens whose likelihood was scored.
    pub tokens_scored: usize,
    /// Sum of their negative natural-log likelihoods.
    pub nll_sum: f64,
    /// `exp(nll_sum / tokens_scored)`.
    pub perplexity: f64,
}

impl Model {
    /// The perplexity of `tokens`.
    pub fn perplexity(&self, tokens: &[TokenId], config: &PerplexityConfig) -> Result<Perplexity> {
        self.perplexity_adapted(tokens, config, None)
    }

    /// The perplexity of `tokens` with `adapter`'s updates added to the base.
    pub fn perplexity_adapted(
        &self,
        tokens: &[TokenId],
        config: &PerplexityConfig,
        adapter: Option<&Adapter>,
    ) -> Result<Perplexity> {
        self.check_adapter(adapter)?;
        let window = config.window.get();
        if window > self.context_length() {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "perplexity window {window} exceeds the context of {} tokens",
                    self.context_length()
                ),
            });
        }
        let mut nll_sum = 0.0;
        let mut tokens_scored = 0;
        for chunk in tokens.chunks(window).filter(|c| c.len() >= 2) {
            let targets = &chunk[1..];
            let log_probs = self.install(|| -> Result<Vec<f32>> {
                let llama = self.llama();
                let hidden = llama.hidden(chunk, &mut llama.cache(), adapter)?;
                let mut log_probs = Vec::with_capacity(targets.len());
                for (i, rows) in targets.chunks(ROWS_PER_LOGITS_PASS).enumerate() {
                    let start = i * ROWS_PER_LOGITS_PASS;
                    let logits = llama.logits(&hidden.narrow(0, start, rows.len())?)?;
                    log_probs.extend(target_log_probs(&logits, rows)?);
                }
                Ok(log_probs)
            })?;
            nll_sum -= log_probs.iter().map(|&lp| f64::from(lp)).sum::<f64>();
            tokens_scored += targets.len();
        }
        if tokens_scored == 0 {
            return Err(Error::TooFewTokens { needed: 2, got: tokens.len() });
        }
        let perplexity = (nll_sum / tokens_scored as f64).exp();
        Ok(Perplexity { tokens_scored, nll_sum, perplexity })
    }
}
