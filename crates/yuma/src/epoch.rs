//! One epoch: stake, permits, weights → consensus, incentive, bonds, dividends, emission.
//!
//! This is subtensor's sparse production path (`epoch_mechanism`) for one mechanism, with
//! commit-reveal off. The steps, in the order they round:
//!
//! ```text
//! 1  active_i  = last_update_i + cutoff ≥ block
//! 2  S         = norm64(stake, below-threshold zeroed except owner) → I32F32
//! 3  permits   = previous permits (owner forced); new = top-k nonzero of S (owner forced)
//! 4  A         = norm(S masked by inactive and not-permitted)
//! 5  W         = stored u16 as integers; drop rows without permit, the diagonal (except the
//!                owner's), entries with last_update_i ≤ registered_j; row-normalize
//! 6  C         = κ-stake-weighted median of each column of W over A > 0
//! 7  W̄         = min(W, C) (entries above C ≤ 0 dropped);  VT = rowsum(W̄)
//! 8  I         = norm(Σ_i A_i·W̄_ij)
//! 9  W̃         = W + β(W̄ − W)
//! 10 bonds     = legacy or Yuma3 (see `bonds`), giving D and the bonds to store
//! 11 emission  = floor(I96F32(x / Σ(I+D)) · emission) for x = I, D; combined = norm(I+D);
//!                if Σ(I+D) = 0 validators are paid by A (or by S when A is all 0)
//! 12 persist   permits := new; bonds row := new row if newly permitted, else empty
//! ```

use crate::{
    Params, SubnetState,
    bonds::{self, BondsInput},
    fixed_point::{
        ZERO, div64, from_u16_proportion, normalize, normalize_by, sum, to_u16_proportion,
    },
    median,
    sparse::{self, Sparse},
    state::Row,
};
use substrate_fixed::types::{I32F32, I64F64, I96F32};

/// What an epoch computed, per uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochOutput {
    /// The block the epoch ran at.
    pub block: u64,
    /// Whether each uid's weights were recent enough to count.
    pub active: Vec<bool>,
    /// Normalized stake `S`.
    pub stake_weight: Vec<I32F32>,
    /// Consensus weight of each uid as a miner.
    pub consensus: Vec<I32F32>,
    /// Incentive (normalized rank) of each uid as a miner.
    pub incentive: Vec<I32F32>,
    /// Dividends of each uid as a validator.
    pub dividends: Vec<I32F32>,
    /// Sum of each validator's clipped weights.
    pub validator_trust: Vec<I32F32>,
    /// Permits computed now, used by the next epoch.
    pub validator_permit: Vec<bool>,
    /// The bonds stored after the epoch, one row per uid.
    pub bonds: Vec<Row>,
    /// Base units per uid, from the normalized sum of incentive and dividends.
    pub emission: Vec<u64>,
    /// Base units per uid for serving (incentive share).
    pub server_emission: Vec<u64>,
    /// Base units per uid for validating (dividend share).
    pub validator_emission: Vec<u64>,
}

impl EpochOutput {
    /// A fixed-point vector as the chain stores it, `floor(x · 65535)` per entry.
    pub fn to_u16(values: &[I32F32]) -> Vec<u16> {
        values.iter().map(|&v| to_u16_proportion(v)).collect()
    }
}

/// Normalized stake: threshold applied (owner exempt), normalized in `I64F64`, truncated.
fn stake_weights(params: &Params, state: &SubnetState) -> Vec<I32F32> {
    let owner = state.s.owner_uid.map(usize::from);
    let mut stake: Vec<I64F64> = state
        .s
        .stake
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if owner != Some(i) && s < params.stake_threshold {
                I64F64::from_bits(0)
            } else {
                I64F64::saturating_from_num(s)
            }
        })
        .collect();
    let total = stake.iter().fold(I64F64::from_bits(0), |a, s| a.saturating_add(*s));
    if total != I64F64::from_bits(0) {
        for s in &mut stake {
            *s = div64(*s, total);
        }
    }
    stake.into_iter().map(I32F32::saturating_from_num).collect()
}

/// The `k` largest non-zero entries (ties: the higher uid wins, as a stable ascending sort
/// drops the lower ones first); everything non-zero when there are fewer than `k` uids.
fn top_k_nonzero(values: &[I32F32], k: usize) -> Vec<bool> {
    let mut keep: Vec<bool> = values.iter().map(|&v| v != ZERO).collect();
    if values.len() < k {
        return keep;
    }
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by_key(|&i| values[i]);
    for &i in order.iter().take(values.len() - k) {
        keep[i] = false;
    }
    keep
}

/// Step 5: the weights that count, row-normalized.
fn masked_weights(state: &SubnetState, permit: &[bool]) -> Sparse {
    let s = &state.s;
    let owner = s.owner_uid.map(usize::from);
    let registered = |j: usize| s.block_at_registration.get(j).copied().unwrap_or(0);
    let mut weights: Sparse = s
        .weights
        .iter()
        .zip(permit)
        .enumerate()
        .map(|(i, (row, &p))| {
            if !p {
                return vec![];
            }
            let updated = s.last_update.get(i).copied().unwrap_or(0);
            // Dropped: self-weights (except the owner's), and weights on a uid registered
            // since they were set.
            let kept = row.iter().filter(|&&(j, _)| {
                let j = usize::from(j);
                !(i == j && owner != Some(i)) && updated > registered(j)
            });
            sparse::row_of(row.len(), kept.map(|&(j, w)| (j, I32F32::saturating_from_num(w))))
        })
        .collect();
    sparse::normalize_rows(&mut weights);
    weights
}

/// Runs one epoch over `state`, paying out `emission` base units, and stores its results
/// (permits, bonds, last epoch block) in `state` as the chain would.
pub fn epoch(params: &Params, state: &mut SubnetState, emission: u64) -> EpochOutput {
    let n = state.n();
    let block = state.s.current_block;
    let owner = state.s.owner_uid.map(usize::from);

    let active: Vec<bool> = state
        .s
        .last_update
        .iter()
        .map(|&u| u.saturating_add(params.activity_cutoff_blocks) >= block)
        .collect();
    let stake = stake_weights(params, state);

    let mut permit = state.s.validator_permit.clone();
    let mut new_permit = top_k_nonzero(&stake, usize::from(params.max_allowed_validators));
    if let Some(o) = owner {
        permit[o] = true;
        new_permit[o] = true;
    }

    let mut active_stake: Vec<I32F32> = stake
        .iter()
        .zip(active.iter().zip(&permit))
        .map(|(&s, (&a, &p))| if a && p { s } else { ZERO })
        .collect();
    normalize(&mut active_stake);

    let weights = masked_weights(state, &permit);
    let kappa = from_u16_proportion(params.kappa);
    let consensus = median::column_medians(&active_stake, &weights, n, kappa);
    let clipped = sparse::clip_columns(&weights, &consensus);
    let validator_trust = sparse::row_sums(&clipped);
    let mut incentive = sparse::weighted_column_sums(&clipped, &active_stake, n);
    normalize(&mut incentive);

    let beta = from_u16_proportion(params.bonds_penalty);
    let weights_for_bonds = sparse::interpolate(&weights, &clipped, n, beta);
    let last_tempo = if state.s.last_epoch_block == 0 {
        block.saturating_sub(u64::from(params.tempo))
    } else {
        state.s.last_epoch_block.saturating_add(1)
    };
    let input = BondsInput {
        stored: &state.s.bonds,
        weights_for_bonds: &weights_for_bonds,
        active_stake: &active_stake,
        incentive: &incentive,
        consensus: &consensus,
        last_tempo,
        block_at_registration: &state.s.block_at_registration,
    };
    let outcome =
        if params.yuma3 { bonds::yuma3(params, &input) } else { bonds::legacy(params, &input) };
    let dividends = outcome.dividends;

    let pay = payout(&incentive, &dividends, &active_stake, &stake, emission);

    let stored_bonds: Vec<Row> =
        outcome
            .bonds
            .iter()
            .zip(&new_permit)
            .map(|(row, &p)| {
                if p {
                    row.iter().map(|&(j, v)| (j, to_u16_proportion(v))).collect()
                } else {
                    vec![]
                }
            })
            .collect();
    state.s.bonds.clone_from(&stored_bonds);
    state.s.validator_permit.clone_from(&new_permit);
    state.s.last_epoch_block = block;

    EpochOutput {
        block,
        active,
        stake_weight: stake,
        consensus,
        incentive,
        dividends,
        validator_trust,
        validator_permit: new_permit,
        bonds: stored_bonds,
        emission: pay.combined,
        server_emission: pay.server,
        validator_emission: pay.validator,
    }
}

/// Base units per uid.
struct Payout {
    combined: Vec<u64>,
    server: Vec<u64>,
    validator: Vec<u64>,
}

/// Step 11: shares of `emission`, each floored in `I96F32`.
fn payout(
    incentive: &[I32F32],
    dividends: &[I32F32],
    active_stake: &[I32F32],
    stake: &[I32F32],
    emission: u64,
) -> Payout {
    let mut combined: Vec<I32F32> =
        incentive.iter().zip(dividends).map(|(i, d)| i.saturating_add(*d)).collect();
    let total = sum(&combined);
    let mut server = incentive.to_vec();
    let mut validator = dividends.to_vec();
    normalize_by(&mut server, total);
    normalize_by(&mut validator, total);
    normalize(&mut combined);
    if total == ZERO {
        // No weights, all outdated, or only self-weights: validators are paid by stake.
        let by = if sum(active_stake) == ZERO { stake } else { active_stake };
        validator = by.to_vec();
        combined = by.to_vec();
    }
    let amount = I96F32::saturating_from_num(emission);
    let base_units = |v: &[I32F32]| -> Vec<u64> {
        v.iter()
            .map(|&x| {
                I96F32::saturating_from_num(x).saturating_mul(amount).saturating_to_num::<u64>()
            })
            .collect()
    };
    Payout {
        combined: base_units(&combined),
        server: base_units(&server),
        validator: base_units(&validator),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_drops_the_smallest_and_the_lower_uid_on_ties() {
        let v: Vec<I32F32> = [3, 1, 1, 0, 2].iter().map(|&x| I32F32::from_num(x)).collect();
        assert_eq!(top_k_nonzero(&v, 3), vec![true, false, true, false, true]);
        assert_eq!(top_k_nonzero(&v, 9), vec![true, true, true, false, true]);
        assert_eq!(top_k_nonzero(&v, 0), vec![false; 5]);
    }
}
