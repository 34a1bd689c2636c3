//! `alx bench receipts`: the receipt root of a settled batch against a plain Merkle tree, a
//! published batch checked against signatures alone, one leaf's proof ([`alx_bench::receipts`]).

use crate::{Globals, output::emit};
use alx_bench::receipts::{Config, Report};
use clap::Args;

/// `alx bench receipts`.
#[derive(Args)]
pub(crate) struct ReceiptsArgs {
    /// Receipts in the batch.
    #[arg(long, default_value_t = 10_000)]
    receipts: usize,
    /// Contributions each receipt credits.
    #[arg(long, default_value_t = 3)]
    credits: usize,
    /// Timed runs per figure (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

pub(crate) fn run(g: &Globals, a: &ReceiptsArgs) -> anyhow::Result<()> {
    let config =
        Config { receipts: a.receipts.max(1), credits_per_receipt: a.credits, runs: a.runs };
    let report = alx_bench::receipts::run(&config)?;
    emit(g.json, &report, || text(&report))
}

fn text(r: &Report) -> String {
    format!(
        "{} receipts, {} credits each (median of {})\n  receipt root    {:>9.2} ms   plain Merkle tree {:>7.2} ms   ({:.1}×)\n  batch check     {:>9.0} receipts/s   signatures alone {:>9.0}/s\n  one leaf proof  {:>9.1} µs",
        r.receipts,
        r.credits_per_receipt,
        r.runs,
        r.root_ms,
        r.plain_root_ms,
        r.root_vs_plain,
        r.check_receipts_per_s,
        r.signatures_per_s,
        r.proof_us
    )
}
