//! Yuma Consensus: one epoch at subtensor's limits (256 uids, 64 validators with full weight
//! rows), in both bond modes and with liquid alpha, and the subnets of one block. Each is timed
//! twice: the first epoch (no bonds yet) and a steady one (the bonds the previous epoch stored,
//! as on a running chain). Deterministic inputs (a fixed generator), timings from the wall
//! clock (a benchmark, not consensus).

use crate::{BenchError, stats::median};
use alx_yuma::{Params, StateInit, SubnetState, epoch};
use serde::Serialize;
use std::{num::NonZeroUsize, time::Instant};

/// Uids of every benchmark subnet (subtensor's limit).
pub const UIDS: usize = 256;
/// Validators of every benchmark subnet (subtensor's limit), each weighting every uid.
pub const VALIDATORS: usize = 64;
/// The per-subnet time the chain aims for, in milliseconds.
const GOAL_PER_SUBNET_MS: f64 = 1.0;
/// Emission handed to every epoch (any fixed amount: the work does not depend on it).
const EMISSION: u64 = 1_000_000_000;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// Timed epochs per mode and state; the median is reported.
    pub runs: NonZeroUsize,
    /// Subnets run back to back for the per-block figure.
    pub subnets: NonZeroUsize,
}

/// The figures of one bond mode in one state. Fields are in the order of the JSON the CLI has
/// always printed (alphabetical).
#[derive(Debug, Clone, Serialize)]
pub struct Mode {
    /// All `subnets` back to back (one block's worth), in milliseconds.
    pub all_subnets_ms: f64,
    /// Median time of one epoch, in microseconds.
    pub epoch_us_median: f64,
    /// The per-subnet goal, in milliseconds.
    pub goal_per_subnet_ms: f64,
    /// `legacy`, `yuma3` or `yuma3+liquid`.
    pub mode: &'static str,
    /// `all_subnets_ms / subnets`.
    pub per_subnet_ms: f64,
    /// `first` (no bonds yet), `steady` (the bonds of the previous epoch) or `churn` (bonds
    /// converged, then every weight redrawn).
    pub state: &'static str,
    /// Subnets in the block figure.
    pub subnets: usize,
    /// Uids per subnet.
    pub uids: usize,
    /// Validators per subnet.
    pub validators: usize,
}

/// The report of `alx bench yuma`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `yuma`.
    pub bench: &'static str,
    /// Every mode in every state: legacy, yuma3, yuma3+liquid; first, steady, then churn.
    pub modes: Vec<Mode>,
    /// Timed epochs per mode.
    pub runs: usize,
}

/// The bond modes measured: name, Yuma3 bonds, liquid alpha.
const MODES: [(&str, bool, bool); 3] =
    [("legacy", false, false), ("yuma3", true, false), ("yuma3+liquid", true, true)];

/// Runs every mode in both states.
///
/// # Errors
/// [`BenchError::Yuma`] if a benchmark subnet refuses to advance a tempo (a bug here).
pub fn run(config: &Config) -> Result<Report, BenchError> {
    let (runs, subnets) = (config.runs.get(), config.subnets.get());
    let mut modes = Vec::with_capacity(MODES.len() * 3);
    for (name, yuma3, liquid_alpha) in MODES {
        let params = Params { yuma3, liquid_alpha, ..Params::subtensor_defaults() };
        let first: Vec<SubnetState> = (0..subnets as u64).map(subnet).collect();
        // The same subnets one tempo later, carrying the bonds their first epoch stored.
        let mut steady = first.clone();
        for s in &mut steady {
            epoch(&params, s, EMISSION);
            s.advance_blocks(u64::from(params.tempo))?;
        }
        // Churn: bonds converged over 30 more tempos, then every validator redraws its
        // weights. Liquid alpha's rates then come from differences inside (0, 1) (a bond above
        // its new weight), each needing its own exponential: the mode's hard case; a steady
        // network mostly clamps them (a weight at or below consensus).
        let mut churn = steady.clone();
        for (seed, s) in (0u64..).zip(&mut churn) {
            for _ in 0..30 {
                epoch(&params, s, EMISSION);
                s.advance_blocks(u64::from(params.tempo))?;
            }
            s.set_weights(weight_rows(seed.wrapping_add(0x5EED)))?;
        }
        for (state, bases) in [("first", &first), ("steady", &steady), ("churn", &churn)] {
            let (epoch_us, block_ms) = time_mode(&params, bases, runs);
            modes.push(Mode {
                all_subnets_ms: block_ms,
                epoch_us_median: epoch_us,
                goal_per_subnet_ms: GOAL_PER_SUBNET_MS,
                mode: name,
                per_subnet_ms: block_ms / subnets as f64,
                state,
                subnets,
                uids: UIDS,
                validators: VALIDATORS,
            });
        }
    }
    Ok(Report { bench: "yuma", modes, runs })
}

/// A full subnet: validators 0..64 hold stake and weight every uid; bonds start empty.
fn subnet(seed: u64) -> SubnetState {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let stake: Vec<u64> = (0..UIDS)
        .map(|i| if i < VALIDATORS { 1_000_000_000 + next() % 1_000_000_000_000 } else { 0 })
        .collect();
    let mut weights: Vec<Vec<(u16, u16)>> = vec![Vec::new(); UIDS];
    for (i, row) in weight_rows(seed) {
        weights[usize::from(i)] = row;
    }
    let init = StateInit {
        current_block: 1_000,
        last_epoch_block: 640,
        owner_uid: None,
        stake,
        validator_permit: (0..UIDS).map(|i| i < VALIDATORS).collect(),
        block_at_registration: vec![0; UIDS],
        last_update: vec![990; UIDS],
        weights,
        bonds: vec![Vec::new(); UIDS],
    };
    // The inputs are built valid; a failure here is a bug in this benchmark.
    SubnetState::new(init).expect("a valid benchmark subnet")
}

/// Every validator's row of random weights on every uid.
fn weight_rows(seed: u64) -> Vec<(u16, Vec<(u16, u16)>)> {
    let mut x = seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..VALIDATORS as u16)
        .map(|i| (i, (0..UIDS as u16).map(|j| (j, (next() % 65_535) as u16 + 1)).collect()))
        .collect()
}

/// Median time of one epoch on the `bases` in turn, in microseconds, and the time of all of
/// them back to back (one block's worth), in milliseconds.
fn time_mode(params: &Params, bases: &[SubnetState], runs: usize) -> (f64, f64) {
    let mut samples = Vec::with_capacity(runs);
    for r in 0..runs {
        let mut state = bases[r % bases.len()].clone();
        let start = Instant::now();
        let out = epoch(params, &mut state, EMISSION);
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(out);
    }
    let mut block = bases.to_vec();
    let start = Instant::now();
    for s in &mut block {
        std::hint::black_box(epoch(params, s, EMISSION));
    }
    (median(samples), start.elapsed().as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::{Config, UIDS, VALIDATORS, run};
    use std::num::NonZeroUsize;

    #[test]
    fn every_mode_in_every_state_with_positive_timings() {
        let config = Config { runs: NonZeroUsize::MIN, subnets: NonZeroUsize::new(2).unwrap() };
        let report = run(&config).expect("yuma bench");
        assert_eq!(report.bench, "yuma");
        assert_eq!(report.runs, 1);
        let seen: Vec<(&str, &str)> = report.modes.iter().map(|m| (m.mode, m.state)).collect();
        assert_eq!(
            seen,
            [
                ("legacy", "first"),
                ("legacy", "steady"),
                ("legacy", "churn"),
                ("yuma3", "first"),
                ("yuma3", "steady"),
                ("yuma3", "churn"),
                ("yuma3+liquid", "first"),
                ("yuma3+liquid", "steady"),
                ("yuma3+liquid", "churn"),
            ]
        );
        for m in &report.modes {
            assert_eq!((m.subnets, m.uids, m.validators), (2, UIDS, VALIDATORS));
            assert!(m.epoch_us_median > 0.0 && m.all_subnets_ms > 0.0, "{m:?}");
            assert!((m.per_subnet_ms * 2.0 - m.all_subnets_ms).abs() < 1e-9, "{m:?}");
        }
        // The shape docs/BENCHMARKS.md and scripts read.
        let json = serde_json::to_value(&report).expect("serialize");
        assert_eq!(json["modes"][8]["mode"], "yuma3+liquid");
        assert_eq!(json["modes"][0]["goal_per_subnet_ms"], 1.0);
    }
}
