//! `alx bench …`: measurements of this machine (see docs/BENCHMARKS.md).

use crate::Globals;
use clap::Subcommand;

/// `alx bench …`.
#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Ledger throughput, the ed25519 batch-verification limit, finality latency, cold start.
    Ledger(crate::cmd::bench_ledger::LedgerArgs),
    /// Yuma Consensus: first and steady epochs at subtensor's limits, and a block of 128 subnets.
    Yuma(crate::cmd::bench_yuma::YumaArgs),
    /// Staking rewards: a block's distribution with one delegator and with 100,000 (it must
    /// not grow with them), and one delegator's claim among them.
    Staking(crate::cmd::bench_staking::StakingArgs),
    /// Settled receipts: the receipt root of 10,000 receipts against a plain Merkle tree, a
    /// published batch checked, one leaf's proof.
    Receipts(crate::cmd::bench_receipts::ReceiptsArgs),
    /// Greedy answers replayed per minute (a juror's or auditor's check) against generating
    /// them, SmolLM2 at the gateway's prompt length.
    Replay(crate::cmd::bench_replay::ReplayArgs),
    /// SmolLM2 tokens/s (prefill, decode, perplexity) against llama.cpp on the same file in the
    /// same run, and the gateway's overhead per request.
    Inference(crate::cmd::bench_inference::InferenceArgs),
    /// Whether gateway work slows the chain: /api/status latency and block intervals idle,
    /// under a flood of huge prompts, and under concurrent chats, against a running `alx up`.
    GatewayLoad(crate::cmd::bench_load::LoadArgs),
    /// Serving under concurrency: output tokens/s and time to first token at 1, 4 and 16
    /// clients against a running `alx up`, next to an OpenAI-compatible peer (`--peer`).
    Gateway(crate::cmd::bench_serve::ServeArgs),
    /// LoRA fine-tuning: training tokens/s on SmolLM2 against its inference forward in the
    /// same run, and peak memory.
    Finetune(crate::cmd::bench_finetune::FinetuneBenchArgs),
    /// Adapters over one base: decode tokens/s with 1, 10 and 100 resident against one merged
    /// model in the same run, adapter load and merge times.
    Adapters(crate::cmd::bench_finetune::AdaptersBenchArgs),
    /// Attribution quality: the linear datamodeling score (LDS) of influence estimators and of
    /// span attribution, adapters retrained on random half-subsets of a generated datanet.
    Influence(crate::cmd::bench_finetune::InfluenceBenchArgs),
}

pub(crate) fn run(g: &Globals, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ledger(args) => crate::cmd::bench_ledger::run(g, &args),
        BenchCommand::Yuma(args) => crate::cmd::bench_yuma::run(g, &args),
        BenchCommand::Staking(args) => crate::cmd::bench_staking::run(g, &args),
        BenchCommand::Receipts(args) => crate::cmd::bench_receipts::run(g, &args),
        BenchCommand::Replay(args) => crate::cmd::bench_replay::run(g, &args),
        BenchCommand::Inference(args) => crate::cmd::bench_inference::run(g, &args),
        BenchCommand::GatewayLoad(args) => crate::cmd::bench_load::run(g, &args),
        BenchCommand::Gateway(args) => crate::cmd::bench_serve::run(g, &args),
        BenchCommand::Finetune(args) => crate::cmd::bench_finetune::finetune(g, &args),
        BenchCommand::Adapters(args) => crate::cmd::bench_finetune::adapters(g, &args),
        BenchCommand::Influence(args) => crate::cmd::bench_finetune::influence(g, &args),
    }
}
