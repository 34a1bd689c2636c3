//! Consensus: the stake-weighted median of each column of the weight matrix.
//!
//! `C_j` is the largest weight `w` such that validators holding at least κ of the active stake
//! set `W_ij ≥ w`. Subtensor finds it by a quickselect (pivot: the middle element of the
//! current partition, partial stake sums in `I32F32`). Its answer does not depend on the pivot
//! path: the partial sums are exact (fixed-point addition is integer addition, and the stakes,
//! normalized, cannot overflow), so with `m = T − κ` (`T` the voters' total stake) and
//! `G(x)` the stake of voters scoring at most `x`, the search returns
//!
//! - the smallest score `x` with `G(x) > m` when `0 ≤ m < T`;
//! - the smallest score when `m < 0`, and the largest when `m ≥ T`.
//!
//! So this module selects over `(score, stake)` pairs with a branch-free partition and
//! subtensor's decision rules; the reference search, as subtensor writes it, lives in
//! the tests and is checked against this one on random columns with ties and zero stakes.

use crate::fixed_point::{ZERO, normalize, sum};
use substrate_fixed::types::I32F32;

/// Buffers one column's selection works in, reused across columns: after the first round
/// the current range of pairs is `range[..len]`, and a round writes its sides into `lower`
/// and `upper`. All three hold one slot per voter.
struct Scratch {
    range: Vec<(I32F32, I32F32)>,
    lower: Vec<(I32F32, I32F32)>,
    upper: Vec<(I32F32, I32F32)>,
}

impl Scratch {
    fn new(voters: usize) -> Self {
        let slots = vec![(ZERO, ZERO); voters];
        Self { range: slots.clone(), lower: slots.clone(), upper: slots }
    }
}

/// The stake-weighted median of a column's `(score, stake)` pairs (their stakes summing to
/// `range_stake`), with `minority = T − κ`.
///
/// Each round partitions without branching on the data (every pair is written to both
/// sides and only the matching side's length grows): on real weights the comparisons are
/// coin flips a branch predictor cannot learn.
fn weighted_median(
    column: &[(I32F32, I32F32)],
    scratch: &mut Scratch,
    mut range_stake: i64,
    minority: I32F32,
) -> I32F32 {
    let Scratch { range, lower, upper } = scratch;
    // The first round reads the column itself; later ones the side the previous one kept.
    let mut first = true;
    let mut len = column.len();
    let minority = minority.to_bits();
    // The stake below the current range. Stakes are normalized (each at most 2^32 in bits,
    // at most `limits::UIDS_MAX` of them), so no sum here comes near overflow and plain
    // additions are the saturating ones subtensor performs.
    let mut below = 0i64;
    loop {
        let current = if first { column } else { range.get(..len).unwrap_or_default() };
        first = false;
        let Some(&(middle, _)) = current.get(len / 2) else { return ZERO };
        if len == 1 {
            return middle;
        }
        // Any pivot gives the same answer; the median of three shrinks the range faster.
        let (first, last) = (current[0].0, current[len - 1].0);
        let pivot = first.max(middle.min(last)).min(middle.max(last));
        let (mut n_lower, mut n_upper) = (0, 0);
        let (mut lower_stake, mut upper_stake) = (0i64, 0i64);
        for &pair in current {
            let (score, stake) = (pair.0, pair.1.to_bits());
            if let (Some(l), Some(u)) = (lower.get_mut(n_lower), upper.get_mut(n_upper)) {
                (*l, *u) = (pair, pair);
            }
            let (is_lower, is_upper) = (score < pivot, score > pivot);
            n_lower += usize::from(is_lower);
            n_upper += usize::from(is_upper);
            // A plain mask gets turned back into a branch by the optimizer.
            let below_pivot = std::hint::select_unpredictable(is_lower, stake, 0);
            let above_pivot = std::hint::select_unpredictable(is_upper, stake, 0);
            lower_stake = lower_stake.wrapping_add(below_pivot);
            upper_stake = upper_stake.wrapping_add(above_pivot);
        }
        let before_pivot = below.wrapping_add(lower_stake);
        let through_pivot = below.wrapping_add(range_stake.wrapping_sub(upper_stake));
        if minority < before_pivot && n_lower > 0 {
            std::mem::swap(range, lower);
            (len, range_stake) = (n_lower, lower_stake);
        } else if through_pivot <= minority && n_upper > 0 {
            below = through_pivot;
            std::mem::swap(range, upper);
            (len, range_stake) = (n_upper, upper_stake);
        } else {
            return pivot;
        }
    }
}

/// Consensus of every column: validators with positive active stake vote with their stake
/// renormalized; a validator with no entry in a column votes 0 there.
pub(crate) fn column_medians(
    active_stake: &[I32F32],
    weights: &[Vec<(u16, I32F32)>],
    columns: usize,
    kappa: I32F32,
) -> Vec<I32F32> {
    let voters: Vec<usize> = (0..active_stake.len()).filter(|&i| active_stake[i] > ZERO).collect();
    let mut stake: Vec<I32F32> = voters.iter().map(|&i| active_stake[i]).collect();
    normalize(&mut stake);
    let total = sum(&stake);
    let minority = total.saturating_sub(kappa);

    let v = voters.len();
    if v == 0 {
        return vec![ZERO; columns];
    }
    // Dense voter-major scores, written row by row (each row in its stored order): scores[k·n
    // + j] is voter k's weight on column j. Each column is then gathered with strided reads,
    // which pipeline, instead of scattering every weight to a column-major layout.
    let mut scores = vec![ZERO; v.saturating_mul(columns)];
    for (row, &i) in scores.chunks_mut(columns.max(1)).zip(&voters) {
        for &(j, w) in weights.get(i).map_or(&[][..], Vec::as_slice) {
            if let Some(cell) = row.get_mut(usize::from(j)) {
                *cell = w;
            }
        }
    }
    let mut column = vec![(ZERO, ZERO); v];
    let mut scratch = Scratch::new(v);
    (0..columns)
        .map(|j| {
            for (k, (pair, &s)) in column.iter_mut().zip(&stake).enumerate() {
                *pair = (scores.get(k * columns + j).copied().unwrap_or(ZERO), s);
            }
            weighted_median(&column, &mut scratch, total.to_bits(), minority)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Subtensor's search, step for step: the stake-weighted median of `score` over the
    /// candidates `idx`, pivoting on the middle element of each partition, partitions in input
    /// order. `minority` is `T − κ` (`T` the candidates' total stake); `lo..hi` is the stake
    /// range the current partition spans; `lower` and `upper` are scratch.
    fn reference_median(
        stake: &[I32F32],
        score: &[I32F32],
        idx: &mut Vec<usize>,
        (lower, upper): (&mut Vec<usize>, &mut Vec<usize>),
        minority: I32F32,
        mut lo: I32F32,
        mut hi: I32F32,
    ) -> I32F32 {
        let at = |v: &[I32F32], i: usize| v.get(i).copied().unwrap_or(ZERO);
        // Each round removes at least the pivot, so the loop ends within `idx.len()` rounds; the
        // bound is kept as a guard.
        let rounds_max = idx.len();
        for _ in 0..=rounds_max {
            match idx.len() {
                0 => return ZERO,
                1 => return at(score, idx[0]),
                len => {
                    let pivot = at(score, idx[len / 2]);
                    lower.clear();
                    upper.clear();
                    let (mut lower_stake, mut upper_stake) = (ZERO, ZERO);
                    for &i in idx.iter() {
                        let s = at(score, i);
                        if s < pivot {
                            lower_stake = lower_stake.saturating_add(at(stake, i));
                            lower.push(i);
                        } else if s > pivot {
                            upper_stake = upper_stake.saturating_add(at(stake, i));
                            upper.push(i);
                        }
                    }
                    if minority < lo.saturating_add(lower_stake) && !lower.is_empty() {
                        hi = lo.saturating_add(lower_stake);
                        std::mem::swap(idx, lower);
                    } else if hi.saturating_sub(upper_stake) <= minority && !upper.is_empty() {
                        lo = hi.saturating_sub(upper_stake);
                        std::mem::swap(idx, upper);
                    } else {
                        return pivot;
                    }
                }
            }
        }
        ZERO
    }

    /// The in-place selection gives subtensor's answer on random columns: few distinct
    /// scores (ties), zero stakes, and κ from 0 to past the total.
    #[test]
    fn selection_matches_the_reference_search() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for round in 0..20_000 {
            let n = 1 + usize::try_from(next(40)).unwrap_or(0);
            let distinct = 1 + next(if round % 2 == 0 { 4 } else { 1 << 32 });
            let score: Vec<I32F32> = (0..n)
                .map(|_| I32F32::from_bits(i64::try_from(next(distinct)).unwrap_or(0)))
                .collect();
            let mut stake: Vec<I32F32> = (0..n)
                .map(|_| {
                    I32F32::from_bits(if next(5) == 0 {
                        0
                    } else {
                        1 + i64::try_from(next(1 << 32)).unwrap_or(0)
                    })
                })
                .collect();
            normalize(&mut stake);
            let total = sum(&stake);
            let kappa = I32F32::from_bits(i64::try_from(next((1 << 32) + (1 << 30))).unwrap_or(0));
            let minority = total.saturating_sub(kappa);
            let mut idx: Vec<usize> = (0..n).collect();
            let want = reference_median(
                &stake,
                &score,
                &mut idx,
                (&mut Vec::new(), &mut Vec::new()),
                minority,
                ZERO,
                total,
            );
            let column: Vec<(I32F32, I32F32)> =
                score.iter().copied().zip(stake.iter().copied()).collect();
            assert_eq!(
                weighted_median(&column, &mut Scratch::new(n), total.to_bits(), minority),
                want,
                "{score:?} {stake:?} {kappa:?}"
            );
        }
    }

    fn fx(v: f64) -> I32F32 {
        I32F32::from_num(v)
    }

    #[test]
    fn median_is_the_kappa_quantile() {
        let kappa = crate::fixed_point::from_u16_proportion(32767);
        // Three equal voters: 0.1, 0.5, 0.9 on one column → median 0.5.
        let w = vec![vec![(0, fx(0.1))], vec![(0, fx(0.5))], vec![(0, fx(0.9))]];
        let s = vec![fx(1.0 / 3.0); 3];
        assert_eq!(column_medians(&s, &w, 1, kappa), vec![fx(0.5)]);
    }

    #[test]
    fn a_stake_majority_decides() {
        let kappa = crate::fixed_point::from_u16_proportion(32767);
        let w = vec![vec![(0, fx(0.2))], vec![(0, fx(0.8))]];
        assert_eq!(column_medians(&[fx(0.6), fx(0.4)], &w, 1, kappa), vec![fx(0.2)]);
        assert_eq!(column_medians(&[fx(0.4), fx(0.6)], &w, 1, kappa), vec![fx(0.8)]);
    }

    #[test]
    fn no_voters_means_zero() {
        let kappa = crate::fixed_point::from_u16_proportion(32767);
        assert_eq!(column_medians(&[ZERO, ZERO], &[vec![], vec![]], 2, kappa), vec![ZERO, ZERO]);
    }
}
