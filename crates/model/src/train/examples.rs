//! The influence of an adapter's training examples on one answer, as a served model computes
//! it: the examples' features (written once by `alx model finetune` into a file the manifest
//! names by hash), the adapter's training configuration and weights, and a frozen base to take
//! the answer's gradient on.
//!
//! ```text
//! features file (safetensors): features f32 [N, dims]; keys i64 [N, 2] (datanet, contribution),
//!                               strictly ascending
//! answer tokens ─ summed loss of the output ─ ∇_lora ─ sketch ─► φ_q ─ TRAK ─► scores
//!               ─ quantize: the largest magnitude to ±1,000,000, the rest in proportion
//! ```
//!
//! The quantized scores are what a receipt records; the attribution crate's integer rule turns
//! them into shares, so anyone recomputes the money from the receipt, and anyone holding the
//! weights recomputes the scores (up to float rounding: a juror compares within a tolerance).

use super::{
    Projection, TrainConfig, Trainer,
    forward::FrozenBase,
    influence::{EXAMPLES_MAX, InfluenceIndex, Method, Sketch},
    lora::Lora,
};
use crate::{
    LlamaParams,
    error::{Error, Result},
};
use candle_core::{DType, Device, Tensor};
use std::{collections::BTreeMap, path::Path};

/// The most features per example (loading costs `N² · dims` for the Gram matrix).
pub const DIMS_MAX: usize = 1_024;
/// The largest features file read: [`EXAMPLES_MAX`] rows of [`DIMS_MAX`] floats and their keys.
pub const FEATURES_BYTES_MAX: usize = EXAMPLES_MAX * (DIMS_MAX * 4 + 16) + (1 << 20);
/// The magnitude the largest quantized score takes.
pub const SCORE_SCALE: f64 = 1_000_000.0;
/// The largest relative damping accepted.
const DAMPING_MAX: f64 = 1_000.0;
/// The smallest: less lets nearly collinear features swing the scores with float rounding,
/// so that honest recomputations on two machines would disagree.
const DAMPING_MIN: f64 = 0.01;
/// The most tokens an answer's influence query may run (a manifest may ask fewer).
pub const QUERY_TOKENS_MAX: usize = 512;

/// How answers are scored against an adapter's examples (what its manifest records).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scoring {
    /// The sketch of the gradients.
    pub sketch: Sketch,
    /// TRAK's relative damping.
    pub damping: f64,
    /// The most tokens a query runs: the last ones of prompt and answer.
    pub query_tokens: usize,
}

impl Scoring {
    /// 1,024 features, seed 0, damping 0.1 (what `alx bench influence` measured), and queries
    /// of 128 tokens: a query costs what a training step on its tokens costs (SmolLM2-135M on
    /// 2 cores trains ~110 tokens/s), so 512 tokens added 5–8 s to an answer and 128 about
    /// 1.5 s; the answer is scored given the context just before it, which its tokens depend
    /// on most.
    pub const DEFAULT: Self = Self { sketch: Sketch::DEFAULT, damping: 0.1, query_tokens: 128 };
}

/// The tokens of an influence query and where its scored part starts: the last
/// `query_tokens` of `prompt ‖ output`, at least the first of them unscored (an answer longer
/// than the window is scored on its last tokens).
#[must_use]
pub fn query_window(prompt: &[u32], output: &[u32], query_tokens: usize) -> (Vec<u32>, usize) {
    let all: Vec<u32> = prompt.iter().chain(output).copied().collect();
    let start = all.len().saturating_sub(query_tokens.max(2));
    let scored_from = prompt.len().saturating_sub(start).max(1);
    (all[start..].to_vec(), scored_from)
}

/// A training example: `(datanet, contribution)`.
pub type ExampleKey = (u64, u64);

/// The features of an adapter's training examples, one row per contribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// The examples, strictly ascending.
    pub keys: Vec<ExampleKey>,
    /// Their features, in the same order.
    pub rows: Vec<Vec<f32>>,
}

fn bad(reason: impl Into<String>) -> Error {
    Error::BadAdapter { reason: format!("influence features: {}", reason.into()) }
}

impl Features {
    /// Writes the features file.
    ///
    /// # Errors
    /// Rows of unequal width, keys out of order, or a file that cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dims = self.rows.first().map_or(0, Vec::len);
        self.check(dims)?;
        let flat: Vec<f32> = self.rows.iter().flatten().copied().collect();
        let keys: Vec<i64> = self
            .keys
            .iter()
            .flat_map(|&(d, c)| [d, c])
            .map(|k| i64::try_from(k).map_err(|_| bad("a key past i64")))
            .collect::<Result<_>>()?;
        let n = self.rows.len();
        let tensors = std::collections::HashMap::from([
            ("features".to_owned(), Tensor::from_vec(flat, (n, dims), &Device::Cpu)?),
            ("keys".to_owned(), Tensor::from_vec(keys, (n, 2), &Device::Cpu)?),
        ]);
        candle_core::safetensors::save(&tensors, path)
            .map_err(|source| Error::TensorData { name: path.display().to_string(), source })
    }

    /// Reads a features file of `dims` features per example, checking everything.
    ///
    /// # Errors
    /// [`Error::BadAdapter`] for a file that is too large, not safetensors, of the wrong
    /// shapes or types, with keys out of order or values that are not finite.
    pub fn from_safetensors(bytes: &[u8], dims: usize) -> Result<Self> {
        if bytes.len() > FEATURES_BYTES_MAX {
            return Err(bad(format!("{} bytes, more than {FEATURES_BYTES_MAX}", bytes.len())));
        }
        if !(1..=DIMS_MAX).contains(&dims) {
            return Err(bad(format!("{dims} features per example, not 1 to {DIMS_MAX}")));
        }
        let file = candle_core::safetensors::SliceSafetensors::new(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let names: Vec<String> = file.tensors().into_iter().map(|(n, _)| n).collect();
        if names.len() != 2 || !names.iter().all(|n| n == "features" || n == "keys") {
            return Err(bad("the file must hold `features` and `keys` alone"));
        }
        let load = |name: &str, dtype: DType| {
            let t = file.load(name, &Device::Cpu).map_err(|e| bad(format!("{name}: {e}")))?;
            if t.dtype() == dtype { Ok(t) } else { Err(bad(format!("{name} is not {dtype:?}"))) }
        };
        let features = load("features", DType::F32)?;
        let keys = load("keys", DType::I64)?;
        let n = features.dims().first().copied().unwrap_or(0);
        if features.dims() != [n, dims] || keys.dims() != [n, 2] {
            return Err(bad(format!(
                "features {:?} and keys {:?}, expected [N, {dims}] and [N, 2]",
                features.dims(),
                keys.dims()
            )));
        }
        let flat = features.flatten_all()?.to_vec1::<f32>()?;
        let keys = keys.flatten_all()?.to_vec1::<i64>()?;
        let keys = keys
            .chunks_exact(2)
            .map(|k| Ok((u64::try_from(k[0])?, u64::try_from(k[1])?)))
            .collect::<std::result::Result<Vec<_>, std::num::TryFromIntError>>()
            .map_err(|_| bad("a negative key"))?;
        let out = Self { keys, rows: flat.chunks_exact(dims).map(<[f32]>::to_vec).collect() };
        out.check(dims)?;
        Ok(out)
    }

    fn check(&self, dims: usize) -> Result<()> {
        let n = self.rows.len();
        if n == 0 || n > EXAMPLES_MAX || self.keys.len() != n {
            return Err(bad(format!(
                "{n} examples with {} keys: 1 to {EXAMPLES_MAX}",
                self.keys.len()
            )));
        }
        if self.rows.iter().any(|r| r.len() != dims) {
            return Err(bad(format!("every example needs {dims} features")));
        }
        if self.keys.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("keys must be strictly ascending"));
        }
        if !self.rows.iter().flatten().all(|v| v.is_finite()) {
            return Err(bad("a feature that is not finite"));
        }
        Ok(())
    }
}

/// Scores quantized for a receipt: the largest magnitude to [`SCORE_SCALE`], the rest in
/// proportion, rounded; all zeros when no score is a finite non-zero number (a non-finite
/// score counts as zero).
#[must_use]
pub fn quantize(scores: &[f64]) -> Vec<i64> {
    let finite = |s: f64| if s.is_finite() { s } else { 0.0 };
    let largest = scores.iter().map(|s| finite(*s).abs()).fold(0.0, f64::max);
    if largest == 0.0 {
        return vec![0; scores.len()];
    }
    #[allow(clippy::cast_possible_truncation)]
    scores.iter().map(|s| (finite(*s) / largest * SCORE_SCALE).round() as i64).collect()
}

/// Everything a served adapter needs to score an answer's influence on its training examples.
#[derive(Debug)]
pub struct AdapterInfluence {
    config: TrainConfig,
    adapter: Vec<u8>,
    keys: Vec<ExampleKey>,
    index: InfluenceIndex,
    scoring: Scoring,
}

impl AdapterInfluence {
    /// Checks `adapter` (safetensors bytes) against `config` and a base of `params`, and factors
    /// the examples' features for TRAK as `scoring` says.
    ///
    /// # Errors
    /// [`Error::BadAdapter`] for an adapter `config` does not describe, a damping or query
    /// window out of range, or degenerate features.
    pub fn new(
        config: TrainConfig,
        adapter: Vec<u8>,
        features: Features,
        scoring: Scoring,
        params: &LlamaParams,
    ) -> Result<Self> {
        config.validate().map_err(|e| bad(format!("the training configuration: {e}")))?;
        let damping = scoring.damping;
        if !(DAMPING_MIN..=DAMPING_MAX).contains(&damping) {
            return Err(bad(format!("damping {damping}, not in [{DAMPING_MIN}, {DAMPING_MAX}]")));
        }
        if !(2..=QUERY_TOKENS_MAX).contains(&scoring.query_tokens) {
            return Err(bad(format!(
                "queries of {} tokens, not 2 to {QUERY_TOKENS_MAX}",
                scoring.query_tokens
            )));
        }
        let shapes: BTreeMap<(usize, Projection), (usize, usize)> = (0..params.layers)
            .flat_map(|l| Projection::ALL.map(move |p| ((l, p), p.shape(params))))
            .collect();
        let lora = Lora::new(config.lora.clone(), &shapes)?;
        let tensors = candle_core::safetensors::load_buffer(&adapter, &Device::Cpu)
            .map_err(|e| bad(format!("the adapter: {e}")))?;
        lora.set_from(&tensors.into_iter().collect())
            .map_err(|e| bad(format!("the adapter does not match its configuration: {e}")))?;
        let Features { keys, rows } = features;
        let index = InfluenceIndex::new(scoring.sketch, rows, Some(damping))
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self { config, adapter, keys, index, scoring })
    }

    /// Examples scored.
    #[must_use]
    pub fn examples(&self) -> usize {
        self.keys.len()
    }

    /// Their keys, ascending.
    #[must_use]
    pub fn keys(&self) -> &[ExampleKey] {
        &self.keys
    }

    /// Bytes it holds: the adapter, the features and TRAK's factor.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        let n = self.keys.len();
        self.adapter.len() + n * self.index.sketch().dims * 4 + n * n * 8
    }

    /// The quantized influence of `output` after `prompt` on every example, by key, with the
    /// adapter over `base` (the query: [`query_window`] of the scoring's tokens); nothing for
    /// an answer without tokens.
    ///
    /// # Errors
    /// A window past `base`'s context, or a base the adapter does not fit.
    pub fn answer_scores(
        &self,
        base: &FrozenBase,
        prompt: &[u32],
        output: &[u32],
    ) -> Result<Vec<(ExampleKey, i64)>> {
        if output.is_empty() {
            return Ok(Vec::new());
        }
        let (tokens, scored_from) = query_window(prompt, output, self.scoring.query_tokens);
        self.scores(base, &tokens, scored_from)
    }

    /// The quantized influence of the answer `tokens[scored_from..]` (after the prompt
    /// `tokens[..scored_from]`) on every example, by key, with the adapter over `base`.
    ///
    /// # Errors
    /// No output token, tokens past `base`'s context, or a base the adapter does not fit.
    pub fn scores(
        &self,
        base: &FrozenBase,
        tokens: &[u32],
        scored_from: usize,
    ) -> Result<Vec<(ExampleKey, i64)>> {
        let mut trainer = Trainer::new(base, self.config.clone())?;
        trainer.load_adapter_bytes(&self.adapter)?;
        let query = trainer.sketched_gradient(tokens, scored_from, self.index.sketch())?;
        let scores = self.index.scores(&query, Method::Trak { damping: self.scoring.damping })?;
        Ok(self.keys.iter().copied().zip(quantize(&scores)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_keeps_the_last_window_and_scores_the_answer() {
        assert_eq!(query_window(&[1, 2, 3], &[4, 5], 128), (vec![1, 2, 3, 4, 5], 3));
        let prompt: Vec<u32> = (0..1_000).collect();
        let (tokens, from) = query_window(&prompt, &[7; 12], 128);
        assert_eq!((tokens.len(), from), (128, 116));
        let (tokens, from) = query_window(&[1], &[9; 600], 128);
        assert_eq!((tokens.len(), from), (128, 1), "the answer's last tokens");
    }

    #[test]
    fn quantized_scores_keep_their_proportions_and_ignore_nan() {
        assert_eq!(quantize(&[0.5, -1.0, 0.25, f64::NAN]), vec![500_000, -1_000_000, 250_000, 0]);
        assert_eq!(quantize(&[0.0, f64::INFINITY]), vec![0, 0]);
        assert!(quantize(&[]).is_empty());
    }

    #[test]
    fn features_round_trip_and_hostile_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.safetensors");
        let features =
            Features { keys: vec![(0, 1), (0, 4), (2, 0)], rows: vec![vec![1.0, -2.0]; 3] };
        features.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(Features::from_safetensors(&bytes, 2).unwrap(), features);
        assert!(Features::from_safetensors(&bytes, 3).is_err(), "another width");
        assert!(Features::from_safetensors(&bytes[..bytes.len() - 4], 2).is_err(), "truncated");
        assert!(Features::from_safetensors(b"garbage", 2).is_err());
        let unordered = Features { keys: vec![(0, 4), (0, 1)], rows: vec![vec![1.0]; 2] };
        assert!(unordered.save(&path).is_err());
        let nan = Features { keys: vec![(0, 1)], rows: vec![vec![f32::NAN]] };
        assert!(nan.save(&path).is_err());
    }
}
