//! `alx bench staking`: a block's staking-reward distribution with one delegator and with many,
//! and one delegator's claim among them ([`alx_bench::staking`]).

use crate::{Globals, output::emit};
use alx_bench::staking::{Config, Report};
use clap::Args;
use std::num::NonZeroUsize;

/// `alx bench staking`.
#[derive(Args)]
pub(crate) struct StakingArgs {
    /// Delegators bonded for the second figure (spread over 4 validators).
    #[arg(long, default_value_t = 100_000)]
    delegators: usize,
    /// Blocks timed per figure (the median is reported).
    #[arg(long, default_value_t = 200)]
    blocks: usize,
}

pub(crate) fn run(g: &Globals, a: &StakingArgs) -> anyhow::Result<()> {
    let config = Config {
        delegators: NonZeroUsize::new(a.delegators).unwrap_or(NonZeroUsize::MIN),
        blocks: NonZeroUsize::new(a.blocks).unwrap_or(NonZeroUsize::MIN),
    };
    // Progress on stderr, so `--json` keeps stdout to the report.
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = alx_bench::staking::run(&config, |step| bar.set_message(step.to_owned()))?;
    bar.finish_and_clear();
    emit(g.json, &report, || text(&report))
}

fn text(r: &Report) -> String {
    let mut lines = vec![format!(
        "a block's staking distribution over {} validators (median of the timed blocks)",
        r.validators
    )];
    lines.extend(r.figures.iter().map(|f| {
        format!(
            "{:>7} delegators: empty block {:>7.1} µs ({} entries written), block with one claim {:>7.1} µs",
            f.delegators, f.block_us_median, f.entries_written, f.claim_block_us_median
        )
    }));
    lines.push(format!(
        "many / one: block {:.2}×, claim {:.2}× (goal: ~1×, the cost does not grow with delegators)",
        r.block_ratio, r.claim_ratio
    ));
    lines.join("\n")
}
