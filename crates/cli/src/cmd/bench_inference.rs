//! `alx bench inference`: SmolLM2-135M on alx-model (candle) against llama.cpp on the same GGUF
//! and the same token ids, in the same run; then the gateway's overhead per request against
//! the running node of this home (the sample of `alx up`: its model, datanet and API key).
//! The measurements are [`alx_bench::inference`] and [`alx_bench::overhead`]; the llama.cpp
//! peer is installed by `scripts/bench-peer.sh`.

use crate::{Globals, output::emit};
use alx_bench::{
    Endpoint,
    inference::{Config, EngineSummary, Report},
    overhead,
};
use alx_model::{LoadConfig, bench::BenchOptions};
use clap::Args;
use std::{num::NonZeroUsize, path::PathBuf};

/// `alx bench inference`.
#[derive(Args)]
pub(crate) struct InferenceArgs {
    /// The GGUF file (default: SmolLM2 in the home's model cache, fetched if missing).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Runs of each engine (alternating); medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Tokens generated per run.
    #[arg(long, default_value_t = 128)]
    decode_tokens: usize,
    /// Tokens scored for perplexity per run (0 skips it).
    #[arg(long, default_value_t = 1024)]
    perplexity_tokens: usize,
    /// Context lengths (tokens in the cache) at which decode is measured again, both engines
    /// (0 skips them).
    #[arg(long, value_delimiter = ',', default_value = "128,512,1024,2048")]
    contexts: Vec<usize>,
    /// Tokens decoded at each context length.
    #[arg(long, default_value_t = 32)]
    context_decode_tokens: usize,
    /// Threads for generation, both engines (candle's kernels take theirs from
    /// CANDLE_NUM_THREADS; start the process with the same value).
    #[arg(long, default_value_t = NonZeroUsize::MIN)]
    threads: NonZeroUsize,
    /// A Python with llama-cpp-python (see scripts/bench-peer.sh); "none" skips the peer.
    #[arg(long, env = "ALX_BENCH_PYTHON", default_value = "python3")]
    peer_python: String,
    /// Requests sent to the running node's gateway (0 skips the gateway measurement).
    #[arg(long, default_value_t = 40)]
    gateway_requests: usize,
}

pub(crate) fn run(g: &Globals, a: &InferenceArgs) -> anyhow::Result<()> {
    let model = match &a.model {
        Some(p) => p.clone(),
        None => super::model_fetch::fetch_smollm2(&g.home.join("models"))?,
    };
    let config = Config {
        model,
        options: BenchOptions {
            load: LoadConfig { threads: a.threads, ..LoadConfig::DEFAULT },
            decode_tokens: a.decode_tokens,
            perplexity_tokens: a.perplexity_tokens,
            ..BenchOptions::DEFAULT
        },
        runs: NonZeroUsize::new(a.runs).unwrap_or(NonZeroUsize::MIN),
        contexts: a.contexts.iter().copied().filter(|&c| c > 0).collect(),
        context_decode_tokens: a.context_decode_tokens,
        peer_python: (a.peer_python != "none").then(|| a.peer_python.clone()),
        gateway: gateway(g, a.gateway_requests),
    };
    let report = alx_bench::inference::run(&config, |p| eprintln!("{p}"))?;
    emit(g.json, &report, || text(&report))
}

/// The gateway measurement: the sample's model and key on this home's node, if there is a
/// sample and any requests are asked for.
fn gateway(g: &Globals, requests: usize) -> Option<overhead::Config> {
    let requests = NonZeroUsize::new(requests)?;
    let Some(sample) = super::sample::load(&g.home) else {
        eprintln!(
            "note: gateway overhead not measured: no sample in this home (run `alx up` first: the measurement uses its model and API key)"
        );
        return None;
    };
    let gateway =
        Endpoint { base: g.node.clone(), model: sample.model, api_key: Some(sample.api_key) };
    Some(overhead::Config { gateway, requests })
}

fn text(r: &Report) -> String {
    let f = |x: f64| format!("{x:.1}");
    let mut lines = vec![format!(
        "{:<12} {:>12} {:>12} {:>16}",
        "engine", "prefill t/s", "decode t/s", "perplexity t/s"
    )];
    let engines: [(&str, Option<&EngineSummary>); 2] =
        [("alx-model", Some(&r.alx_model)), ("llama.cpp", r.llama_cpp.as_ref())];
    for (name, e) in engines {
        let Some(e) = e else { continue };
        lines.push(format!(
            "{name:<12} {:>12} {:>12} {:>16}",
            f(e.prefill_tokens_per_s),
            f(e.decode_tokens_per_s),
            f(e.perplexity_tokens_per_s)
        ));
    }
    if let Some(ratio) = &r.ratio_alx_to_llama_cpp {
        let x = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}×"));
        lines.push(format!(
            "alx/llama.cpp: prefill {}, decode {} (goal ≥ 1.0×), perplexity {}",
            x(ratio.prefill),
            x(ratio.decode),
            x(ratio.perplexity)
        ));
    }
    for c in &r.decode_by_context {
        let peer = c.llama_cpp_tokens_per_s.map_or_else(|| "-".to_owned(), f);
        let ratio = c.ratio.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}×"));
        lines.push(format!(
            "decode at {:>5} tokens of context: alx-model {} t/s, llama.cpp {peer} t/s ({ratio})",
            c.context_tokens,
            f(c.alx_model_tokens_per_s),
        ));
    }
    if let Some(gw) = &r.gateway {
        let f3 = |x: f64| format!("{x:.3}");
        lines.push(format!(
            "gateway overhead per request ({} requests): {} ms p50, {} ms p90 in the handler (receipt {} ms); {} ms p50 seen by the client (goal < 2 ms p50); tokenizing the prompt {} ms p50",
            gw.requests,
            f3(gw.server_overhead_ms_p50),
            f3(gw.server_overhead_ms_p90),
            f3(gw.receipt_ms_p50),
            f3(gw.client_overhead_ms_p50),
            f3(gw.tokenize_ms_p50),
        ));
    }
    lines.join("\n")
}
