//! `alx bench yuma`: one Yuma Consensus epoch at subtensor's limits (256 uids, 64 validators
//! with full weight rows), in both bond modes and with liquid alpha, and the 128 subnets of
//! one block. Each is timed twice: the first epoch (no bonds yet) and a steady one (the bonds
//! the previous epoch stored, as on a running chain). Deterministic inputs (a fixed
//! generator), timings from the wall clock (a benchmark, not consensus).

use crate::{Globals, output::emit};
use alx_yuma::{Params, StateInit, SubnetState, epoch};
use clap::Args;
use std::time::Instant;

/// `alx bench yuma`.
#[derive(Args)]
pub(crate) struct YumaArgs {
    /// Timed epochs per mode (the median is reported).
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Subnets run back to back for the per-block figure.
    #[arg(long, default_value_t = 128)]
    subnets: usize,
}

const UIDS: usize = 256;
const VALIDATORS: usize = 64;

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
    let weights = (0..UIDS)
        .map(|i| {
            if i < VALIDATORS {
                (0..UIDS as u16).map(|j| (j, (next() % 65_535) as u16 + 1)).collect()
            } else {
                Vec::new()
            }
        })
        .collect();
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

fn median_micros(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Median time of one epoch on the `bases` in turn, in microseconds, and the time of all of
/// them back to back (one block's worth), in milliseconds.
fn time_mode(params: &Params, bases: &[SubnetState], runs: usize) -> (f64, f64) {
    let mut samples = Vec::with_capacity(runs);
    for r in 0..runs {
        let mut state = bases[r % bases.len()].clone();
        let start = Instant::now();
        let out = epoch(params, &mut state, 1_000_000_000);
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(out);
    }
    let mut block = bases.to_vec();
    let start = Instant::now();
    for s in &mut block {
        std::hint::black_box(epoch(params, s, 1_000_000_000));
    }
    (median_micros(samples), start.elapsed().as_secs_f64() * 1e3)
}

pub(crate) fn run(g: &Globals, a: &YumaArgs) -> anyhow::Result<()> {
    let runs = a.runs.max(1);
    let subnets = a.subnets.max(1);
    let mut modes = Vec::new();
    for (name, yuma3, liquid_alpha) in
        [("legacy", false, false), ("yuma3", true, false), ("yuma3+liquid", true, true)]
    {
        let params = Params { yuma3, liquid_alpha, ..Params::subtensor_defaults() };
        let first: Vec<SubnetState> = (0..subnets as u64).map(subnet).collect();
        // The same subnets one tempo later, carrying the bonds their first epoch stored.
        let mut steady = first.clone();
        for s in &mut steady {
            epoch(&params, s, 1_000_000_000);
            s.advance_blocks(u64::from(params.tempo))?;
        }
        for (state, bases) in [("first", &first), ("steady", &steady)] {
            let (epoch_us, block_ms) = time_mode(&params, bases, runs);
            modes.push(serde_json::json!({
                "mode": name,
                "state": state,
                "uids": UIDS,
                "validators": VALIDATORS,
                "epoch_us_median": epoch_us,
                "subnets": subnets,
                "all_subnets_ms": block_ms,
                "per_subnet_ms": block_ms / subnets as f64,
                "goal_per_subnet_ms": 1.0,
            }));
        }
    }
    let value = serde_json::json!({"bench": "yuma", "runs": runs, "modes": modes});
    emit(g.json, &value, || {
        let mut lines = vec![format!(
            "one epoch at {UIDS} uids / {VALIDATORS} validators (median of {runs}); {subnets} subnets in one block (goal < 1 ms per subnet)"
        )];
        lines.extend(modes.iter().map(|m| {
            format!(
                "{:<13} {:<7} epoch {:>6.0} µs   block {:>7.1} ms = {:.3} ms per subnet",
                m["mode"].as_str().unwrap_or(""),
                m["state"].as_str().unwrap_or(""),
                m["epoch_us_median"].as_f64().unwrap_or(0.0),
                m["all_subnets_ms"].as_f64().unwrap_or(0.0),
                m["per_subnet_ms"].as_f64().unwrap_or(0.0)
            )
        }));
        lines.join("\n")
    })
}
