//! Attention of one new token over the cached keys and values, computed directly on the
//! cache's memory.
//!
//! Decoding spends most of its time in the weight kernels, and the rest mostly here: through
//! candle's general matmul, two small products per layer cost more in set-up than in
//! arithmetic (13 % of a decode step at a 700-token context). For one query row the products
//! are plain loops: scores = q·Kᵀ over the cached positions, a softmax, then p·V. They run
//! with AVX2 and FMA enabled when the CPU has them (`pulp`), so the 8-wide accumulators below
//! compile to vector instructions.
//!
//! At long contexts the cache, not the weights, is most of what a step reads (at 2,048
//! positions SmolLM2's keys and values are 94 MB, its weights 96 MB), so each cached row is
//! read once for all the query heads that share it (grouped-query attention), and the
//! exponentials are a polynomial the vector units evaluate eight at a time instead of one libm
//! call per score. The positions are cut into blocks of [`BLOCK`] (split softmax, as in
//! flash-decoding), which the model's threads share; the cut does not depend on the number
//! of threads, so neither does a single bit of the result.

use candle_core::{CpuStorage, Storage, Tensor};
use rayon::prelude::*;
use std::ops::Range;

/// Positions per block of the split softmax.
const BLOCK: usize = 256;

/// Where one head's keys or values start, and the step between positions, in a cache tensor
/// `(kv_heads, capacity, head_dim)` narrowed to the used positions.
struct Strided<'a> {
    data: &'a [f32],
    head_stride: usize,
    position_stride: usize,
    offset: usize,
}

impl<'a> Strided<'a> {
    /// `None` unless `t` is f32 on the CPU with unit stride along the head dimension.
    fn of(data: &'a [f32], t: &Tensor) -> Option<Self> {
        let layout = t.layout();
        let &[h, p, d] = layout.stride() else { return None };
        (d == 1).then_some(Self {
            data,
            head_stride: h,
            position_stride: p,
            offset: layout.start_offset(),
        })
    }

    fn row(&self, head: usize, position: usize, len: usize) -> Option<&'a [f32]> {
        let at = self.offset + head * self.head_stride + position * self.position_stride;
        self.data.get(at..at + len)
    }
}

/// 8-lane dot product (the lanes let LLVM vectorize without reassociating one sum).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            // Not `mul_add`: without FMA at compile time it is a libm call per element.
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The shape of one attention call.
#[derive(Clone, Copy)]
pub(crate) struct Heads {
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
}

/// `q (heads × head_dim)` against `keys`/`values` `(kv_heads, total, head_dim)`; returns the
/// attention output `(heads × head_dim)`, or `None` if the tensors are not laid out as the
/// cache lays them out (the caller then takes candle's path).
pub(crate) fn one_token(
    q: &[f32],
    keys: &Tensor,
    values: &Tensor,
    shape: Heads,
) -> Option<Vec<f32>> {
    let (k_storage, _) = keys.storage_and_layout();
    let (v_storage, _) = values.storage_and_layout();
    let (Storage::Cpu(CpuStorage::F32(k)), Storage::Cpu(CpuStorage::F32(v))) =
        (&*k_storage, &*v_storage)
    else {
        return None;
    };
    let (k, v) = (Strided::of(k, keys)?, Strided::of(v, values)?);
    let total = keys.dims().get(1).copied()?;
    let Heads { heads, kv_heads, head_dim: d } = shape;
    if d == 0 || q.len() != heads * d || kv_heads == 0 || heads % kv_heads != 0 {
        return None;
    }
    let job = Job { q, k: &k, v: &v, shape };
    let blocks = total.div_ceil(BLOCK);
    let tasks: Vec<(usize, usize)> =
        (0..kv_heads).flat_map(|kv| (0..blocks).map(move |b| (kv, b))).collect();
    let run = |&(kv, b): &(usize, usize)| {
        vectorized(|| partial(&job, kv, b * BLOCK..((b + 1) * BLOCK).min(total)))
    };
    let parts: Vec<Option<Partial>> = if rayon::current_num_threads() > 1 && tasks.len() > 1 {
        tasks.par_iter().map(run).collect()
    } else {
        tasks.iter().map(run).collect()
    };
    let parts: Option<Vec<Partial>> = parts.into_iter().collect();
    Some(combine(&parts?, shape, blocks))
}

/// Runs `f` with AVX2 and FMA enabled when the CPU has them; the helpers it calls are
/// `#[inline(always)]`, so they are compiled into pulp's AVX2 function.
#[inline(always)]
fn vectorized<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return simd.vectorize(f);
    }
    f()
}

/// One attention call's inputs.
struct Job<'a> {
    q: &'a [f32],
    k: &'a Strided<'a>,
    v: &'a Strided<'a>,
    shape: Heads,
}

/// The split softmax of the query heads sharing one key/value head over one block of
/// positions: per head, the largest score, the sum of `exp(score − largest)` and the values
/// weighted by those exponentials (not yet divided by the sum).
struct Partial {
    peak: Vec<f32>,
    sum: Vec<f32>,
    acc: Vec<f32>,
}

#[inline(always)]
fn partial(job: &Job<'_>, kv: usize, span: Range<usize>) -> Option<Partial> {
    let Heads { heads, kv_heads, head_dim: d } = job.shape;
    let group = heads / kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let n = span.len();
    let queries = job.q.get(kv * group * d..(kv + 1) * group * d)?;
    let mut scores = vec![0.0f32; group * n];
    for (i, t) in span.clone().enumerate() {
        // One read of the cached key for every query head that shares it.
        let key = job.k.row(kv, t, d)?;
        for (g, q) in queries.chunks_exact(d).enumerate() {
            scores[g * n + i] = dot(q, key) * scale;
        }
    }
    let mut peak = vec![f32::NEG_INFINITY; group];
    let mut sum = vec![0.0f32; group];
    for (g, row) in scores.chunks_exact_mut(n).enumerate() {
        peak[g] = row.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        // A block whose scores are all −∞ weighs nothing (not NaN from −∞ − −∞).
        let shift = if peak[g] == f32::NEG_INFINITY { 0.0 } else { peak[g] };
        for s in row.iter_mut() {
            *s = exp_nonpositive(*s - shift);
        }
        sum[g] = sum8(row);
    }
    let mut acc = vec![0.0f32; group * d];
    for (i, t) in span.enumerate() {
        let value = job.v.row(kv, t, d)?;
        for (g, out) in acc.chunks_exact_mut(d).enumerate() {
            let w = scores[g * n + i];
            for (o, x) in out.iter_mut().zip(value) {
                *o += x * w;
            }
        }
    }
    Some(Partial { peak, sum, acc })
}

/// Joins the blocks of each key/value head (`parts` in (head, block) order) into the output
/// `(heads × head_dim)`: each block's terms rescaled to the overall largest score.
fn combine(parts: &[Partial], shape: Heads, blocks: usize) -> Vec<f32> {
    let Heads { heads, kv_heads, head_dim: d } = shape;
    let group = heads / kv_heads;
    let mut out = vec![0.0f32; heads * d];
    for (kv, parts) in parts.chunks(blocks.max(1)).enumerate() {
        for g in 0..group {
            let peak = parts.iter().fold(f32::NEG_INFINITY, |m, p| m.max(p.peak[g]));
            let mut sum = 0.0f32;
            let o = &mut out[(kv * group + g) * d..(kv * group + g + 1) * d];
            for p in parts {
                let rescale = if p.peak[g] == f32::NEG_INFINITY {
                    0.0
                } else {
                    exp_nonpositive(p.peak[g] - peak)
                };
                sum += p.sum[g] * rescale;
                for (o, a) in o.iter_mut().zip(&p.acc[g * d..(g + 1) * d]) {
                    *o += a * rescale;
                }
            }
            let inverse = if sum > 0.0 { 1.0 / sum } else { 0.0 };
            for o in o.iter_mut() {
                *o *= inverse;
            }
        }
    }
    out
}

/// Sum in eight lanes (vectorizable; the order is fixed, so the result is too).
#[inline(always)]
fn sum8(xs: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..8 {
            lanes[i] += c[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `e^x` for `x ≤ 0` (softmax after subtracting the largest score), within 2 ulp: `x` is
/// split into `n·ln 2 + r` with `|r| ≤ ln 2 / 2`, `e^r` is a degree-6 polynomial (the classic
/// Cephes coefficients), and `2^n` is built in the exponent bits. Plain arithmetic, no FMA and
/// no libm, so the compiler can vectorize it and every machine gets the same bits. Below −87
/// (where `e^x` is under f32's normal range) it returns 0; NaN stays NaN.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so that `n·LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const P: [f32; 6] =
        [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5];
    let clamped = x.max(-87.0);
    let n = (clamped * LOG2_E + 0.5).floor();
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let mut p = P[0];
    for c in &P[1..] {
        p = p * r + c;
    }
    let e_r = p * (r * r) + r + 1.0;
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    let y = e_r * two_n;
    if x < -87.0 {
        0.0
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::{BLOCK, Heads, exp_nonpositive, one_token};
    use candle_core::{Device, Tensor};

    /// Deterministic values in [-1, 1).
    fn values(seed: u64, n: usize) -> Vec<f32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((x >> 40) as f32 / (1u64 << 23) as f32) - 1.0
            })
            .collect()
    }

    /// Softmax attention in f64, one head at a time, as written in the paper.
    fn reference(q: &[f32], k: &[f32], v: &[f32], total: usize, shape: Heads) -> Vec<f64> {
        let Heads { heads, kv_heads, head_dim: d } = shape;
        let group = heads / kv_heads;
        let mut out = vec![0.0f64; heads * d];
        for h in 0..heads {
            let kv = h / group;
            let row = |m: &[f32], t: usize| -> Vec<f64> {
                m[(kv * total + t) * d..(kv * total + t + 1) * d]
                    .iter()
                    .map(|&x| f64::from(x))
                    .collect()
            };
            let scores: Vec<f64> = (0..total)
                .map(|t| {
                    let key = row(k, t);
                    let dot: f64 = (0..d).map(|i| f64::from(q[h * d + i]) * key[i]).sum();
                    dot / (d as f64).sqrt()
                })
                .collect();
            let peak = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scores.iter().map(|s| (s - peak).exp()).collect();
            let sum: f64 = weights.iter().sum();
            for (t, w) in weights.iter().enumerate() {
                for (i, x) in row(v, t).iter().enumerate() {
                    out[h * d + i] += w / sum * x;
                }
            }
        }
        out
    }

    /// Across several blocks, with grouped heads: the split softmax equals the plain one, and
    /// two threads give the same bits as one.
    #[test]
    fn split_softmax_matches_the_reference_and_ignores_the_thread_count() {
        let shape = Heads { heads: 6, kv_heads: 2, head_dim: 16 };
        for total in [1, 7, BLOCK, BLOCK + 1, 3 * BLOCK - 5] {
            let (kv, d) = (shape.kv_heads, shape.head_dim);
            let q: Vec<f32> = values(1, shape.heads * d).iter().map(|x| x * 4.0).collect();
            let (k, v) = (values(2, kv * total * d), values(3, kv * total * d));
            let tensor = |x: &[f32]| Tensor::from_vec(x.to_vec(), (kv, total, d), &Device::Cpu);
            let (keys, vals) = (tensor(&k).expect("keys"), tensor(&v).expect("values"));
            let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("pool");
            let one = pool(1).install(|| one_token(&q, &keys, &vals, shape)).expect("one");
            let two = pool(2).install(|| one_token(&q, &keys, &vals, shape)).expect("two");
            assert_eq!(one, two, "{total} positions");
            let want = reference(&q, &k, &v, total, shape);
            for (got, want) in one.iter().zip(&want) {
                assert!((f64::from(*got) - want).abs() < 1e-5, "{total}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn the_polynomial_exp_agrees_with_libm() {
        let mut worst = 0.0f64;
        for i in 0..=870_000 {
            let x = -(i as f32) * 1e-4;
            let (ours, libm) = (f64::from(exp_nonpositive(x)), f64::from(x.exp()));
            if libm > 1e-37 {
                worst = worst.max((ours - libm).abs() / libm);
            }
        }
        assert!(worst < 4.0 * f64::from(f32::EPSILON), "worst relative error {worst:e}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-100.0), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert!(exp_nonpositive(f32::NAN).is_nan());
    }
}
