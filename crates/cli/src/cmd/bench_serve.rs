//! `alx bench gateway`: serving under concurrency ([`alx_bench::serving`]): output tokens per
//! second and time to first token at each client count against this home's running node
//! (the sample of `alx up`: its model and API key) and, when given, an OpenAI-compatible peer.

use crate::Globals;
use alx_bench::{Endpoint, serving::Config};
use anyhow::Context as _;
use std::num::NonZeroUsize;

/// `alx bench gateway`.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Concurrent clients of each run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    clients: Vec<usize>,
    /// Requests each client sends, one after another.
    #[arg(long, default_value_t = 3)]
    requests: usize,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 64)]
    max_tokens: u32,
    /// The question every request asks.
    #[arg(long, default_value = "How do I withdraw coins in Move?")]
    prompt: String,
    /// Base URL of an OpenAI-compatible peer to measure the same way (e.g. llama.cpp's
    /// `llama-server -m SmolLM2-135M-Instruct.Q4_1.gguf --parallel 16 --port 8080`).
    #[arg(long)]
    peer: Option<String>,
    /// The model name the peer expects.
    #[arg(long, default_value = "smollm2")]
    peer_model: String,
}

pub(crate) fn run(g: &Globals, args: &ServeArgs) -> anyhow::Result<()> {
    let clients_max = alx_bench::serving::CLIENTS_MAX;
    anyhow::ensure!(
        !args.clients.is_empty() && args.clients.iter().all(|&c| (1..=clients_max).contains(&c)),
        "--clients takes counts between 1 and {clients_max}"
    );
    let requests = NonZeroUsize::new(args.requests).context("--requests must be at least 1")?;
    let sample = super::sample::load(&g.home).context(
        "no sample in this home (run `alx up` first: the benchmark uses its model and API key)",
    )?;
    let config = Config {
        gateway: Endpoint {
            base: g.node.clone(),
            model: sample.model,
            api_key: Some(sample.api_key),
        },
        peer: args.peer.as_ref().map(|base| Endpoint {
            base: base.clone(),
            model: args.peer_model.clone(),
            api_key: None,
        }),
        clients: args.clients.clone(),
        requests,
        max_tokens: args.max_tokens,
        prompt: args.prompt.clone(),
    };
    let report = alx_bench::serving::run(&config, |p| eprintln!("{p}"))?;
    // The report is JSON for humans too: a table of runs reads best as it is.
    crate::output::emit(g.json, &report, || {
        serde_json::to_string_pretty(&report).unwrap_or_default()
    })
}
