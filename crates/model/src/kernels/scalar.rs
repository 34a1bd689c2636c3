//! The portable kernels: the exact sums the AVX2 path computes, one row and block at a time.

use super::{BlockQ16, Blocks, GROUP, half_to_f32};
use std::ops::Range;

/// Row `r` of a Q4_1 group column against one activation block.
fn q4_1(g: &super::GroupQ4_1, r: usize, x: &BlockQ16) -> f32 {
    let mut ints = 0i32;
    for j in 0..16 {
        let lo = i32::from(g.q[r][j] & 0x0f);
        let hi = i32::from(g.q[r][j] >> 4);
        ints += lo * i32::from(x.q[j]) + hi * i32::from(x.q[j + 16]);
    }
    ints as f32 * (half_to_f32(g.scales[r]) * x.d) + half_to_f32(g.scales[GROUP + r]) * x.s
}

fn q8_0(g: &super::GroupQ8_0, r: usize, x: &BlockQ16) -> f32 {
    let ints: i32 = g.q[r].iter().zip(&x.q).map(|(a, b)| i32::from(*a) * i32::from(*b)).sum();
    ints as f32 * (half_to_f32(g.d[r]) * x.d)
}

pub(super) fn run(
    w: &Blocks,
    k: usize,
    xq: &[BlockQ16],
    m: usize,
    groups: Range<usize>,
    dst: &mut [f32],
) {
    for (n, g) in groups.enumerate() {
        for i in 0..m {
            let x = &xq[i * k..(i + 1) * k];
            for r in 0..GROUP {
                let mut sum = 0.0f32;
                for (b, xb) in x.iter().enumerate() {
                    sum += match w {
                        Blocks::Q4_1(w) => q4_1(&w[g * k + b], r, xb),
                        Blocks::Q8_0(w) => q8_0(&w[g * k + b], r, xb),
                    };
                }
                dst[(n * m + i) * GROUP + r] = sum;
            }
        }
    }
}
