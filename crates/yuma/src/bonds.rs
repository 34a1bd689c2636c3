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
    fixed_point::{
        Divisor, ONE, U16_ONE, ZERO, div, div64, exp_clamped, exp_clamped_all, from_u16_proportion,
        mul, normalize,
    },
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

/// `α·f(new) + (1−α)·g(old)` entry by entry, with `f` and `g` applied to each entry
/// (`(row, column, value)`) as it is read; rows densified, positive results kept.
fn ema_fixed(
    new: &[Vec<(u16, I32F32)>],
    old: &[Vec<(u16, I32F32)>],
    alpha: I32F32,
    f: impl Fn(usize, u16, I32F32) -> I32F32,
    g: impl Fn(u16, I32F32) -> I32F32,
) -> Sparse {
    let columns = new.len();
    let keep = ONE.saturating_sub(alpha);
    let mut acc = vec![ZERO; columns];
    new.iter()
        .enumerate()
        .map(|(i, new_row)| {
            let old_row = old.get(i).map_or(&[][..], Vec::as_slice);
            if new_row.is_empty() && old_row.is_empty() {
                return Vec::new();
            }
            acc.fill(ZERO);
            for &(j, v) in new_row {
                if let Some(cell) = acc.get_mut(usize::from(j)) {
                    *cell = cell.saturating_add(mul(alpha, f(i, j, v)));
                }
            }
            for &(j, v) in old_row {
                if let Some(cell) = acc.get_mut(usize::from(j)) {
                    *cell = cell.saturating_add(mul(keep, g(j, v)));
                }
            }
            let positive = acc.iter().enumerate().filter(|&(_, v)| *v > ZERO);
            sparse::row_of(columns, positive.map(|(j, &v)| (sparse::column(j), v)))
        })
        .collect()
}

/// The liquid EMA rate's parameters, converted once per epoch.
struct LiquidRates {
    low: I32F32,
    high: I32F32,
    /// `−steepness / 100`.
    slope: I32F32,
    /// The exponents of the clamped differences 0 and 1, with their rates: most entries of a
    /// real epoch clamp (a weight below consensus gives 0), so their rate is computed once.
    clamped: [(I32F32, I32F32); 2],
}

impl LiquidRates {
    fn new(params: &Params) -> Self {
        let steepness = I32F32::saturating_from_num(params.alpha_sigmoid_steepness);
        let mut rates = Self {
            low: from_u16_proportion(params.alpha_low),
            high: from_u16_proportion(params.alpha_high),
            slope: steepness.saturating_div(I32F32::saturating_from_num(-100)),
            clamped: [(ZERO, ZERO); 2],
        };
        rates.clamped = [ZERO, ONE].map(|diff| {
            let x = rates.exponent_of(diff);
            (x, rates.alpha(exp_clamped(x)))
        });
        rates
    }

    /// The rate of an exponent both clamped differences share, if it is one of theirs.
    fn known(&self, exponent: I32F32) -> Option<I32F32> {
        self.clamped.iter().find(|(x, _)| *x == exponent).map(|(_, alpha)| *alpha)
    }

    fn exponent_of(&self, diff: I32F32) -> I32F32 {
        let half = I32F32::from_bits(1 << 31);
        mul(self.slope, diff.saturating_sub(half))
    }

    /// The exponent of an entry's sigmoid, from its consensus, weight and bond.
    fn exponent(&self, consensus: I32F32, weight: I32F32, bond: I32F32) -> I32F32 {
        let clamp = |v: I32F32| v.min(ONE).max(ZERO);
        let diff = if weight >= bond {
            clamp(weight.saturating_sub(consensus))
        } else {
            clamp(bond.saturating_sub(weight))
        };
        self.exponent_of(diff)
    }

    /// The rate from `e^exponent`.
    fn alpha(&self, exp: I32F32) -> I32F32 {
        // 1 + e^x ≥ 1, so the quotient is at most 1: `div` neither overflows nor saturates.
        let sigmoid = div(ONE, ONE.saturating_add(exp));
        let alpha = self.low.saturating_add(mul(sigmoid, self.high.saturating_sub(self.low)));
        alpha.min(self.high).max(self.low)
    }
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
    let rates = LiquidRates::new(params);
    let columns = consensus.len();
    // Scratch reused across rows: the rate and the decayed bond of each column the row uses.
    let mut alphas = vec![ZERO; columns];
    let mut used = vec![false; columns];
    let mut decayed = vec![ZERO; columns];
    let (mut needed, mut exps) = (Vec::with_capacity(columns), Vec::with_capacity(columns));
    weights
        .iter()
        .zip(bonds)
        .map(|(w_row, b_row)| {
            if w_row.is_empty() {
                // Only entries of `W̃` survive.
                return Vec::new();
            }
            // Only columns of `W̃` are read back (a bond without a weight does not survive),
            // so only their rates are needed.
            used.fill(false);
            for &(j, _) in w_row {
                if let Some(u) = used.get_mut(usize::from(j)) {
                    *u = true;
                }
            }
            // The scan visits every column (it decides which entries a column sees); the
            // rate, an exponential, is computed only where an entry will read it, all the
            // row's exponentials together; a clamped difference's rate is known already.
            let (mut wp, mut bp) = (0, 0);
            needed.clear();
            exps.clear();
            for (j, (&c, &u)) in consensus.iter().zip(&used).enumerate() {
                let w = scan_to(w_row, &mut wp, sparse::column(j));
                let b = scan_to(b_row, &mut bp, sparse::column(j));
                if u {
                    let x = rates.exponent(c, w, b);
                    match (rates.known(x), alphas.get_mut(j)) {
                        (Some(known), Some(alpha)) => *alpha = known,
                        _ => {
                            needed.push(j);
                            exps.push(x);
                        }
                    }
                }
            }
            exp_clamped_all(&mut exps);
            for (&j, &e) in needed.iter().zip(&exps) {
                if let Some(alpha) = alphas.get_mut(j) {
                    *alpha = rates.alpha(e);
                }
            }
            decayed.fill(ZERO);
            for &(j, b) in b_row {
                if let (Some(&a), Some(cell)) =
                    (alphas.get(usize::from(j)), decayed.get_mut(usize::from(j)))
                {
                    *cell = mul(ONE.saturating_sub(a), b);
                }
            }
            w_row
                .iter()
                .filter_map(|&(j, w)| {
                    let a = *alphas.get(usize::from(j))?;
                    let d = *decayed.get(usize::from(j))?;
                    let v = d.saturating_add(mul(a, w).max(ZERO)).min(ONE);
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

/// Loads the stored bonds through `load`, without the columns of recently registered uids.
fn load(input: &BondsInput<'_>, load: impl Fn(u16) -> I32F32) -> Sparse {
    let recent = |j: u16| {
        input.last_tempo <= input.block_at_registration.get(usize::from(j)).copied().unwrap_or(0)
    };
    input
        .stored
        .iter()
        .map(|row| {
            let kept = row.iter().filter(|&&(j, _)| !recent(j));
            sparse::row_of(row.len(), kept.map(|&(j, b)| (j, load(b))))
        })
        .collect()
}

/// Yuma3: absolute bonds in [0, 1], dividends weighted by active stake.
pub(crate) fn yuma3(params: &Params, input: &BondsInput<'_>) -> BondsOutcome {
    let n = input.active_stake.len();
    // `from_u16_proportion` for every entry, with the division by 65535 prepared once.
    let per_u16 = Divisor::new(I32F32::saturating_from_num(U16_ONE));
    let old = load(input, |b| per_u16.divide(I32F32::saturating_from_num(b)));
    let liquid = params.liquid_alpha && input.consensus.iter().any(|&c| c != ZERO);
    let bonds = if liquid {
        ema_liquid(params, input.weights_for_bonds, &old, input.consensus)
    } else {
        let alpha = fixed_alpha(params);
        ema_fixed(input.weights_for_bonds, &old, alpha, |_, _, v| v, |_, v| v)
    };
    // Σ_j colnorm(B')_ij · I_j, each share normalized as it is read (products of 0, which
    // the sparse product would drop, add nothing).
    let shares = sparse::column_divisors(&bonds, n);
    let per_validator: Vec<I32F32> = bonds
        .iter()
        .map(|row| {
            row.iter().fold(ZERO, |acc, &(j, b)| {
                let incentive = input.incentive.get(usize::from(j)).copied().unwrap_or(ZERO);
                acc.saturating_add(mul(sparse::normalized(&shares, j, b), incentive))
            })
        })
        .collect();
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
    let stake = |i: usize| input.active_stake.get(i).copied().unwrap_or(ZERO);
    let old = load(input, I32F32::saturating_from_num);
    let old_sums = sparse::column_divisors(&old, n);
    // ΔB = colnorm(W̃ ∘ A), each entry scaled and normalized as the EMA reads it.
    let mut delta_sums = vec![ZERO; n];
    for (i, row) in input.weights_for_bonds.iter().enumerate() {
        for &(j, w) in row {
            if let Some(cell) = delta_sums.get_mut(usize::from(j)) {
                *cell = cell.saturating_add(mul(w, stake(i)));
            }
        }
    }
    let delta_sums: Vec<Divisor> = delta_sums.into_iter().map(Divisor::new).collect();
    let mut bonds = ema_fixed(
        input.weights_for_bonds,
        &old,
        fixed_alpha(params),
        |i, j, w| sparse::normalized(&delta_sums, j, mul(w, stake(i))),
        |j, b| sparse::normalized(&old_sums, j, b),
    );
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
        let rates = LiquidRates::new(&p);
        let a = rates.alpha(crate::fixed_point::exp_clamped(rates.exponent(ONE, ONE, ZERO)));
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
