//! The AVX2 + FMA kernels (x86-64-v3), through `pulp`'s safe intrinsics: everything below is
//! inlined into one `vectorize` call, which runs it with those target features enabled.
//!
//! A row block's integer dot product: the weights widened to 16 bits (Q4_1: bytes zero-extended,
//! then the low nibbles masked and the high ones shifted down; Q8_0: sign-extended), two
//! `vpmaddwd` against the 16-bit activations (→ eight i32 lanes, each at most 4·128·32767, far
//! inside i32), converted to f32 and accumulated with the block's scale by one FMA.
//! A group's four scales (and four minimums) are widened from f16 together, lane-wise.
//! Lanes are summed once per output, at the end.

use super::{BlockQ16, Blocks, GROUP, GroupQ4_1, GroupQ8_0, TWO_POW_112};
use core::arch::x86_64::{__m128i, __m256, __m256i};
use pulp::x86::V3;
use std::ops::Range;

/// The 32 activation values as two vectors of sixteen i16.
#[inline(always)]
fn activations(x: &BlockQ16) -> [__m256i; 2] {
    bytemuck::cast(x.q)
}

/// Eight partial sums of a Q4_1 row block times the activations, as f32.
#[inline(always)]
fn dot_q4_1(simd: V3, q: &[u8; 16], x: [__m256i; 2]) -> __m256 {
    let avx2 = simd.avx2;
    let bytes: __m128i = bytemuck::cast(*q);
    let wide = avx2._mm256_cvtepu8_epi16(bytes);
    let lo = avx2._mm256_and_si256(wide, simd.avx._mm256_set1_epi16(0x0f));
    let hi = avx2._mm256_srli_epi16::<4>(wide);
    let sums =
        avx2._mm256_add_epi32(avx2._mm256_madd_epi16(lo, x[0]), avx2._mm256_madd_epi16(hi, x[1]));
    simd.avx._mm256_cvtepi32_ps(sums)
}

/// Eight partial sums of a Q8_0 row block times the activations, as f32.
#[inline(always)]
fn dot_q8_0(simd: V3, q: &[i8; 32], x: [__m256i; 2]) -> __m256 {
    let avx2 = simd.avx2;
    let halves: [__m128i; 2] = bytemuck::cast(*q);
    let lo = avx2._mm256_cvtepi8_epi16(halves[0]);
    let hi = avx2._mm256_cvtepi8_epi16(halves[1]);
    let sums =
        avx2._mm256_add_epi32(avx2._mm256_madd_epi16(lo, x[0]), avx2._mm256_madd_epi16(hi, x[1]));
    simd.avx._mm256_cvtepi32_ps(sums)
}

/// Eight f16 values (zero-extended into u32 lanes) as f32, as `half_to_f32` does.
#[inline(always)]
pub(super) fn widen(simd: V3, h: __m256i) -> __m256 {
    let (avx, avx2) = (simd.avx, simd.avx2);
    let sign =
        avx2._mm256_slli_epi32::<16>(avx2._mm256_and_si256(h, avx._mm256_set1_epi32(0x8000)));
    let bits =
        avx2._mm256_slli_epi32::<13>(avx2._mm256_and_si256(h, avx._mm256_set1_epi32(0x7fff)));
    let magnitude =
        avx._mm256_mul_ps(avx._mm256_castsi256_ps(bits), avx._mm256_set1_ps(TWO_POW_112));
    avx._mm256_or_ps(magnitude, avx._mm256_castsi256_ps(sign))
}

#[inline(always)]
fn hsum(v: __m256) -> f32 {
    let lanes: [f32; 8] = bytemuck::cast(v);
    ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
}

/// Lane `r` of a vector, in every lane.
#[inline(always)]
fn lane(simd: V3, v: __m256, r: usize) -> __m256 {
    simd.avx2._mm256_permutevar8x32_ps(v, simd.avx._mm256_set1_epi32(r as i32))
}

/// The four rows of a Q4_1 group column range against one activation row.
#[inline(always)]
fn group_q4_1(simd: V3, w: &[GroupQ4_1], x: &[BlockQ16]) -> [f32; GROUP] {
    let avx = simd.avx;
    let mut acc = [avx._mm256_setzero_ps(); GROUP];
    let mut minimums = avx._mm256_setzero_ps();
    for (g, xb) in w.iter().zip(x) {
        let xq = activations(xb);
        let halves: __m128i = bytemuck::cast(g.scales);
        let scales = widen(simd, simd.avx2._mm256_cvtepu16_epi32(halves));
        // Lanes 0–3: d[r]·d_x; lanes 4–7: min[r]·s_x.
        let by = avx._mm256_blend_ps::<0xf0>(avx._mm256_set1_ps(xb.d), avx._mm256_set1_ps(xb.s));
        let scaled = avx._mm256_mul_ps(scales, by);
        minimums = avx._mm256_add_ps(minimums, scaled);
        for (r, (acc, q)) in acc.iter_mut().zip(&g.q).enumerate() {
            let p = dot_q4_1(simd, q, xq);
            *acc = simd.fma._mm256_fmadd_ps(p, lane(simd, scaled, r), *acc);
        }
    }
    let minimums: [f32; 8] = bytemuck::cast(minimums);
    std::array::from_fn(|r| hsum(acc[r]) + minimums[GROUP + r])
}

/// The four rows of a Q8_0 group column range against one activation row.
#[inline(always)]
fn group_q8_0(simd: V3, w: &[GroupQ8_0], x: &[BlockQ16]) -> [f32; GROUP] {
    let avx = simd.avx;
    let mut acc = [avx._mm256_setzero_ps(); GROUP];
    for (g, xb) in w.iter().zip(x) {
        let xq = activations(xb);
        let halves = simd.sse2._mm_set_epi64x(0, bytemuck::cast::<[u16; 4], i64>(g.d));
        let scales = widen(simd, simd.avx2._mm256_cvtepu16_epi32(halves));
        let scaled = avx._mm256_mul_ps(scales, avx._mm256_set1_ps(xb.d));
        for (r, (acc, q)) in acc.iter_mut().zip(&g.q).enumerate() {
            let p = dot_q8_0(simd, q, xq);
            *acc = simd.fma._mm256_fmadd_ps(p, lane(simd, scaled, r), *acc);
        }
    }
    std::array::from_fn(|r| hsum(acc[r]))
}

/// The four rows of a Q4_1 group column range against `T` activation rows at once: each
/// weight block is widened once and used for every row. Per (activation row, weight row) the
/// operations and their order are exactly `group_q4_1`'s, so a row's outputs do not depend on
/// the rows beside it (a batch gives each sequence the tokens it gets alone).
#[inline(always)]
fn group_q4_1_rows<const T: usize>(
    simd: V3,
    w: &[GroupQ4_1],
    x: [&[BlockQ16]; T],
) -> [[f32; GROUP]; T] {
    // Plain loops only: a closure here (`array::from_fn`) is compiled without the AVX2 target
    // features, so every intrinsic in it becomes a function call.
    let (avx, avx2) = (simd.avx, simd.avx2);
    let mut acc = [[avx._mm256_setzero_ps(); GROUP]; T];
    let mut minimums = [avx._mm256_setzero_ps(); T];
    let mask = avx._mm256_set1_epi16(0x0f);
    let zero = avx._mm256_setzero_si256();
    for (b, g) in w.iter().enumerate() {
        let halves: __m128i = bytemuck::cast(g.scales);
        let scales = widen(simd, avx2._mm256_cvtepu16_epi32(halves));
        let mut weights = [[zero; 2]; GROUP];
        for (w, q) in weights.iter_mut().zip(&g.q) {
            let wide = avx2._mm256_cvtepu8_epi16(bytemuck::cast::<[u8; 16], __m128i>(*q));
            *w = [avx2._mm256_and_si256(wide, mask), avx2._mm256_srli_epi16::<4>(wide)];
        }
        for t in 0..T {
            let xb = &x[t][b];
            let xq = activations(xb);
            let by =
                avx._mm256_blend_ps::<0xf0>(avx._mm256_set1_ps(xb.d), avx._mm256_set1_ps(xb.s));
            let scaled = avx._mm256_mul_ps(scales, by);
            minimums[t] = avx._mm256_add_ps(minimums[t], scaled);
            for r in 0..GROUP {
                let sums = avx2._mm256_add_epi32(
                    avx2._mm256_madd_epi16(weights[r][0], xq[0]),
                    avx2._mm256_madd_epi16(weights[r][1], xq[1]),
                );
                let p = avx._mm256_cvtepi32_ps(sums);
                acc[t][r] = simd.fma._mm256_fmadd_ps(p, lane(simd, scaled, r), acc[t][r]);
            }
        }
    }
    let mut out = [[0.0f32; GROUP]; T];
    for t in 0..T {
        let minimums: [f32; 8] = bytemuck::cast(minimums[t]);
        for r in 0..GROUP {
            out[t][r] = hsum(acc[t][r]) + minimums[GROUP + r];
        }
    }
    out
}

/// Activation rows handled together by `group_q4_1_rows` (more would spill the accumulators
/// out of the sixteen vector registers).
const ROWS_TOGETHER: usize = 2;
// `run` builds the rows' slices by hand for this count.
const _: () = assert!(ROWS_TOGETHER == 2);

pub(super) fn run(
    simd: V3,
    w: &Blocks,
    k: usize,
    xq: &[BlockQ16],
    m: usize,
    groups: Range<usize>,
    dst: &mut [f32],
) {
    simd.vectorize(|| {
        for (n, g) in groups.enumerate() {
            let mut i = 0;
            if let Blocks::Q4_1(w) = w {
                let w = &w[g * k..(g + 1) * k];
                while i + ROWS_TOGETHER <= m {
                    let x = [&xq[i * k..(i + 1) * k], &xq[(i + 1) * k..(i + 2) * k]];
                    let out = group_q4_1_rows::<ROWS_TOGETHER>(simd, w, x);
                    for (t, out) in out.iter().enumerate() {
                        dst[(n * m + i + t) * GROUP..][..GROUP].copy_from_slice(out);
                    }
                    i += ROWS_TOGETHER;
                }
            }
            for i in i..m {
                let x = &xq[i * k..(i + 1) * k];
                let out = match w {
                    Blocks::Q4_1(w) => group_q4_1(simd, &w[g * k..(g + 1) * k], x),
                    Blocks::Q8_0(w) => group_q8_0(simd, &w[g * k..(g + 1) * k], x),
                };
                dst[(n * m + i) * GROUP..][..GROUP].copy_from_slice(&out);
            }
        }
    });
}
