//! Attention of one new token over the cached keys and values, computed directly on the
//! cache's memory.
//!
//! Decoding spends most of its time in the weight kernels, and the rest mostly here: through
//! candle's general matmul, two small products per layer cost more in set-up than in
//! arithmetic (13 % of a decode step at a 700-token context). For one query row the products
//! are plain loops: scores = q·Kᵀ over the cached positions, a softmax, then p·V. They run
//! with AVX2 and FMA enabled when the CPU has them (`pulp`), so the 8-wide accumulators below
//! compile to vector instructions.

use candle_core::{CpuStorage, Storage, Tensor};

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
    if q.len() != heads * d || kv_heads == 0 || heads % kv_heads != 0 {
        return None;
    }
    let job = Job { q, k: &k, v: &v, total, shape };
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        // `attend` is inlined into the closure, and the closure into pulp's AVX2 function.
        return simd.vectorize(|| attend(&job));
    }
    attend(&job)
}

/// One attention call's inputs.
struct Job<'a> {
    q: &'a [f32],
    k: &'a Strided<'a>,
    v: &'a Strided<'a>,
    total: usize,
    shape: Heads,
}

#[inline(always)]
fn attend(job: &Job<'_>) -> Option<Vec<f32>> {
    let Heads { heads, kv_heads, head_dim: d } = job.shape;
    let group = heads / kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let mut out = vec![0.0f32; heads * d];
    let mut scores = vec![0.0f32; job.total];
    for h in 0..heads {
        let kv = h / group;
        let qh = &job.q[h * d..(h + 1) * d];
        for (t, s) in scores.iter_mut().enumerate() {
            *s = dot(qh, job.k.row(kv, t, d)?) * scale;
        }
        let peak = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        let mut sum = 0.0f32;
        for s in &mut scores {
            *s = (*s - peak).exp();
            sum += *s;
        }
        let oh = &mut out[h * d..(h + 1) * d];
        for (t, &p) in scores.iter().enumerate() {
            let weight = p / sum;
            for (o, x) in oh.iter_mut().zip(job.v.row(kv, t, d)?) {
                *o += x * weight;
            }
        }
    }
    Some(out)
}
