//! `alx bench ledger`: the figures of docs/BENCHMARKS.md, measured in one run by
//! [`alx_bench::ledger`] (ed25519 batch-verification limit, transfers per second end to end,
//! finality latency with 1 and 4 validators, cold start).

use crate::Globals;
use alx_bench::ledger::{Config, Report};
use anyhow::Context as _;
use clap::Args;
use std::{num::NonZeroUsize, time::Duration};

/// How long each batch-verification rate is measured.
const VERIFY_DURATION: Duration = Duration::from_secs(2);

/// `alx bench ledger` options.
#[derive(Args)]
pub(crate) struct LedgerArgs {
    /// Transfers in the throughput run.
    #[arg(long, default_value_t = 40_000)]
    txs: usize,
    /// Distinct senders in the throughput run.
    #[arg(long, default_value_t = 80)]
    senders: usize,
    /// Latency samples per configuration.
    #[arg(long, default_value_t = 40)]
    samples: usize,
    /// Transactions per request in the throughput run (the node takes up to 10,000).
    #[arg(long, default_value_t = 8192)]
    batch: usize,
    /// Concurrent HTTP clients in the throughput run (each waits for its last request's
    /// answer before sending the next; with fewer than 4 the node idles between requests).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Skip the 4-validator runs (throughput, finality latency and cold start).
    #[arg(long)]
    single_only: bool,
    /// The mixed run: one settlement of 64 receipts after every this many transfers (0 skips
    /// it).
    #[arg(long, default_value_t = 9)]
    settlements_every: usize,
}

pub(crate) fn run(g: &Globals, args: &LedgerArgs) -> anyhow::Result<()> {
    let at_least_one = |n: usize, flag: &str| {
        NonZeroUsize::new(n).with_context(|| format!("--{flag} must be at least 1"))
    };
    let config = Config {
        txs: at_least_one(args.txs, "txs")?,
        senders: at_least_one(args.senders, "senders")?,
        samples: at_least_one(args.samples, "samples")?,
        batch: NonZeroUsize::new(args.batch).unwrap_or(NonZeroUsize::MIN),
        clients: NonZeroUsize::new(args.clients).unwrap_or(NonZeroUsize::MIN),
        verify_duration: VERIFY_DURATION,
        // The 4-validator network is this binary's `alx up`.
        alx_binary: if args.single_only { None } else { Some(std::env::current_exe()?) },
        settlements_every: args.settlements_every,
    };
    let report = alx_bench::ledger::run(&config, |p| eprintln!("{p}"))?;
    crate::output::emit(g.json, &report, || text(&report))
}

fn text(r: &Report) -> String {
    let four = r.finality_ms_p50_4v.zip(r.finality_ms_p99_4v);
    format!(
        "ed25519 batch verify   {:>10.0} /s ({} cores; {:.0} /s on one)\n\
         transfers end to end   {:>10.0} /s ({:.0}% of the verify limit, {} txs)\n\
         with settlements       {}\n\
         4 validators           {}\n\
         finality 1 validator   p50 {:.1} ms  p99 {:.1} ms\n\
         finality 4 validators  {}\n\
         cold start to block 1  {:.0} ms (1 validator){}",
        r.ed25519_batch_verify_per_s,
        r.machine_cores,
        r.ed25519_batch_verify_per_s_one_core,
        r.tx_per_s,
        100.0 * r.tx_per_s_vs_verify_limit,
        r.txs,
        match (r.mixed_tx_per_s, r.mixed_vs_transfers, r.mixed_receipts_per_s) {
            (Some(t), Some(v), Some(rc)) => format!(
                "{t:>10.0} /s ({:.2}× transfers alone; {} settlements, {rc:.0} receipts settled/s)",
                v, r.mixed_settlements
            ),
            _ => "skipped".into(),
        },
        r.tx_per_s_4v.zip(r.tx_per_s_4v_vs_verify_limit).map_or("skipped".into(), |(t, v)| {
            format!("{t:>10.0} /s ({:.0}% of the verify limit)", 100.0 * v)
        }),
        r.finality_ms_p50_1v,
        r.finality_ms_p99_1v,
        four.map_or("skipped".into(), |(p50, p99)| format!("p50 {p50:.1} ms  p99 {p99:.1} ms")),
        r.cold_start_ms_1v,
        r.cold_start_ms_4v.map_or(String::new(), |c| format!(", {c:.0} ms (4 validators)")),
    )
}
