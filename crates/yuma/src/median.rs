//! Consensus: the stake-weighted median of each column of the weight matrix.
//!
//! `C_j` is the largest weight `w` such that validators holding at least κ of the active stake
//! set `W_ij ≥ w`. It is found by a quickselect whose pivot is the middle element of the
//! current partition and whose partial stake sums are accumulated in `I32F32` in partition
//! order, the same steps subtensor takes, so the result is the same bit pattern even where
//! rounding of the partial sums decides a tie.

use crate::fixed_point::{ZERO, normalize, sum};
use substrate_fixed::types::I32F32;

/// The stake-weighted median of `score` over the candidates `idx`.
///
/// `minority` is `T − κ` where `T` is the total stake of the candidates; `lo..hi` is the stake
/// range the current partition spans.
/// `idx`, `lower` and `upper` are scratch buffers reused across columns (their contents on
/// entry: `idx` the candidates, the others anything); partitions keep the input order, as
/// subtensor's do.
fn weighted_median(
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

    // Column-major scores: scores[j][k] is the weight voter k puts on column j.
    let mut scores = vec![vec![ZERO; voters.len()]; columns];
    for (k, &i) in voters.iter().enumerate() {
        for &(j, w) in weights.get(i).map_or(&[][..], Vec::as_slice) {
            if let Some(col) = scores.get_mut(usize::from(j)) {
                col[k] = w;
            }
        }
    }
    let (mut idx, mut lower, mut upper) = (Vec::new(), Vec::new(), Vec::new());
    scores
        .iter()
        .map(|col| {
            idx.clear();
            idx.extend(0..voters.len());
            weighted_median(&stake, col, &mut idx, (&mut lower, &mut upper), minority, ZERO, total)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
