//! `alx bench yuma`: one Yuma Consensus epoch at subtensor's limits in both bond modes and with
//! liquid alpha, first and steady, and the subnets of one block ([`alx_bench::yuma`]).

use crate::{Globals, output::emit};
use alx_bench::yuma::{Config, Report, UIDS, VALIDATORS};
use clap::Args;
use std::num::NonZeroUsize;

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

pub(crate) fn run(g: &Globals, a: &YumaArgs) -> anyhow::Result<()> {
    let config = Config {
        runs: NonZeroUsize::new(a.runs).unwrap_or(NonZeroUsize::MIN),
        subnets: NonZeroUsize::new(a.subnets).unwrap_or(NonZeroUsize::MIN),
    };
    let report = alx_bench::yuma::run(&config)?;
    emit(g.json, &report, || text(&report, config.subnets.get()))
}

fn text(r: &Report, subnets: usize) -> String {
    let mut lines = vec![format!(
        "one epoch at {UIDS} uids / {VALIDATORS} validators (median of {}); {subnets} subnets in one block (goal < 1 ms per subnet)",
        r.runs
    )];
    lines.extend(r.modes.iter().map(|m| {
        format!(
            "{:<13} {:<7} epoch {:>6.0} µs   block {:>7.1} ms = {:.3} ms per subnet",
            m.mode, m.state, m.epoch_us_median, m.all_subnets_ms, m.per_subnet_ms
        )
    }));
    lines.join("\n")
}
