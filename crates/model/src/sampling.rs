//! Choosing the next token from logits: greedy, or seeded temperature / nucleus (top-p)
//! sampling.
//!
//! The random stream is SplitMix64, written here rather than taken from `rand` so that a seed
//! names the same tokens on every machine and in every future version: `rand` documents that
//! its standard generator may change between releases.

use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    tokenizer::TokenId,
};

/// Largest accepted temperature (beyond it sampling is uniform noise).
const TEMPERATURE_MAX: f32 = 100.0;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Sampling {
    /// The most likely token; ties go to the lowest id.
    Greedy,
    /// A random token from the softmax of `logits / temperature`, restricted to the smallest
    /// set of most likely tokens whose probability reaches `top_p`.
    Random {
        /// In `(0, 100]`; lower is more deterministic.
        temperature: f32,
        /// In `(0, 1]`; 1 keeps every token.
        top_p: f32,
        /// Seed of the random stream: the same seed, prompt and model give the same tokens.
        seed: u64,
    },
}

impl Sampling {
    /// Checks the parameters' ranges.
    pub fn validate(&self) -> Result<()> {
        if let Self::Random { temperature, top_p, .. } = *self {
            if !(temperature > 0.0 && temperature <= TEMPERATURE_MAX) {
                return Err(Error::InvalidConfig {
                    reason: format!("temperature {temperature} is outside (0, {TEMPERATURE_MAX}]"),
                });
            }
            if !(top_p > 0.0 && top_p <= 1.0) {
                return Err(Error::InvalidConfig {
                    reason: format!("top_p {top_p} is outside (0, 1]"),
                });
            }
        }
        Ok(())
    }
}

/// Penalties on tokens the generation already produced, applied to the logits before a token
/// is chosen (greedy or random alike):
///
/// ```text
/// logit[t] -= frequency · count[t] + presence · (count[t] > 0)        (OpenAI's definition)
/// logit[t]  = logit[t] / repetition  if logit[t] > 0,  else logit[t] · repetition   (count > 0)
/// ```
///
/// `count[t]` counts `t` among the last `window` generated tokens (the prompt is not
/// penalized: an answer that quotes its retrieved passages is what attribution pays for).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Penalties {
    /// In `[-2, 2]`: subtracted once per earlier occurrence.
    pub frequency: f32,
    /// In `[-2, 2]`: subtracted once if the token occurred at all.
    pub presence: f32,
    /// In `[1, 2]` (1 is off): divides a positive logit, multiplies a negative one.
    pub repetition: f32,
    /// Generated tokens looked back at (at most [`PENALTY_WINDOW_MAX`]).
    pub window: usize,
}

/// Longest penalty window, in tokens.
pub const PENALTY_WINDOW_MAX: usize = 4_096;

impl Penalties {
    /// No penalty: the model's own distribution.
    pub const NONE: Self = Self { frequency: 0.0, presence: 0.0, repetition: 1.0, window: 0 };

    /// What the gateway applies to a request that sets no repetition penalty, and what subnet
    /// validators score answers with (so they score what users are served): a mild
    /// multiplicative penalty on the last 256 generated tokens. Small models loop under greedy
    /// decoding (SmolLM2-135M repeated a code block to the token limit without it).
    pub const SERVING: Self = Self { frequency: 0.0, presence: 0.0, repetition: 1.15, window: 256 };

    /// True when these change nothing.
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.window == 0
            || (self.frequency == 0.0 && self.presence == 0.0 && self.repetition == 1.0)
    }

    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::InvalidConfig { reason });
        if !(-2.0..=2.0).contains(&self.frequency) {
            return bad(format!("frequency penalty {} is outside [-2, 2]", self.frequency));
        }
        if !(-2.0..=2.0).contains(&self.presence) {
            return bad(format!("presence penalty {} is outside [-2, 2]", self.presence));
        }
        if !(1.0..=2.0).contains(&self.repetition) {
            return bad(format!("repetition penalty {} is outside [1, 2]", self.repetition));
        }
        if self.window > PENALTY_WINDOW_MAX {
            return bad(format!("penalty window {} is over {PENALTY_WINDOW_MAX}", self.window));
        }
        Ok(())
    }

    /// Applies the penalties for `history` (generated tokens, oldest first) to `logits`.
    pub(crate) fn apply(&self, logits: &mut [f32], history: &[TokenId]) {
        if self.is_none() {
            return;
        }
        let recent = &history[history.len().saturating_sub(self.window)..];
        let mut counts: std::collections::BTreeMap<TokenId, u32> =
            std::collections::BTreeMap::new();
        for &t in recent {
            *counts.entry(t).or_default() += 1;
        }
        for (&t, &count) in &counts {
            let Some(l) = logits.get_mut(t as usize) else { continue };
            #[allow(clippy::cast_precision_loss)]
            let mut v = *l - self.frequency * count as f32 - self.presence;
            v = if v > 0.0 { v / self.repetition } else { v * self.repetition };
            *l = v;
        }
    }
}

impl Default for Penalties {
    fn default() -> Self {
        Self::NONE
    }
}

/// A sampler with its random state.
pub(crate) struct Sampler {
    sampling: Sampling,
    rng: SplitMix64,
    /// Scratch space reused between steps: (probability weight, token).
    candidates: Vec<(f64, TokenId)>,
}

impl Sampler {
    pub(crate) fn new(sampling: Sampling) -> Self {
        let seed = match sampling {
            Sampling::Greedy => 0,
            Sampling::Random { seed, .. } => seed,
        };
        Self { sampling, rng: SplitMix64(seed), candidates: Vec::new() }
    }

    /// The next token for `logits` (one value per vocabulary entry, not empty).
    pub(crate) fn sample(&mut self, logits: &[f32]) -> TokenId {
        match self.sampling {
            Sampling::Greedy => argmax(logits),
            Sampling::Random { temperature, top_p, .. } => self.random(logits, temperature, top_p),
        }
    }

    fn random(&mut self, logits: &[f32], temperature: f32, top_p: f32) -> TokenId {
        let max = logits.iter().copied().filter(|l| !l.is_nan()).fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return argmax(logits);
        }
        let t = f64::from(temperature);
        self.candidates.clear();
        self.candidates.extend(logits.iter().zip(0..).filter_map(|(&l, id)| {
            let w = ((f64::from(l) - f64::from(max)) / t).exp();
            (w > 0.0).then_some((w, id))
        }));
        let mut total: f64 = self.candidates.iter().map(|c| c.0).sum();
        if top_p < 1.0 {
            // Most likely first; equal weights by id, so the order is total and deterministic.
            self.candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let needed = f64::from(top_p) * total;
            let mut kept = 0.0;
            let mut keep = self.candidates.len();
            for (i, c) in self.candidates.iter().enumerate() {
                kept += c.0;
                if kept >= needed {
                    keep = i + 1;
                    break;
                }
            }
            self.candidates.truncate(keep);
            total = kept.min(total);
        }
        let mut u = self.rng.next_f64() * total;
        for &(w, id) in &self.candidates {
            if u < w {
                return id;
            }
            u -= w;
        }
        // Rounding left `u` past the last weight: take the last candidate.
        self.candidates.last().map_or_else(|| argmax(logits), |c| c.1)
    }
}

/// The index of the largest logit (NaN never wins; ties to the lowest index; 0 if empty).
pub(crate) fn argmax(logits: &[f32]) -> TokenId {
    let mut best: (f32, TokenId) = (f32::NEG_INFINITY, 0);
    for (&l, id) in logits.iter().zip(0..) {
        if l > best.0 {
            best = (l, id);
        }
    }
    best.1
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fixed forever.
struct SplitMix64(u64);

impl SplitMix64 {
    const fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1_u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(temperature: f32, top_p: f32, seed: u64) -> Sampling {
        Sampling::Random { temperature, top_p, seed }
    }

    #[test]
    fn splitmix_reference_values() {
        // First outputs for seed 0, as published with the algorithm.
        let mut rng = SplitMix64(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn greedy_takes_the_first_maximum_and_skips_nan() {
        assert_eq!(argmax(&[0.0, 2.0, 2.0, 1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -1.0, -3.0]), 1);
        assert_eq!(argmax(&[]), 0);
    }

    #[test]
    fn same_seed_same_tokens() {
        let logits: Vec<f32> = (0..50).map(|i| ((i * 7919) % 13) as f32 * 0.3).collect();
        let draw = |seed| {
            let mut s = Sampler::new(random(1.0, 0.9, seed));
            (0..32).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // Token 3 holds almost all the mass: a small top_p must always pick it.
        let logits = [0.0, 0.0, 0.0, 20.0, 0.0];
        let mut s = Sampler::new(random(1.0, 0.5, 1));
        assert!((0..100).all(|_| s.sample(&logits) == 3));
        // With top_p = 1 and a flat distribution every token shows up.
        let mut s = Sampler::new(random(1.0, 1.0, 1));
        let mut seen = [false; 5];
        (0..200).for_each(|_| seen[s.sample(&[0.0; 5]) as usize] = true);
        assert_eq!(seen, [true; 5]);
    }

    #[test]
    fn parameters_are_validated() {
        assert!(Sampling::Greedy.validate().is_ok());
        assert!(random(0.7, 0.95, 0).validate().is_ok());
        for bad in [
            random(0.0, 1.0, 0),
            random(f32::NAN, 1.0, 0),
            random(1.0, 0.0, 0),
            random(1.0, 1.5, 0),
        ] {
            assert!(matches!(bad.validate(), Err(Error::InvalidConfig { .. })), "{bad:?}");
        }
    }
}
