//! alx-model's own matrix kernels for the weight formats GGUF llama files ship in (Q4_1 and
//! Q8_0), used instead of candle's for every matrix product of the forward pass.
//!
//! Why our own: candle 0.11's Q4_1 dot product is scalar, so the weights had to be re-quantized
//! to Q8_0 at load (1.7× the bytes per token; decode reads every weight once per token, so it
//! is bound by those bytes), and its products run through a general tensor path. Here the
//! weights stay as stored and each product is one pass over them:
//!
//! ```text
//! activations x (m × k, f32) ─ quantize per block of 32 ─► (d, s = d·Σq, q: [i16; 32])
//! weights W (n × k) Q4_1 blocks (d, min, 32 × u4)  or  Q8_0 blocks (d, 32 × i8)
//! y[i][r] = Σ_blocks  d_w·d_x·Σ(q_w·q_x)  (+ min_w·s_x for Q4_1)
//! ```
//!
//! the arithmetic of llama.cpp's CPU backend (integer dot products of 32-value blocks, one f32
//! scale per block), with one difference: activations are quantized to 16 bits, not 8.
//! llama.cpp's 8-bit activations flatten the values that share a block with an outlier (the
//! feed-forward down projection's input has large ones), which flips near-tie greedy tokens:
//! SmolLM2 answers "What is the capital of France?" with a French ramble under llama.cpp, and
//! with "The capital of France is Paris." as the f32 model does here. The 16-bit products cost
//! the same instruction count on AVX2 (`vpmaddwd` on widened weights instead of `vpmaddubsw`).
//! With AVX2 and FMA (checked at run time; `pulp` supplies safe intrinsics) a row block is a
//! handful of instructions; elsewhere a scalar path computes the same sums, and is the
//! reference the tests hold the AVX2 path to.
//!
//! Weight rows are stored interleaved in groups of four (one block column of four rows
//! together), so a decode step reads each matrix as one sequential stream and computes four
//! outputs per activation block; prompts run every activation row past a group while its few
//! KB of weights sit in L1.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod scalar;

use rayon::prelude::*;

/// Values per quantization block (both formats, and the activations).
pub(crate) const BLOCK: usize = 32;
/// Weight rows stored interleaved, so that one decode step reads one stream of bytes.
pub(crate) const GROUP: usize = 4;

/// One block column of four Q4_1 rows: row `r`'s values are `d[r]·q + min[r]` for 4-bit `q`;
/// byte `j` of `q[r]` holds value `j` in its low nibble and value `j + 16` in its high one
/// (ggml's layout). Scales stay f16 (bits), as stored: `scales = [d0..d3, min0..min3]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupQ4_1 {
    pub(crate) scales: [u16; 8],
    pub(crate) q: [[u8; 16]; GROUP],
}

/// One block column of four Q8_0 rows: row `r`'s values are `d[r]·q`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupQ8_0 {
    pub(crate) d: [u16; GROUP],
    pub(crate) q: [[i8; 32]; GROUP],
}

/// An activation block: `value ≈ d·q` with 16-bit `q`, and `s = d·Σq` for the Q4_1 minimum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct BlockQ16 {
    pub(crate) d: f32,
    pub(crate) s: f32,
    pub(crate) q: [i16; 32],
}

/// Weight groups, group-major: group `g` (rows `4g..4g+4`) is entries `g·k/32 .. (g+1)·k/32`.
/// The last group is padded with zero rows.
#[derive(Clone, Debug)]
pub(crate) enum Blocks {
    Q4_1(Vec<GroupQ4_1>),
    Q8_0(Vec<GroupQ8_0>),
}

/// A weight matrix `(rows, cols)` whose products run on these kernels.
#[derive(Clone, Debug)]
pub(crate) struct QuantMatrix {
    rows: usize,
    cols: usize,
    blocks: Blocks,
}

/// Why raw tensor bytes do not make a matrix.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LayoutError {
    #[error("{cols} columns are not a whole number of 32-value blocks")]
    Columns { cols: usize },
    #[error("{got} bytes of block data where {rows}×{cols} needs {want}")]
    Length { rows: usize, cols: usize, got: usize, want: usize },
}

/// IEEE half (bits) → single, by moving the exponent and mantissa into place and scaling by
/// 2^112, which is exact for normal and subnormal halves; infinities and NaNs (never valid
/// scales) come out as large finite values. The AVX2 path widens the same way, lane-wise.
pub(crate) fn half_to_f32(h: u16) -> f32 {
    let magnitude = f32::from_bits(u32::from(h & 0x7fff) << 13) * TWO_POW_112;
    f32::from_bits(magnitude.to_bits() | (u32::from(h & 0x8000) << 16))
}

/// 2^112: a half's exponent bias (15) raised to a single's (127).
pub(crate) const TWO_POW_112: f32 = 5.192_297e33;

fn f16_bits(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

impl QuantMatrix {
    fn check(
        rows: usize,
        cols: usize,
        bytes: usize,
        block_bytes: usize,
    ) -> Result<(), LayoutError> {
        if !cols.is_multiple_of(BLOCK) {
            return Err(LayoutError::Columns { cols });
        }
        let want = rows * (cols / BLOCK) * block_bytes;
        if bytes != want {
            return Err(LayoutError::Length { rows, cols, got: bytes, want });
        }
        Ok(())
    }

    /// Block `b` of row `r` in ggml's row-major block bytes, if the row exists.
    fn ggml_block(
        bytes: &[u8],
        rows: usize,
        k: usize,
        size: usize,
        r: usize,
        b: usize,
    ) -> Option<&[u8]> {
        (r < rows).then(|| &bytes[(r * k + b) * size..(r * k + b + 1) * size])
    }

    /// From ggml Q4_1 block bytes (20 per block: f16 d, f16 min, 16 nibble bytes).
    pub(crate) fn from_q4_1(rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, LayoutError> {
        Self::check(rows, cols, bytes.len(), 20)?;
        let k = cols / BLOCK;
        let mut groups = Vec::with_capacity(rows.div_ceil(GROUP) * k);
        for g in 0..rows.div_ceil(GROUP) {
            for b in 0..k {
                let mut group = GroupQ4_1 { scales: [0; 8], q: [[0; 16]; GROUP] };
                for r in 0..GROUP {
                    if let Some(src) = Self::ggml_block(bytes, rows, k, 20, g * GROUP + r, b) {
                        group.scales[r] = f16_bits(src, 0);
                        group.scales[GROUP + r] = f16_bits(src, 2);
                        group.q[r].copy_from_slice(&src[4..20]);
                    }
                }
                groups.push(group);
            }
        }
        Ok(Self { rows, cols, blocks: Blocks::Q4_1(groups) })
    }

    /// From ggml Q8_0 block bytes (34 per block: f16 d, 32 signed bytes).
    pub(crate) fn from_q8_0(rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, LayoutError> {
        Self::check(rows, cols, bytes.len(), 34)?;
        let k = cols / BLOCK;
        let mut groups = Vec::with_capacity(rows.div_ceil(GROUP) * k);
        for g in 0..rows.div_ceil(GROUP) {
            for b in 0..k {
                let mut group = GroupQ8_0 { d: [0; GROUP], q: [[0; 32]; GROUP] };
                for r in 0..GROUP {
                    if let Some(src) = Self::ggml_block(bytes, rows, k, 34, g * GROUP + r, b) {
                        group.d[r] = f16_bits(src, 0);
                        group.q[r] = std::array::from_fn(|j| src[2 + j] as i8);
                    }
                }
                groups.push(group);
            }
        }
        Ok(Self { rows, cols, blocks: Blocks::Q8_0(groups) })
    }

    /// Output width (the matrix's rows).
    pub(crate) const fn rows(&self) -> usize {
        self.rows
    }

    /// Input width (the matrix's columns).
    pub(crate) const fn cols(&self) -> usize {
        self.cols
    }

    /// `x (m × cols) · selfᵀ → (m × rows)`, row-major f32. Runs on the current rayon pool
    /// (the model's), splitting the row groups when it has more than one thread.
    ///
    /// Each group's weights (a few KB) stay in L1 while every activation row passes them, so
    /// the weights are read from memory once per call, whatever `m`.
    pub(crate) fn matmul(&self, x: &[f32], m: usize) -> Vec<f32> {
        debug_assert_eq!(x.len(), m * self.cols);
        let k = self.cols / BLOCK;
        let xq: Vec<BlockQ16> = x.chunks_exact(BLOCK).map(quantize_q16).collect();
        let groups = self.rows.div_ceil(GROUP);
        // Group-major results: group g, activation row i → 4 outputs.
        let mut by_group = vec![0.0f32; groups * m * GROUP];
        let kernel = Kernel::detect();
        let per_task = if rayon::current_num_threads() > 1 {
            groups.div_ceil(4 * rayon::current_num_threads()).max(8)
        } else {
            groups
        };
        let work = |(t, dst): (usize, &mut [f32])| {
            let first = t * per_task;
            kernel.run(&self.blocks, k, &xq, m, first..first + dst.len() / (m * GROUP), dst);
        };
        if per_task < groups {
            by_group.par_chunks_mut(per_task * m * GROUP).enumerate().for_each(work);
        } else {
            work((0, &mut by_group));
        }
        let mut out = vec![0.0f32; m * self.rows];
        for (g, chunk) in by_group.chunks_exact(m * GROUP).enumerate() {
            let width = GROUP.min(self.rows - g * GROUP);
            for i in 0..m {
                out[i * self.rows + g * GROUP..][..width]
                    .copy_from_slice(&chunk[i * GROUP..i * GROUP + width]);
            }
        }
        out
    }
}

/// `d = max|x| / 32767`, `q = round(x / d)`, `s = d·Σq`: ggml's Q8_1 with 16-bit values.
pub(crate) fn quantize_q16(x: &[f32]) -> BlockQ16 {
    let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let d = amax / 32767.0;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    let mut q = [0i16; 32];
    let mut sum = 0i32;
    for (q, v) in q.iter_mut().zip(x) {
        *q = round_half_away(v * id);
        sum += i32::from(*q);
    }
    BlockQ16 { d, s: d * sum as f32, q }
}

/// `v.round() as i16` for |v| ≤ 32767 (and NaN → 0), without the libm call `round` compiles
/// to on baseline x86-64: truncate, then step away from zero when the dropped fraction is at
/// least one half. Exact: both `v` and its truncation are representable, so is their
/// difference.
#[inline(always)]
fn round_half_away(v: f32) -> i16 {
    let t = v as i32; // toward zero; NaN → 0
    let frac = v - t as f32;
    let step = i32::from(frac >= 0.5) - i32::from(frac <= -0.5);
    (t + step) as i16
}

/// Which implementation runs the dot products.
#[derive(Clone, Copy)]
enum Kernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2(pulp::x86::V3),
    #[cfg(target_arch = "x86_64")]
    Avx512(pulp::x86::V4),
}

impl Kernel {
    fn detect() -> Self {
        if std::env::var_os("ALX_MODEL_SCALAR_KERNELS").is_some() {
            return Self::Scalar;
        }
        #[cfg(target_arch = "x86_64")]
        if std::env::var_os("ALX_MODEL_AVX2_KERNELS").is_none()
            && let Some(simd) = pulp::x86::V4::try_new()
        {
            return Self::Avx512(simd);
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = pulp::x86::V3::try_new() {
            return Self::Avx2(simd);
        }
        Self::Scalar
    }

    /// Row groups `groups` against `m` activation rows into `dst`, group-major
    /// (`groups.len() × m × 4`).
    fn run(
        self,
        w: &Blocks,
        k: usize,
        xq: &[BlockQ16],
        m: usize,
        groups: std::ops::Range<usize>,
        dst: &mut [f32],
    ) {
        match self {
            Self::Scalar => scalar::run(w, k, xq, m, groups, dst),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2(simd) => avx2::run(simd, w, k, xq, m, groups, dst),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512(simd) => avx512::run(simd, w, k, xq, m, groups, dst),
        }
    }
}

#[cfg(test)]
mod tests;
