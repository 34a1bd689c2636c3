//! Bonds: the exponential moving average that ties validators to the miners they weighted,
//! and the dividends it pays.
//!
//! Two modes, selected by [`Params::yuma3`]:
//!
//! ```text
//! legacy   B  = colnorm(stored u16 as integers)      ΔB = colnorm(W̃ ∘ A)
//!          B' = colnorm(α·ΔB + (1−α)·B)               D  = norm(B'·I)
//!          stored: floor(colmaxupscale(B')·65535)
//! yuma3    B  = stored u16 / 65535                    B' = ema(W̃, B) (liquid α or fixed α)
//!          D  = norm(A ∘ rowsum(colnorm(B') ∘ I))     stored: floor(B'·65535)
//! ```
//!
//! with the fixed `α = 1 − bonds_moving_average/10^6`. Liquid alpha (Yuma3 only) gives every
//! entry its own α from a sigmoid of how far the validator is ahead of consensus (buying) or
//! behind its own bond (selling). Its sparse form keeps only entries present in `W̃`: a bond
//! without a weight entry disappears instead of decaying, as on chain.

use crate::{
    Params,
    fixed_point::{ONE, ZERO, div64, exp_clamped, from_u16_proportion, normalize},
    sparse::{self, Sparse},
};
use substrate_fixed::types::{I32F32, I64F64};

/// The fixed EMA rate `1 − bonds_moving_average / 10^6`, computed in `I64F64` and truncated.
pub(crate) fn fixed_alpha(params: &Params) -> I32F32 {
    let bma = div64(
        I64F64::saturating_from_num(params.bonds_moving_average),
        I64F64::saturating_from_num(1_000_000u64),
    );
    ONE.saturating_sub(I32F32::saturating_from_num(bma))
}

/// `α·new + (1−α)·old` entry by entry; rows densified, positive results kept.
fn ema_fixed(new: &[Vec<(u16, I32F32)>], old: &[Vec<(u16, I32F32)>], alpha: I32F32) -> Sparse {
    let columns = new.len();
    let keep = ONE.saturating_sub(alpha);
    new.iter()
        .enumerate()
        .map(|(i, new_row)| {
            let mut acc = vec![ZERO; columns];
            for &(j, v) in new_row {
                if let Some(cell) = acc.get_mut(usize::from(j)) {
                    *cell = cell.saturating_add(alpha.saturating_mul(v));
                }
            }
            for &(j, v) in old.get(i).map_or(&[][..], Vec::as_slice) {
                if let Some(cell) = acc.get_mut(usize::from(j)) {
                    *cell = cell.saturating_add(keep.saturating_mul(v));
                }
            }
            acc.iter()
                .enumerate()
                .filter(|&(_, v)| *v > ZERO)
                .map(|(j, &v)| (sparse::column(j), v))
                .collect()
        })
        .collect()
}

/// The liquid EMA rate of one entry.
fn liquid_alpha(params: &Params, consensus: I32F32, weight: I32F32, bond: I32F32) -> I32F32 {
    let clamp = |v: I32F32, lo: I32F32, hi: I32F32| v.min(hi).max(lo);
    let low = from_u16_proportion(params.alpha_low);
    let high = from_u16_proportion(params.alpha_high);
    let steepness = I32F32::saturating_from_num(params.alpha_sigmoid_steepness);
    let diff = if weight >= bond {
        clamp(weight.saturating_sub(consensus), ZERO, ONE)
    } else {
        clamp(bond.saturating_sub(weight), ZERO, ONE)
    };
    let half = I32F32::from_bits(1 << 31);
    let slope = steepness.saturating_div(I32F32::saturating_from_num(-100));
    let exponent = slope.saturating_mul(diff.saturating_sub(half));
    let sigmoid = ONE.saturating_div(ONE.saturating_add(exp_clamped(exponent)));
    let alpha = low.saturating_add(sigmoid.saturating_mul(high.saturating_sub(low)));
    clamp(alpha, low, high)
}

/// The value at column `j` of a row scanned left to right as if sorted by column: entries
/// before `j` are consumed, an entry after `j` stops the scan. Rows that are not sorted
/// therefore hide some entries, on chain as here.
fn scan_to(row: &[(u16, I32F32)], pos: &mut usize, j: u16) -> I32F32 {
    while let Some(&(c, v)) = row.get(*pos) {
        if c < j {
            *pos += 1;
        } else {
            return if c == j { v } else { ZERO };
        }
    }
    ZERO
}

/// Liquid-alpha EMA: `min(1, (1−α_ij)·B_ij + max(0, α_ij·W̃_ij))` for the entries of `W̃`.
fn ema_liquid(
    params: &Params,
    weights: &[Vec<(u16, I32F32)>],
    bonds: &[Vec<(u16, I32F32)>],
    consensus: &[I32F32],
) -> Sparse {
    weights
        .iter()
        .zip(bonds)
        .map(|(w_row, b_row)| {
            let (mut wp, mut bp) = (0, 0);
            let alphas: Vec<I32F32> = consensus
                .iter()
                .enumerate()
                .map(|(j, &c)| {
                    let j = sparse::column(j);
                    let w = scan_to(w_row, &mut wp, j);
                    let b = scan_to(b_row, &mut bp, j);
                    liquid_alpha(params, c, w, b)
                })
                .collect();
            let mut decayed = vec![ZERO; alphas.len()];
            for &(j, b) in b_row {
                if let (Some(&a), Some(cell)) =
                    (alphas.get(usize::from(j)), decayed.get_mut(usize::from(j)))
                {
                    *cell = ONE.saturating_sub(a).saturating_mul(b);
                }
            }
            w_row
                .iter()
                .filter_map(|&(j, w)| {
                    let a = *alphas.get(usize::from(j))?;
                    let d = *decayed.get(usize::from(j))?;
                    let v = d.saturating_add(a.saturating_mul(w).max(ZERO)).min(ONE);
                    (v > ZERO).then_some((j, v))
                })
                .collect()
        })
        .collect()
}

/// What the bonds step hands back to the epoch.
pub(crate) struct BondsOutcome {
    /// Dividends, normalized.
    pub(crate) dividends: Vec<I32F32>,
    /// New bonds in the form they are stored (before the u16 conversion).
    pub(crate) bonds: Sparse,
}

/// The inputs both modes share.
pub(crate) struct BondsInput<'a> {
    pub(crate) stored: &'a [Vec<(u16, u16)>],
    pub(crate) weights_for_bonds: &'a [Vec<(u16, I32F32)>],
    pub(crate) active_stake: &'a [I32F32],
    pub(crate) incentive: &'a [I32F32],
    pub(crate) consensus: &'a [I32F32],
    /// Bond columns of uids registered at or after this block are dropped.
    pub(crate) last_tempo: u64,
    pub(crate) block_at_registration: &'a [u64],
}

/// Loads the stored bonds through `load` and drops the columns of recently registered uids.
fn load(input: &BondsInput<'_>, load: impl Fn(u16) -> I32F32) -> Sparse {
    let rows: Sparse =
        input.stored.iter().map(|row| row.iter().map(|&(j, b)| (j, load(b))).collect()).collect();
    sparse::retain(&rows, |_, j| {
        input.last_tempo <= input.block_at_registration.get(j).copied().unwrap_or(0)
    })
}

/// Yuma3: absolute bonds in [0, 1], dividends weighted by active stake.
pub(crate) fn yuma3(params: &Params, input: &BondsInput<'_>) -> BondsOutcome {
    let n = input.active_stake.len();
    let old = load(input, from_u16_proportion);
    let liquid = params.liquid_alpha && input.consensus.iter().any(|&c| c != ZERO);
    let bonds = if liquid {
        ema_liquid(params, input.weights_for_bonds, &old, input.consensus)
    } else {
        ema_fixed(input.weights_for_bonds, &old, fixed_alpha(params))
    };
    let mut shares = bonds.clone();
    sparse::normalize_columns(&mut shares, n);
    let per_validator = sparse::row_sums(&sparse::scale_columns(&shares, input.incentive));
    let mut dividends: Vec<I32F32> = per_validator
        .iter()
        .zip(input.active_stake)
        .map(|(b, s)| b.checked_mul(*s).unwrap_or(ZERO))
        .collect();
    normalize(&mut dividends);
    BondsOutcome { dividends, bonds }
}

/// Legacy ("Yuma 2"): stake-weighted, column-normalized bonds.
pub(crate) fn legacy(params: &Params, input: &BondsInput<'_>) -> BondsOutcome {
    let n = input.active_stake.len();
    let mut old = load(input, I32F32::saturating_from_num);
    sparse::normalize_columns(&mut old, n);
    let mut delta = sparse::scale_rows(input.weights_for_bonds, input.active_stake);
    sparse::normalize_columns(&mut delta, n);
    let mut bonds = ema_fixed(&delta, &old, fixed_alpha(params));
    sparse::normalize_columns(&mut bonds, n);
    let mut dividends = sparse::row_dot(&bonds, input.incentive);
    normalize(&mut dividends);
    sparse::max_upscale_columns(&mut bonds, n);
    BondsOutcome { dividends, bonds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_alpha_of_the_default_is_a_hair_above_one_tenth() {
        // 1 − trunc32(0.9) = 0.10000000009: floor(0.9·2^32) = 3_865_470_566.
        let a = fixed_alpha(&Params::subtensor_defaults());
        assert_eq!(a.to_bits(), (1i64 << 32) - 3_865_470_566);
    }

    #[test]
    fn first_liquid_alpha_is_0_1013() {
        // C = W = 1, B = 0: diff = 0, σ = 1/(1+e^5) ≈ 0.00669, α = 0.1 + 0.00669·0.2 ≈ 0.1013
        // (the value that opens subtensor's Yuma3 test tables, alpha in [0.1, 0.3]).
        let p = Params { alpha_low: 6554, alpha_high: 19661, ..Params::subtensor_defaults() };
        let a = liquid_alpha(&p, ONE, ONE, ZERO);
        let expected = I32F32::from_num(0.1013);
        assert!((a - expected).abs() < I32F32::from_num(0.0001), "{a}");
    }

    #[test]
    fn an_unsorted_row_hides_entries_from_the_scan() {
        let row = vec![(3, ONE), (1, ONE)];
        let mut pos = 0;
        let seen: Vec<I32F32> = (0..4).map(|j| scan_to(&row, &mut pos, j)).collect();
        assert_eq!(seen, vec![ZERO, ZERO, ZERO, ONE]);
    }
}
