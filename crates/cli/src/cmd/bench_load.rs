//! `alx bench gateway-load`: does gateway work slow the chain down? `/api/status` latency and
//! block intervals idle, under a flood of huge prompts and under concurrent chats, against this
//! home's running node (the sample of `alx up`: its model and API key), by
//! [`alx_bench::load`]. Ratios are loaded / idle.

use crate::Globals;
use alx_bench::{Endpoint, load::Config};
use anyhow::Context as _;
use std::time::Duration;

/// `alx bench gateway-load`.
#[derive(clap::Args)]
pub(crate) struct LoadArgs {
    /// Seconds each phase lasts.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Clients sending requests at once in the loaded phases.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Size of each huge prompt, in KiB.
    #[arg(long, default_value_t = 1_900)]
    prompt_kib: usize,
}

pub(crate) fn run(g: &Globals, a: &LoadArgs) -> anyhow::Result<()> {
    let sample = super::sample::load(&g.home).context(
        "no sample in this home (run `alx up` first: the load uses its model and API key)",
    )?;
    let config = Config {
        gateway: Endpoint {
            base: g.node.clone(),
            model: sample.model,
            api_key: Some(sample.api_key),
        },
        phase: Duration::from_secs(a.seconds),
        clients: a.clients,
        prompt_kib: a.prompt_kib,
    };
    let report = alx_bench::load::run(&config, |p| eprintln!("{p}"))?;
    crate::output::emit(g.json, &report, || {
        serde_json::to_string_pretty(&report).unwrap_or_default()
    })
}
