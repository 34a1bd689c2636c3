//! `alx bench …`: measurements of this machine (see docs/BENCHMARKS.md).

use crate::Globals;
use clap::Subcommand;

/// `alx bench …`.
#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Ledger throughput, the ed25519 batch-verification limit, finality latency, cold start.
    Ledger(crate::cmd::bench_ledger::LedgerArgs),
}

pub(crate) fn run(g: &Globals, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ledger(args) => crate::cmd::bench_ledger::run(g, &args),
    }
}
