//! What a validator measures: each miner's model on the held-out split of the subnet's datanet
//! versions, as nats per byte (tokenizer-independent) and, where the split has question/answer
//! pairs, as task accuracy (`evaluate_qa`), turned into weights.
//!
//! Held-out split: the approved contributions of each named version whose content hash starts
//! with a byte divisible by 5 (a fifth of them, fixed by content, the same for every validator
//! and unknown to nobody, but not chosen by the miner); a version where that picks nothing is
//! evaluated whole. Miners may train on anything, so what the split buys is comparability, not
//! secrecy: every validator scores the same text and asks the same questions. A text, markdown
//! or code contribution is one text; a JSONL one gives a text per line and its
//! question/answer pairs (see `evaluate_qa` for the line format). Only the first pairs, in
//! version, contribution and line order, are asked (the validator's `--eval-questions`).
//!
//! Per-token perplexity cannot compare models with different tokenizers (a 300-token byte
//! vocabulary predicts "better" per token than a 49k one), so the likelihood score is the
//! negative log-likelihood per byte of text scored; its exponential is the perplexity per byte.
//!
//! Weights: a miner's likelihood per byte relative to the best miner's, or, when any miner
//! answered a question correctly, the mean of that and its accuracy relative to the best
//! accuracy; then scaled so that the best miner gets 65535. Accuracy rewards what a subnet's
//! task asks for (answers), and likelihood keeps ranking models that answer nothing.

use super::evaluate_qa::{self, Accuracy, QaPair};
use alx_client::Client;
use alx_model::{Model, PerplexityConfig};
use alx_types::{datanet::MediaType, subnet_api::SubnetJson};
use anyhow::Context as _;
use std::{io::Read as _, num::NonZeroUsize};

/// What the held-out split holds.
#[derive(Debug, Default)]
pub(crate) struct HeldOut {
    /// Texts for the likelihood score.
    pub(crate) texts: Vec<String>,
    /// Question/answer pairs to ask, at most the `questions_max` given to [`held_out`].
    pub(crate) pairs: Vec<QaPair>,
}

/// The held-out split of `subnet`, from the node's blob store, with at most `questions_max`
/// pairs.
pub(crate) fn held_out(
    client: &Client,
    subnet: &SubnetJson,
    questions_max: usize,
) -> anyhow::Result<HeldOut> {
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
            let (_, mut body) = client.get_blob(&c.content.hash)?;
            let mut bytes = Vec::new();
            body.read_to_end(&mut bytes).context("reading a held-out blob")?;
            // Contributions are stored as UTF-8 text (the datanet ingest rules).
            let text = String::from_utf8_lossy(&bytes);
            if c.content.media_type != MediaType::Jsonl {
                held_out.texts.push(text.into_owned());
                continue;
            }
            let lines = evaluate_qa::json_lines(&text);
            held_out.texts.extend(lines.texts);
            let room = questions_max.saturating_sub(held_out.pairs.len());
            held_out.pairs.extend(lines.pairs.into_iter().take(room));
        }
    }
    Ok(held_out)
}

/// A model's score on the held-out split.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct Score {
    /// Negative log-likelihood per byte of text scored, in nats.
    pub(crate) nats_per_byte: f64,
    /// Tokens scored.
    pub(crate) tokens: usize,
    /// Bytes those tokens cover.
    pub(crate) bytes: usize,
    /// Its answers to the split's questions (`None` when the split has none).
    pub(crate) accuracy: Option<Accuracy>,
}

/// Scores `model` on at most `budget` tokens of `texts` (each text in windows of up to 256
/// tokens).
pub(crate) fn score(model: &Model, texts: &[String], budget: usize) -> anyhow::Result<Score> {
    let (mut nll, mut tokens, mut bytes) = (0.0f64, 0usize, 0usize);
    let window = 256.min(model.context_length());
    let window = NonZeroUsize::new(window).context("the model has no context")?;
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
        let p = model.perplexity(&ids, &PerplexityConfig { window })?;
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
    anyhow::ensure!(bytes > 0, "no held-out text to score");
    Ok(Score { nats_per_byte: nll / bytes as f64, tokens, bytes, accuracy: None })
}

/// Weights from scores (see the module docs): as u16, the best miner gets 65535 and a miner
/// that could not be scored gets 0.
pub(crate) fn weights(scores: &[Option<Score>]) -> Vec<u16> {
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
}
