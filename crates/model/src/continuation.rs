//! The likelihood of a continuation: how well the model predicts `output` after `prompt`,
//! the score a validator gives an answer the way users are served (the gateway's prompt with
//! its retrieved passages, then the expected answer). The prompt is fed as serving prefills
//! it, in chunks of [`ROWS_PER_LOGITS_PASS`] with only the last position's logits; only the
//! output's tokens are scored.

use crate::{
    error::{Error, Result},
    llama::Positions,
    model::Model,
    perplexity::ROWS_PER_LOGITS_PASS,
    tokenizer::TokenId,
};
use serde::Serialize;

/// What [`Model::continuation`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Continuation {
    /// Output tokens scored.
    pub tokens: usize,
    /// The sum of their negative natural-log likelihoods.
    pub nll_sum: f64,
}

impl Model {
    /// The negative log-likelihood of `output` following `prompt`, with `adapter`'s updates if
    /// the model is served with one.
    ///
    /// # Errors
    /// An empty prompt or output, a sequence longer than the context, or a failed forward pass.
    pub fn continuation(
        &self,
        prompt: &[TokenId],
        output: &[TokenId],
        adapter: Option<&std::sync::Arc<crate::Adapter>>,
    ) -> Result<Continuation> {
        let (mut session, last) = self.prefilled(prompt, output, adapter)?;
        // The last prompt position predicts output[0]; each output token predicts the next.
        let mut nll_sum = -log_prob(last.last(), output[0]);
        let fed = &output[..output.len() - 1];
        for (chunk_index, chunk) in fed.chunks(ROWS_PER_LOGITS_PASS).enumerate() {
            let logits = session.feed(chunk, Positions::All)?;
            for row in 0..chunk.len() {
                let target = output[chunk_index * ROWS_PER_LOGITS_PASS + row + 1];
                let values = logits.row(row).ok_or_else(|| Error::InvalidConfig {
                    reason: "the forward pass returned fewer rows than it was fed".into(),
                })?;
                nll_sum -= log_prob(values, target);
            }
        }
        Ok(Continuation { tokens: output.len(), nll_sum })
    }
}

/// `log softmax(logits)[target]`, in f64 (an id outside the vocabulary is impossible: -inf).
fn log_prob(logits: &[f32], target: TokenId) -> f64 {
    let Some(&chosen) = logits.get(target as usize) else { return f64::NEG_INFINITY };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    f64::from(chosen - max) - sum.ln()
}

#[cfg(test)]
mod tests {
    use crate::{LoadConfig, Model, PerplexityConfig, tiny};
    use std::num::NonZeroUsize;

    fn model() -> (tempfile::TempDir, Model) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        tiny::write(&path, &tiny::TinySpec::DEFAULT).unwrap();
        let model = Model::load(&path, &LoadConfig::DEFAULT).unwrap();
        (dir, model)
    }

    /// A continuation's likelihood is the whole sequence's less the prompt's: the same model,
    /// scored two ways (one pass, or a prefill then the output).
    #[test]
    fn a_continuation_scores_what_the_whole_sequence_adds() {
        let (_dir, model) = model();
        let mut text = model
            .tokenizer()
            .encode("Move modules publish resources under an account address.")
            .unwrap();
        text.truncate(model.context_length());
        let (prompt, output) = text.split_at(9);
        let window = PerplexityConfig { window: NonZeroUsize::new(text.len()).unwrap() };
        let whole = model.perplexity(&text, &window).unwrap().nll_sum;
        let first = PerplexityConfig { window: NonZeroUsize::new(prompt.len()).unwrap() };
        let prefix = model.perplexity(prompt, &first).unwrap().nll_sum;
        let got = model.continuation(prompt, output, None).unwrap();
        assert_eq!(got.tokens, output.len());
        let expected = whole - prefix;
        assert!(
            (got.nll_sum - expected).abs() < 1e-3 * expected.abs().max(1.0),
            "{got:?} vs {expected}"
        );
        assert_eq!(got, model.continuation(prompt, output, None).unwrap(), "deterministic");
    }

    #[test]
    fn an_empty_side_or_an_overlong_sequence_is_refused() {
        let (_dir, model) = model();
        assert!(model.continuation(&[], &[1], None).is_err());
        assert!(model.continuation(&[1], &[], None).is_err());
        let long = vec![1; model.context_length()];
        assert!(model.continuation(&long, &[1], None).is_err());
    }
}
