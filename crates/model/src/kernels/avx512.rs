//! The AVX-512 kernels (x86-64-v4, through `pulp`'s safe intrinsics): the AVX2 kernels' sums,
//! bit for bit, with a group's four weight rows in one 512-bit vector.
//!
//! The AVX2 kernel gives each weight row a vector: per row and activation block, two
//! `vpmaddwd`, an add, a convert, a lane broadcast and an FMA. Batched decode is bound by those
//! instructions, not by reading weights. Here a vector holds eight values of each of the four
//! rows (a 128-bit lane per row), and eight activation values are broadcast to all four lanes:
//!
//! ```text
//! chunk c (values 8c..8c+8)   weights  [ r0 | r1 | r2 | r3 ]   (32 × i16)
//!                             × x      [ x  | x  | x  | x  ]   (vbroadcasti32x4)
//! vpmaddwd → lane (r, i) = pair 8c+2i of row r            (16 × i32)
//! A = chunk 0 + chunk 2,  B = chunk 1 + chunk 3
//! ```
//!
//! Lane `(r, i)` of `A` is exactly lane `i` of the AVX2 kernel's integer sums for row `r`
//! (pairs `2i` and `16 + 2i`), and lane `(r, i)` of `B` is its lane `4 + i`. Each is converted,
//! scaled by the same `d_w·d_x` product and accumulated in block order as AVX2 does, and the
//! lanes are summed at the end in AVX2's order, with the Q4_1 minimums accumulated exactly as
//! AVX2 accumulates them. So a machine with AVX-512 generates the same tokens as one with
//! AVX2 only. Per group and activation block: four `vpmaddwd`, two adds, two converts, two
//! FMAs and a multiply for four rows, instead of twenty-odd instructions.

use super::{BlockQ16, Blocks, GROUP, GroupQ4_1, GroupQ8_0};
use core::arch::x86_64::{__m128i, __m256, __m512, __m512i};
use pulp::x86::V4;
use std::ops::Range;

/// Activation rows handled together: their accumulators (three vectors each) and the four
/// weight vectors fit the 32 registers.
const ROWS_TOGETHER: usize = 4;

/// The four 8-value chunks of an activation block, each broadcast to all four 128-bit lanes.
#[inline(always)]
fn chunks(simd: V4, x: &BlockQ16) -> [__m512i; 4] {
    let parts: [__m128i; 4] = bytemuck::cast(x.q);
    let f = simd.avx512f;
    [
        f._mm512_broadcast_i32x4(parts[0]),
        f._mm512_broadcast_i32x4(parts[1]),
        f._mm512_broadcast_i32x4(parts[2]),
        f._mm512_broadcast_i32x4(parts[3]),
    ]
}

/// A weight format's group column, as this kernel reads it.
trait Group {
    /// Whether rows have minimums (Q4_1), accumulated apart and added at the end.
    const MINIMUMS: bool;

    /// The four weight vectors, chunk by chunk (lane `r` holds row `r`'s values `8c..8c+8`),
    /// and the scales widened as AVX2 widens them (lanes 0–3: `d`; 4–7: minimums or zero).
    fn load(&self, simd: V4) -> ([__m512i; 4], __m256);
}

impl Group for GroupQ4_1 {
    const MINIMUMS: bool = true;

    #[inline(always)]
    fn load(&self, simd: V4) -> ([__m512i; 4], __m256) {
        let halves: __m128i = bytemuck::cast(self.scales);
        let scales = super::avx2::widen(*simd, simd.avx2._mm256_cvtepu16_epi32(halves));
        (q4_1_weights(simd, self), scales)
    }
}

impl Group for GroupQ8_0 {
    const MINIMUMS: bool = false;

    #[inline(always)]
    fn load(&self, simd: V4) -> ([__m512i; 4], __m256) {
        let halves = simd.sse2._mm_set_epi64x(0, bytemuck::cast::<[u16; 4], i64>(self.d));
        let scales = super::avx2::widen(*simd, simd.avx2._mm256_cvtepu16_epi32(halves));
        (q8_0_weights(simd, self), scales)
    }
}

#[inline(always)]
fn q4_1_weights(simd: V4, g: &GroupQ4_1) -> [__m512i; 4] {
    let (f, bw) = (simd.avx512f, simd.avx512bw);
    // Row r's bytes 0–7 are quadword 2r, bytes 8–15 quadword 2r + 1: gather the even
    // quadwords (values 0–7 low, 16–23 high nibbles) then the odd ones (8–15, 24–31).
    let rows: __m512i = bytemuck::cast(g.q);
    let split = f._mm512_permutexvar_epi64(f._mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), rows);
    let even = bw._mm512_cvtepu8_epi16(f._mm512_castsi512_si256(split));
    let odd = bw._mm512_cvtepu8_epi16(f._mm512_extracti64x4_epi64::<1>(split));
    let mask = f._mm512_set1_epi16(0x0f);
    [
        f._mm512_and_si512(even, mask),
        f._mm512_and_si512(odd, mask),
        bw._mm512_srli_epi16::<4>(even),
        bw._mm512_srli_epi16::<4>(odd),
    ]
}

/// Row r's chunk c is quadword 4r + c of the group's 128 bytes.
#[inline(always)]
fn q8_0_weights(simd: V4, g: &GroupQ8_0) -> [__m512i; 4] {
    let (f, bw) = (simd.avx512f, simd.avx512bw);
    let halves: [__m512i; 2] = bytemuck::cast(g.q);
    // Chunks 0 and 2 of rows 0–3, then chunks 1 and 3.
    let pick = |idx: __m512i| f._mm512_permutex2var_epi64(halves[0], idx, halves[1]);
    let zero_two = pick(f._mm512_setr_epi64(0, 4, 8, 12, 2, 6, 10, 14));
    let one_three = pick(f._mm512_setr_epi64(1, 5, 9, 13, 3, 7, 11, 15));
    [
        bw._mm512_cvtepi8_epi16(f._mm512_castsi512_si256(zero_two)),
        bw._mm512_cvtepi8_epi16(f._mm512_castsi512_si256(one_three)),
        bw._mm512_cvtepi8_epi16(f._mm512_extracti64x4_epi64::<1>(zero_two)),
        bw._mm512_cvtepi8_epi16(f._mm512_extracti64x4_epi64::<1>(one_three)),
    ]
}

/// Each row's `d_w` (lanes 0–3 of `scales`) in all four lanes of its 128-bit lane.
#[inline(always)]
fn by_row(simd: V4, scales: __m256) -> __m512 {
    let f = simd.avx512f;
    let idx = f._mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    f._mm512_permutexvar_ps(idx, f._mm512_castps256_ps512(scales))
}

/// The outputs of one activation row: each row's lanes summed in AVX2's order, plus the Q4_1
/// minimums (lanes 4–7 of `minimums`).
#[inline(always)]
fn finish<W: Group>(simd: V4, a: __m512, b: __m512, minimums: __m256) -> [f32; GROUP] {
    let c: [f32; 16] = bytemuck::cast(simd.avx512f._mm512_add_ps(a, b));
    let minimums: [f32; 8] = bytemuck::cast(minimums);
    let mut out = [0.0f32; GROUP];
    for r in 0..GROUP {
        let l = &c[4 * r..4 * r + 4];
        let sum = (l[0] + l[1]) + (l[2] + l[3]);
        out[r] = if W::MINIMUMS { sum + minimums[GROUP + r] } else { sum };
    }
    out
}

/// A group's four rows against `T` activation rows. Plain loops only: a closure is compiled
/// without the target features, and every intrinsic in it becomes a call.
#[inline(always)]
fn group_rows<W: Group, const T: usize>(
    simd: V4,
    w: &[W],
    x: [&[BlockQ16]; T],
) -> [[f32; GROUP]; T] {
    let (f, avx) = (simd.avx512f, simd.avx);
    let mut a = [f._mm512_setzero_ps(); T];
    let mut b = [f._mm512_setzero_ps(); T];
    let mut minimums = [avx._mm256_setzero_ps(); T];
    for (block, group) in w.iter().enumerate() {
        let (weights, scales) = group.load(simd);
        let d_w = by_row(simd, scales);
        for t in 0..T {
            let xb = &x[t][block];
            let xq = chunks(simd, xb);
            let bw = simd.avx512bw;
            let ints_a = f._mm512_add_epi32(
                bw._mm512_madd_epi16(weights[0], xq[0]),
                bw._mm512_madd_epi16(weights[2], xq[2]),
            );
            let ints_b = f._mm512_add_epi32(
                bw._mm512_madd_epi16(weights[1], xq[1]),
                bw._mm512_madd_epi16(weights[3], xq[3]),
            );
            // d_w·d_x per row, as AVX2's `scaled` lanes 0–3.
            let scale = f._mm512_mul_ps(d_w, f._mm512_set1_ps(xb.d));
            a[t] = f._mm512_fmadd_ps(f._mm512_cvtepi32_ps(ints_a), scale, a[t]);
            b[t] = f._mm512_fmadd_ps(f._mm512_cvtepi32_ps(ints_b), scale, b[t]);
            if W::MINIMUMS {
                // min_w·s_x per row in lanes 4–7, as AVX2's `scaled`.
                let by = avx._mm256_set1_ps(xb.s);
                minimums[t] = avx._mm256_add_ps(minimums[t], avx._mm256_mul_ps(scales, by));
            }
        }
    }
    let mut out = [[0.0f32; GROUP]; T];
    for t in 0..T {
        out[t] = finish::<W>(simd, a[t], b[t], minimums[t]);
    }
    out
}

pub(super) fn run(
    simd: V4,
    w: &Blocks,
    k: usize,
    xq: &[BlockQ16],
    m: usize,
    groups: Range<usize>,
    dst: &mut [f32],
) {
    match w {
        Blocks::Q4_1(w) => run_format(simd, w, k, xq, m, groups, dst),
        Blocks::Q8_0(w) => run_format(simd, w, k, xq, m, groups, dst),
    }
}

fn run_format<W: Group>(
    simd: V4,
    w: &[W],
    k: usize,
    xq: &[BlockQ16],
    m: usize,
    groups: Range<usize>,
    dst: &mut [f32],
) {
    simd.vectorize(|| {
        for (n, g) in groups.enumerate() {
            let w = &w[g * k..(g + 1) * k];
            let mut i = 0;
            while i + ROWS_TOGETHER <= m {
                let x = [
                    &xq[i * k..(i + 1) * k],
                    &xq[(i + 1) * k..(i + 2) * k],
                    &xq[(i + 2) * k..(i + 3) * k],
                    &xq[(i + 3) * k..(i + 4) * k],
                ];
                let out = group_rows::<W, ROWS_TOGETHER>(simd, w, x);
                for (t, out) in out.iter().enumerate() {
                    dst[(n * m + i + t) * GROUP..][..GROUP].copy_from_slice(out);
                }
                i += ROWS_TOGETHER;
            }
            for i in i..m {
                let out = group_rows::<W, 1>(simd, w, [&xq[i * k..(i + 1) * k]]);
                dst[(n * m + i) * GROUP..][..GROUP].copy_from_slice(&out[0]);
            }
        }
    });
}
