//! Attribution by influence: which training examples an adapter's answer owes, from gradients
//! of the LoRA parameters alone (a few hundred thousand numbers, not the base's millions).
//!
//! ```text
//! example i ─ loss ─ ∇_lora ─ count sketch ─► φ_i (dims floats)      once per datanet version
//! answer    ─ loss of its output tokens ─ ∇_lora ─ sketch ─► φ_q      once per answer
//! score_i = [(G + λI)⁻¹ Φ φ_q]_i,  G = Φ Φᵀ                          TRAK's estimator
//! ```
//!
//! - **Sketch.** A count sketch (each parameter added, with a sign, into one of `dims` buckets,
//!   both drawn from a seeded stream) preserves inner products in expectation, in one pass over
//!   the gradient and without storing a projection matrix. The same seed gives the same
//!   features on every machine, up to float rounding.
//! - **Scores.** [`Method::Trak`] is TRAK's one-step Newton estimate `φ_qᵀ (ΦᵀΦ + λI)⁻¹ φ_i`,
//!   computed in its kernel form `(ΦΦᵀ + λI)⁻¹ Φ φ_q` (an N×N system for N examples, factored
//!   once); [`Method::GradDot`] (TracIn at the final adapter) and [`Method::GradCos`] (the same,
//!   normalized) are the cheaper baselines. `alx bench influence` reports the linear
//!   datamodeling score of each.
//! - Scores are floats, an estimate: turning them into money is the attribution crate's
//!   integer rule (positive scores only, each capped), which anyone recomputes from the
//!   quantized scores a receipt records.

use super::{Trainer, lora::splitmix};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Most examples an [`InfluenceIndex`] holds (its N×N system is factored in memory: 32 MB and
/// about N³/3 = 3·10⁹ multiply-adds at the most, once per load).
pub const EXAMPLES_MAX: usize = 2_048;

/// How gradients are projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sketch {
    /// Buckets (features per example).
    pub dims: usize,
    /// Seed of the buckets and signs.
    pub seed: u64,
}

impl Sketch {
    /// 1,024 buckets (4 KB of f32 per example), seed 0.
    pub const DEFAULT: Self = Self { dims: 1_024, seed: 0 };

    /// Adds the sketch of `values` (variable `var`'s gradient, in its element order) to `out`.
    fn accumulate(&self, var: usize, values: &[f32], out: &mut [f32]) {
        let dims = self.dims as u64;
        let mut next = splitmix(self.seed ^ (var as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
        for &v in values {
            let h = next();
            // The low bits pick the bucket, the top bit the sign.
            let bucket = (h % dims) as usize;
            out[bucket] += if h >> 63 == 1 { -v } else { v };
        }
    }
}

/// How a query's influence on each example is scored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// `φ_q · φ_i`.
    GradDot,
    /// `φ_q · φ_i / (|φ_q| |φ_i|)`.
    GradCos,
    /// `[(ΦΦᵀ + λI)⁻¹ Φ φ_q]_i` with `λ = damping × mean(diag ΦΦᵀ)`.
    Trak {
        /// Relative damping.
        damping: f64,
    },
}

impl Trainer<'_> {
    /// The gradient, with respect to the adapter, of the summed loss of `tokens[scored_from..]`
    /// (each predicted from the tokens before it; `scored_from` at least 1), sketched.
    ///
    /// # Errors
    /// Fewer than one scored token, or tokens the forward pass refuses.
    pub fn sketched_gradient(
        &self,
        tokens: &[u32],
        scored_from: usize,
        sketch: &Sketch,
    ) -> Result<Vec<f32>> {
        let from = scored_from.max(1);
        if sketch.dims == 0 || tokens.len() <= from {
            return Err(Error::TooFewTokens { needed: from + 1, got: tokens.len() });
        }
        let loss = self.summed_loss(tokens, from)?;
        let grads = loss.backward()?;
        let mut out = vec![0f32; sketch.dims];
        for (i, var) in self.lora.vars().iter().enumerate() {
            if let Some(g) = grads.get(var.as_tensor()) {
                sketch.accumulate(i, &g.flatten_all()?.to_vec1::<f32>()?, &mut out);
            }
        }
        Ok(out)
    }

    /// The sketched gradient of a whole example, cut into windows of `window + 1` tokens (their
    /// gradients add: the example's summed loss).
    ///
    /// # Errors
    /// As [`Self::sketched_gradient`].
    pub fn example_features(
        &self,
        tokens: &[u32],
        window: usize,
        sketch: &Sketch,
    ) -> Result<Vec<f32>> {
        let mut sum = vec![0f32; sketch.dims];
        let w = window.max(1);
        for start in (0..tokens.len().saturating_sub(1)).step_by(w) {
            let piece = &tokens[start..(start + w + 1).min(tokens.len())];
            if piece.len() < 2 {
                continue;
            }
            for (s, g) in sum.iter_mut().zip(self.sketched_gradient(piece, 1, sketch)?) {
                *s += g;
            }
        }
        Ok(sum)
    }
}

/// The features of a set of training examples, ready to score queries against.
#[derive(Debug, Clone)]
pub struct InfluenceIndex {
    sketch: Sketch,
    features: Vec<Vec<f32>>,
    /// Lower-triangular Cholesky factor of `ΦΦᵀ + λI`, row-major N×N, for [`Method::Trak`].
    factor: Option<(f64, Vec<f64>)>,
}

impl InfluenceIndex {
    /// An index over `features` (one row of `sketch.dims` per example), factored for
    /// [`Method::Trak`] with `damping` if given.
    ///
    /// # Errors
    /// No example, more than [`EXAMPLES_MAX`], rows of the wrong width, or a damping that is
    /// not a positive number.
    pub fn new(sketch: Sketch, features: Vec<Vec<f32>>, damping: Option<f64>) -> Result<Self> {
        let bad = |reason: String| Err(Error::InvalidConfig { reason });
        if features.is_empty() || features.len() > EXAMPLES_MAX {
            return bad(format!("{} examples: 1 to {EXAMPLES_MAX}", features.len()));
        }
        if features.iter().any(|f| f.len() != sketch.dims) {
            return bad(format!("every example needs {} features", sketch.dims));
        }
        let factor = match damping {
            None => None,
            Some(d) if !(d.is_finite() && d > 0.0) => return bad(format!("damping {d}")),
            Some(d) => Some(factor(&features, d)?),
        };
        Ok(Self { sketch, features, factor })
    }

    /// The sketch queries must be projected with.
    pub const fn sketch(&self) -> &Sketch {
        &self.sketch
    }

    /// Examples held.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// True with no example (never, once built).
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The influence of the query with features `query` on each example, by `method`.
    ///
    /// # Errors
    /// A query of the wrong width, or [`Method::Trak`] on an index built without damping.
    pub fn scores(&self, query: &[f32], method: Method) -> Result<Vec<f64>> {
        if query.len() != self.sketch.dims {
            return Err(Error::InvalidConfig {
                reason: format!("a query needs {} features", self.sketch.dims),
            });
        }
        let dots: Vec<f64> = self.features.iter().map(|f| dot(f, query)).collect();
        Ok(match method {
            Method::GradDot => dots,
            Method::GradCos => {
                let q = dot(query, query).sqrt();
                let norms = self.features.iter().map(|f| dot(f, f).sqrt());
                dots.iter()
                    .zip(norms)
                    .map(|(d, n)| if q > 0.0 && n > 0.0 { d / (q * n) } else { 0.0 })
                    .collect()
            }
            Method::Trak { .. } => {
                let Some((_, l)) = &self.factor else {
                    return Err(Error::InvalidConfig {
                        reason: "the index was built without damping".into(),
                    });
                };
                solve(l, &dots)
            }
        })
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum()
}

/// The Cholesky factor of `ΦΦᵀ + λI` with `λ = damping × mean diagonal`.
fn factor(features: &[Vec<f32>], damping: f64) -> Result<(f64, Vec<f64>)> {
    let n = features.len();
    let mut g = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v = dot(&features[i], &features[j]);
            g[i * n + j] = v;
            g[j * n + i] = v;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let mean_diagonal = (0..n).map(|i| g[i * n + i]).sum::<f64>() / n as f64;
    let lambda = damping * mean_diagonal.max(f64::MIN_POSITIVE);
    for i in 0..n {
        g[i * n + i] += lambda;
    }
    // In place: the lower triangle becomes L with L·Lᵀ = G.
    for j in 0..n {
        let mut d = g[j * n + j];
        for k in 0..j {
            d -= g[j * n + k] * g[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return Err(Error::InvalidConfig {
                reason: "the examples' features are degenerate (raise the damping)".into(),
            });
        }
        let d = d.sqrt();
        g[j * n + j] = d;
        for i in j + 1..n {
            let mut s = g[i * n + j];
            for k in 0..j {
                s -= g[i * n + k] * g[j * n + k];
            }
            g[i * n + j] = s / d;
        }
    }
    Ok((lambda, g))
}

/// `x` with `L·Lᵀ·x = b`.
fn solve(l: &[f64], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut y = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            y[i] -= l[i * n + k] * y[k];
        }
        y[i] /= l[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            y[i] -= l[k * n + i] * y[k];
        }
        y[i] /= l[i * n + i];
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_solver_inverts_a_known_system() {
        // Two orthogonal examples: G = diag(4, 9); λ = 0.5 × 6.5 = 3.25.
        let sketch = Sketch { dims: 2, seed: 0 };
        let index =
            InfluenceIndex::new(sketch, vec![vec![2.0, 0.0], vec![0.0, 3.0]], Some(0.5)).unwrap();
        let s = index.scores(&[1.0, 1.0], Method::Trak { damping: 0.5 }).unwrap();
        assert!((s[0] - 2.0 / 7.25).abs() < 1e-12 && (s[1] - 3.0 / 12.25).abs() < 1e-12, "{s:?}");
        let cos = index.scores(&[1.0, 1.0], Method::GradCos).unwrap();
        assert!((cos[0] - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        assert_eq!(index.scores(&[1.0, 1.0], Method::GradDot).unwrap(), vec![2.0, 3.0]);
        assert!(index.scores(&[1.0], Method::GradDot).is_err());
        assert!(InfluenceIndex::new(sketch, vec![], None).is_err());
        assert!(InfluenceIndex::new(sketch, vec![vec![1.0]], None).is_err());
        assert!(InfluenceIndex::new(sketch, vec![vec![1.0, 0.0]], Some(-1.0)).is_err());
    }

    #[test]
    fn a_sketch_keeps_inner_products_roughly() {
        let sketch = Sketch { dims: 4_096, seed: 3 };
        let a: Vec<f32> = (0..20_000).map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0).collect();
        let b: Vec<f32> =
            a.iter().enumerate().map(|(i, x)| x + ((i % 5) as f32 - 2.0) * 0.1).collect();
        let (mut sa, mut sb) = (vec![0f32; 4_096], vec![0f32; 4_096]);
        sketch.accumulate(0, &a, &mut sa);
        sketch.accumulate(0, &b, &mut sb);
        let exact = dot(&a, &b);
        let sketched = dot(&sa, &sb);
        assert!((sketched - exact).abs() < 0.05 * exact.abs(), "{sketched} vs {exact}");
    }
}
