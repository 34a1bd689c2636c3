//! What a validator measures: each miner's model on the held-out split of the subnet's datanet
//! versions, as nats per byte (tokenizer-independent) and, where the split has question/answer
//! pairs, as task accuracy ([`crate::qa`]), turned into weights.
//!
//! What is scored: the subnet's latest **sealed evaluation set** once its owner has revealed
//! one (docs/design/evaluation.md): a set committed on chain while private and published a
//! subnet epoch or more later. A miner's model is fixed when its uid registers, so a set
//! revealed after that is one the model cannot have been trained on; a miner registered after
//! the latest reveal is not scored (weight 0) until the next set. Before a subnet's first
//! reveal, the public held-out split: the approved contributions of each named version whose
//! content hash starts with a byte divisible by 5 (a fifth of them, fixed by content, the same
//! for every validator); a version where that picks nothing is evaluated whole. Miners may
//! train on that split, so it buys comparability, not secrecy. A text, markdown
//! or code contribution is one text; a JSONL one gives a text per line and its
//! question/answer pairs (see [`crate::qa`] for the line format). Only the first pairs, in
//! version, contribution and line order, are asked (`questions_max`).
//!
//! Per-token perplexity cannot compare models with different tokenizers (a 300-token byte
//! vocabulary predicts "better" per token than a 49k one), so the likelihood score is the
//! negative log-likelihood per byte of text scored; its exponential is the perplexity per byte.
//!
//! Weights: a miner's likelihood per byte relative to the best miner's, or, when any miner
//! answered a question correctly, the mean of that and its accuracy relative to the best
//! accuracy; then scaled so that the best miner gets 65535. Accuracy rewards what a subnet's
//! task asks for (answers), and likelihood keeps ranking models that answer nothing. Floats
//! are fine here: weights are a validator's opinion, and the chain only sees the `u16`s.

use crate::{
    NeuronError,
    qa::{self, Accuracy, QaPair},
};
use alx_client::Client;
use alx_model::{Adapter, Model, PerplexityConfig};
use alx_types::{
    datanet::{ContentRef, MediaType},
    model::ModelSpec,
    subnet_api::{NeuronJson, SubnetJson},
};
use std::{io::Read as _, num::NonZeroUsize, path::PathBuf, sync::Arc};

/// Largest held-out blob read (the chain's contribution limit).
const BLOB_BYTES_MAX: u64 = 64 << 20;
/// Longest window of tokens scored at once.
const WINDOW_TOKENS_MAX: usize = 256;

/// How a validator scores one miner; the validator loop asks once per miner and epoch.
pub trait Scorer {
    /// Called once per epoch before any [`Scorer::score`]: fetch what the epoch needs.
    fn prepare(&mut self, subnet: &SubnetJson) -> Result<(), NeuronError>;
    /// The score of `miner`'s model. An error leaves that miner unscored (weight 0) and the
    /// others scored.
    fn score(&mut self, miner: &NeuronJson) -> Result<Score, NeuronError>;
}

/// A registered model as scored: its base, and its fine-tuned adapter if it has one.
#[derive(Clone, Debug)]
pub struct Weights {
    /// The base model.
    pub model: Arc<Model>,
    /// The adapter the model registers, applied over the base.
    pub adapter: Option<Arc<Adapter>>,
}

impl Weights {
    /// A model without an adapter.
    #[must_use]
    pub const fn bare(model: Arc<Model>) -> Self {
        Self { model, adapter: None }
    }
}

/// The weights of registered models (the node's model directory and the adapters in its blob
/// store, for the CLI).
pub trait ModelSource {
    /// The weights `spec` registers (its base by content hash, and its adapter, checked), or
    /// `None` when the base is not here.
    ///
    /// # Errors
    /// A base that does not load, or an adapter that is missing or invalid.
    fn model(&self, spec: &ModelSpec) -> Result<Option<Weights>, NeuronError>;
    /// Where the weights are looked for, for messages.
    fn location(&self) -> PathBuf;
}

/// What the held-out split holds.
#[derive(Debug, Default)]
pub struct HeldOut {
    /// Texts for the likelihood score.
    pub texts: Vec<String>,
    /// Question/answer pairs to ask, at most the `questions_max` given to [`held_out`].
    pub pairs: Vec<QaPair>,
}

/// The public held-out split of `subnet`, from the node's blob store, with at most
/// `questions_max` pairs.
pub fn held_out(
    client: &Client,
    subnet: &SubnetJson,
    questions_max: usize,
) -> Result<HeldOut, NeuronError> {
    let mut held_out = HeldOut::default();
    for r in &subnet.spec.datanets {
        let approved: Vec<_> = client
            .contributions(r.datanet, Some("approved"))?
            .into_iter()
            .filter(|c| c.first_version != 0 && c.first_version <= r.version)
            .collect();
        let held: Vec<_> = approved.iter().filter(|c| c.content.hash.0[0] % 5 == 0).collect();
        let chosen: Vec<_> = if held.is_empty() { approved.iter().collect() } else { held };
        for c in chosen {
            read_into(client, &c.content, questions_max, &mut held_out)?;
        }
    }
    Ok(held_out)
}

/// The subnet's latest revealed evaluation set, if it has one: the block it was revealed at
/// and what it holds (at most `questions_max` pairs).
pub fn sealed_set(
    client: &Client,
    subnet: &SubnetJson,
    questions_max: usize,
) -> Result<Option<(u64, HeldOut)>, NeuronError> {
    let latest = client
        .subnet_evals(&subnet.id.to_string())?
        .into_iter()
        .filter_map(|e| Some((e.revealed_at?, e.content?)))
        .max_by_key(|(at, _)| *at);
    let Some((at, content)) = latest else { return Ok(None) };
    let unavailable = |why: String| NeuronError::EvalUnavailable(why);
    let bytes = blob_bytes(client, &content).map_err(|e| unavailable(e.to_string()))?;
    // The node is this validator's own, but the chain names the bytes: hold it to them.
    if bytes.len() as u64 != content.size || blake3::hash(&bytes).as_bytes() != &content.hash.0 {
        return Err(unavailable(format!("blob {} is not the set revealed", content.hash)));
    }
    let mut set = HeldOut::default();
    add_text(&bytes, content.media_type, questions_max, &mut set);
    Ok(Some((at.0, set)))
}

/// What an epoch scores on: the latest revealed set with the block it was revealed at, or
/// the public split (`None`) before the subnet's first reveal; at most `questions_max` pairs.
///
/// # Errors
/// A set the node cannot give ([`NeuronError::EvalUnavailable`]), a failed read, or nothing to
/// score ([`NeuronError::NoHeldOut`]).
pub fn evaluation_set(
    client: &Client,
    subnet: &SubnetJson,
    questions_max: usize,
) -> Result<(Option<u64>, HeldOut), NeuronError> {
    let (at, set) = match sealed_set(client, subnet, questions_max)? {
        Some((at, set)) => (Some(at), set),
        None => (None, held_out(client, subnet, questions_max)?),
    };
    if set.texts.is_empty() {
        return Err(NeuronError::NoHeldOut);
    }
    Ok((at, set))
}

/// Adds a blob's texts and pairs (a JSONL blob's lines, any other blob as one text).
fn read_into(
    client: &Client,
    content: &ContentRef,
    questions_max: usize,
    held_out: &mut HeldOut,
) -> Result<(), NeuronError> {
    let bytes = blob_bytes(client, content)?;
    add_text(&bytes, content.media_type, questions_max, held_out);
    Ok(())
}

/// A blob's bytes from the node, at most [`BLOB_BYTES_MAX`].
fn blob_bytes(client: &Client, content: &ContentRef) -> Result<Vec<u8>, NeuronError> {
    let (_, body) = client.get_blob(&content.hash)?;
    let mut bytes = Vec::new();
    body.take(BLOB_BYTES_MAX).read_to_end(&mut bytes).map_err(|source| NeuronError::Io {
        path: format!("blob {}", content.hash).into(),
        source,
    })?;
    Ok(bytes)
}

/// Adds a blob's bytes: a JSONL blob's lines (texts and pairs), any other blob as one text.
fn add_text(bytes: &[u8], media: MediaType, questions_max: usize, held_out: &mut HeldOut) {
    // Contributions are stored as UTF-8 text (the datanet ingest rules); a lying node gets its
    // bad bytes replaced, not a panic.
    let text = String::from_utf8_lossy(bytes);
    if media != MediaType::Jsonl {
        held_out.texts.push(text.into_owned());
        return;
    }
    let lines = qa::json_lines(&text);
    held_out.texts.extend(lines.texts);
    let room = questions_max.saturating_sub(held_out.pairs.len());
    held_out.pairs.extend(lines.pairs.into_iter().take(room));
}

/// A model's score on the held-out split.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Score {
    /// Negative log-likelihood per byte of text scored, in nats.
    pub nats_per_byte: f64,
    /// Tokens scored.
    pub tokens: usize,
    /// Bytes those tokens cover.
    pub bytes: usize,
    /// Its answers to the split's questions (`None` when the split has none).
    pub accuracy: Option<Accuracy>,
}

/// Scores `weights` (with its adapter, if any) on at most `budget` tokens of `texts` (each
/// text in windows of up to 256 tokens).
pub fn score(weights: &Weights, texts: &[String], budget: usize) -> Result<Score, NeuronError> {
    let model = &weights.model;
    let (mut nll, mut tokens, mut bytes) = (0.0f64, 0usize, 0usize);
    let window = NonZeroUsize::new(WINDOW_TOKENS_MAX.min(model.context_length()))
        .ok_or(NeuronError::NoHeldOut)?;
    for text in texts {
        let left = budget.saturating_sub(tokens);
        if left < 2 {
            break;
        }
        let mut ids = model.tokenizer().encode(text)?;
        ids.truncate(left);
        if ids.len() < 2 {
            continue;
        }
        let p = model.perplexity_adapted(
            &ids,
            &PerplexityConfig { window },
            weights.adapter.as_deref(),
        )?;
        // The bytes of the scored tokens: every token but the first of each window.
        let scored: Vec<u32> = ids
            .chunks(window.get())
            .filter(|c| c.len() >= 2)
            .flat_map(|c| c[1..].iter().copied())
            .collect();
        nll += p.nll_sum;
        tokens += p.tokens_scored;
        bytes += model.tokenizer().decode(&scored)?.len();
    }
    if bytes == 0 {
        return Err(NeuronError::NoHeldOut);
    }
    Ok(Score { nats_per_byte: nll / bytes as f64, tokens, bytes, accuracy: None })
}

/// Weights from scores (see the module docs): as u16, the best miner gets 65535 and a miner
/// that could not be scored gets 0.
#[must_use]
pub fn weights(scores: &[Option<Score>]) -> Vec<u16> {
    let likelihood = |s: &Option<Score>| s.map_or(0.0, |s| (-s.nats_per_byte).exp());
    let accuracy = |s: &Option<Score>| s.and_then(|s| s.accuracy).map_or(0.0, Accuracy::rate);
    let best_likelihood = scores.iter().map(likelihood).fold(0.0f64, f64::max);
    let best_accuracy = scores.iter().map(accuracy).fold(0.0f64, f64::max);
    // Without a correct answer anywhere this is the likelihood itself, so the weights are the
    // likelihood-only ones to the last bit.
    let value = |s: &Option<Score>| {
        if best_accuracy == 0.0 {
            return likelihood(s);
        }
        let relative = if best_likelihood > 0.0 { likelihood(s) / best_likelihood } else { 0.0 };
        0.5 * relative + 0.5 * accuracy(s) / best_accuracy
    };
    let best = scores.iter().map(value).fold(0.0f64, f64::max);
    scores
        .iter()
        .map(|s| if best > 0.0 { (65_535.0 * value(s) / best).round() as u16 } else { 0 })
        .collect()
}

/// Refuses to score a miner on a set revealed at or after its registration (its model could
/// have been trained on it).
pub fn check_evaluable(revealed_at: Option<u64>, miner: &NeuronJson) -> Result<(), NeuronError> {
    match revealed_at {
        Some(at) if miner.registered_at.0 >= at => Err(NeuronError::NotYetEvaluable {
            uid: miner.uid,
            registered_at: miner.registered_at.0,
            revealed_at: at,
        }),
        _ => Ok(()),
    }
}

/// What [`HeldOutScorer`] scores with.
#[derive(Clone, Copy, Debug)]
pub struct HeldOutConfig {
    /// Held-out tokens scored per model and epoch.
    pub eval_tokens: usize,
    /// Held-out questions asked per model and epoch (0: likelihood only).
    pub eval_questions: usize,
}

/// The validator's scorer: every miner's model on the subnet's held-out split, read through
/// the node's API, with the weights found by content hash in a [`ModelSource`].
pub struct HeldOutScorer<M> {
    client: Client,
    models: M,
    config: HeldOutConfig,
    held_out: HeldOut,
    /// The block the scored set was revealed at (`None`: the public split).
    revealed_at: Option<u64>,
}

impl<M> std::fmt::Debug for HeldOutScorer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldOutScorer").field("config", &self.config).finish_non_exhaustive()
    }
}

impl<M: ModelSource> HeldOutScorer<M> {
    /// A scorer reading the split through `client` and the models from `models`.
    pub fn new(client: Client, models: M, config: HeldOutConfig) -> Self {
        Self { client, models, config, held_out: HeldOut::default(), revealed_at: None }
    }
}

impl<M: ModelSource> Scorer for HeldOutScorer<M> {
    fn prepare(&mut self, subnet: &SubnetJson) -> Result<(), NeuronError> {
        (self.revealed_at, self.held_out) =
            evaluation_set(&self.client, subnet, self.config.eval_questions)?;
        Ok(())
    }

    fn score(&mut self, miner: &NeuronJson) -> Result<Score, NeuronError> {
        check_evaluable(self.revealed_at, miner)?;
        let model = miner.model.ok_or(NeuronError::MissingModel { uid: miner.uid })?;
        let spec = self.client.model(&model.to_string())?.spec;
        let weights = self.models.model(&spec)?.ok_or_else(|| NeuronError::MissingWeights {
            hash: alx_types::hash::to_hex(&spec.base_model),
            dir: self.models.location(),
        })?;
        let mut score = score(&weights, &self.held_out.texts, self.config.eval_tokens)?;
        if !self.held_out.pairs.is_empty() {
            score.accuracy = Some(qa::accuracy(&weights, &self.held_out.pairs)?);
        }
        Ok(score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(nats_per_byte: f64) -> Option<Score> {
        Some(Score { nats_per_byte, tokens: 10, bytes: 40, accuracy: None })
    }

    fn qa(nats_per_byte: f64, correct: usize, asked: usize) -> Option<Score> {
        let accuracy = Some(Accuracy { correct, asked });
        Some(Score { nats_per_byte, tokens: 10, bytes: 40, accuracy })
    }

    #[test]
    fn the_best_model_gets_the_full_weight() {
        let w = weights(&[s(2.0), s(0.5), None, s(0.5 + std::f64::consts::LN_2)]);
        assert_eq!(w[..3], [(65_535.0 * (-1.5f64).exp()).round() as u16, 65_535, 0]);
        // Half the best likelihood: 32767.5 before rounding, either side by float error.
        assert!(w[3].abs_diff(32_768) <= 1, "{w:?}");
        assert_eq!(weights(&[None, None]), vec![0, 0]);
    }

    #[test]
    fn accuracy_counts_half() {
        // Equal likelihood: 0.5 + 0.5 * 1/2 against 0.5 + 0.5 * 2/2.
        assert_eq!(weights(&[qa(1.0, 1, 4), qa(1.0, 2, 4), None]), [49_151, 65_535, 0]);
        // Half the likelihood and every answer (0.25 + 0.5) beats the best likelihood and no
        // answer (0.5), which gets 2/3 of the weight.
        let w = weights(&[qa(0.5, 0, 4), qa(0.5 + std::f64::consts::LN_2, 4, 4)]);
        assert!(w[0].abs_diff(43_690) <= 1 && w[1] == 65_535, "{w:?}");
        // Accuracy alone still ranks when no likelihood is representable.
        assert_eq!(weights(&[qa(f64::INFINITY, 1, 2), qa(f64::INFINITY, 2, 2)]), [32_768, 65_535]);
    }

    #[test]
    fn without_a_correct_answer_the_likelihood_decides() {
        let plain = [s(2.0), s(0.5), None, s(0.5 + std::f64::consts::LN_2)];
        let unanswered =
            [qa(2.0, 0, 8), qa(0.5, 0, 8), None, qa(0.5 + std::f64::consts::LN_2, 0, 0)];
        assert_eq!(weights(&unanswered), weights(&plain));
    }

    #[test]
    fn a_tiny_model_scores_finite_nats_per_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        alx_model::tiny::write(&path, &alx_model::tiny::TinySpec::DEFAULT).unwrap();
        let model =
            Weights::bare(Model::load(&path, &alx_model::LoadConfig::DEFAULT).unwrap().into());
        let texts = vec!["Move modules publish resources under an account address.".to_owned()];
        let got = score(&model, &texts, 64).unwrap();
        assert!(got.nats_per_byte.is_finite() && got.nats_per_byte > 0.0, "{got:?}");
        assert!(got.tokens > 0 && got.bytes > 0 && got.tokens <= 64, "{got:?}");
        assert_eq!(got, score(&model, &texts, 64).unwrap(), "deterministic");
        assert_eq!(score(&model, &[], 64).unwrap_err().code(), "no_held_out_data");
    }
}
