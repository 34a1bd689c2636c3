//! What a validator measures: each miner's model on the held-out split of the subnet's datanet
//! versions, as nats per byte (tokenizer-independent), turned into weights.
//!
//! Held-out split: the approved contributions of each named version whose content hash starts
//! with a byte divisible by 5 (a fifth of them, fixed by content, the same for every validator
//! and unknown to nobody, but not chosen by the miner); a version where that picks nothing is
//! evaluated whole. Miners may train on anything, so what the split buys is comparability, not
//! secrecy: every validator scores the same text.
//!
//! Per-token perplexity cannot compare models with different tokenizers (a 300-token byte
//! vocabulary predicts "better" per token than a 49k one), so the score is the negative
//! log-likelihood per byte of text scored; its exponential is the perplexity per byte.

use alx_client::Client;
use alx_model::{Model, PerplexityConfig};
use alx_types::subnet_api::SubnetJson;
use anyhow::Context as _;
use std::{io::Read as _, num::NonZeroUsize};

/// Held-out texts of `subnet`, from the node's blob store.
pub(crate) fn held_out(client: &Client, subnet: &SubnetJson) -> anyhow::Result<Vec<String>> {
    let mut texts = Vec::new();
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
            texts.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    Ok(texts)
}

/// A model's score on the held-out texts.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(crate) struct Score {
    /// Negative log-likelihood per byte of text scored, in nats.
    pub(crate) nats_per_byte: f64,
    /// Tokens scored.
    pub(crate) tokens: usize,
    /// Bytes those tokens cover.
    pub(crate) bytes: usize,
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
    Ok(Score { nats_per_byte: nll / bytes as f64, tokens, bytes })
}

/// Weights from scores: each miner's per-byte likelihood `exp(−nats/byte)` relative to the
/// best, as u16 (the best gets 65535; a miner that could not be scored gets 0).
pub(crate) fn weights(scores: &[Option<Score>]) -> Vec<u16> {
    let likelihood = |s: &Option<Score>| s.map_or(0.0, |s| (-s.nats_per_byte).exp());
    let best = scores.iter().map(likelihood).fold(0.0f64, f64::max);
    scores
        .iter()
        .map(|s| if best > 0.0 { (65_535.0 * likelihood(s) / best).round() as u16 } else { 0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(nats_per_byte: f64) -> Option<Score> {
        Some(Score { nats_per_byte, tokens: 10, bytes: 40 })
    }

    #[test]
    fn the_best_model_gets_the_full_weight() {
        let w = weights(&[s(2.0), s(0.5), None, s(0.5 + std::f64::consts::LN_2)]);
        assert_eq!(w[..3], [(65_535.0 * (-1.5f64).exp()).round() as u16, 65_535, 0]);
        // Half the best likelihood: 32767.5 before rounding, either side by float error.
        assert!(w[3].abs_diff(32_768) <= 1, "{w:?}");
        assert_eq!(weights(&[None, None]), vec![0, 0]);
    }
}
