//! `alx bench inference`: SmolLM2-135M on alx-model (candle) against llama.cpp on the same GGUF
//! and the same token ids, in the same run; then the gateway's overhead per request.
//!
//! The llama.cpp peer runs through llama-cpp-python (`crates/cli/bench/llama_peer.py`), a
//! bench-only dependency outside the build: `scripts/bench-peer.sh` installs it into a venv
//! (llama.cpp compiled for x86-64-v3, as the comparison asks). Engines alternate run by
//! run so that both see the same machine load; medians are reported.
//!
//! Gateway overhead: requests to a running node's `/v1/chat/completions` (the sample of
//! `alx up`: its model, datanet and API key), `max_tokens` 1. The gateway reports its stages in
//! a `Server-Timing` header; overhead = the handler's time without the model's (generation and
//! tokenizing the prompt): auth, model lookup, metering, retrieval, attribution, receipt; and,
//! seen from the client, the whole round trip without the model (adds HTTP and JSON on
//! loopback).

use crate::{Globals, output::emit};
use alx_model::{
    LoadConfig,
    bench::{BenchOptions, BenchReport},
};
use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};
use std::{
    num::NonZeroUsize,
    path::{Path, PathBuf},
    process::Command,
};

const PEER_SCRIPT: &str = include_str!("../../bench/llama_peer.py");

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

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

pub(crate) fn percentile(mut xs: Vec<f64>, p: usize) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    xs[(xs.len() - 1) * p / 100]
}

fn ratio(a: f64, b: f64) -> Value {
    if b > 0.0 { json!(a / b) } else { Value::Null }
}

/// One run of the llama.cpp peer on the token ids of `ours`.
fn peer_run(
    python: &str,
    model: &Path,
    ours: &BenchReport,
    a: &InferenceArgs,
) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let job = dir.path().join("job.json");
    let body = json!({
        "model": model, "threads": a.threads.get(), "prompt": ours.prompt_ids,
        "decode_tokens": a.decode_tokens, "perplexity": ours.perplexity_ids,
        "window": ours.options.perplexity_window.get(),
    });
    std::fs::write(&job, serde_json::to_vec(&body)?)?;
    let out = Command::new(python)
        .arg("-c")
        .arg(PEER_SCRIPT)
        .arg(&job)
        .output()
        .with_context(|| format!("cannot run {python}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "the llama.cpp peer failed: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no output")
        );
    }
    serde_json::from_slice(&out.stdout).context("the llama.cpp peer printed no JSON report")
}

fn peer_available(python: &str) -> bool {
    python != "none"
        && Command::new(python)
            .args(["-c", "import llama_cpp, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
}

fn engine_summary(runs: &[Value]) -> Value {
    let med = |k: &str| median(runs.iter().filter_map(|r| r[k].as_f64()).collect());
    json!({
        "prefill_tokens_per_s": med("prefill_tokens_per_s"),
        "decode_tokens_per_s": med("decode_tokens_per_s"),
        "perplexity_tokens_per_s": med("perplexity_tokens_per_s"),
        "perplexity": runs.last().map_or(Value::Null, |r| r["perplexity"].clone()),
        "decode_text": runs.last().map_or(Value::Null, |r| r["decode_text"].clone()),
        "runs": runs,
    })
}

pub(crate) fn run(g: &Globals, a: &InferenceArgs) -> anyhow::Result<()> {
    let model = match &a.model {
        Some(p) => p.clone(),
        None => super::model_fetch::fetch_smollm2(&g.home.join("models"))?,
    };
    let options = BenchOptions {
        load: LoadConfig { threads: a.threads, ..LoadConfig::DEFAULT },
        decode_tokens: a.decode_tokens,
        perplexity_tokens: a.perplexity_tokens,
        ..BenchOptions::DEFAULT
    };
    let with_peer = peer_available(&a.peer_python);
    if !with_peer && a.peer_python != "none" {
        eprintln!(
            "note: no llama.cpp peer ({} cannot import llama_cpp); install it with scripts/bench-peer.sh and pass --peer-python",
            a.peer_python
        );
    }
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    for i in 0..a.runs.max(1) {
        eprintln!("run {}/{}: alx-model …", i + 1, a.runs.max(1));
        let report = alx_model::bench::run(&model, &options)?;
        if with_peer {
            eprintln!("run {}/{}: llama.cpp …", i + 1, a.runs.max(1));
            peer.push(peer_run(&a.peer_python, &model, &report, a)?);
        }
        ours.push(serde_json::to_value(&report)?);
    }
    let kernel_threads = ours.first().and_then(|r| r["kernel_threads"].as_u64()).unwrap_or(0);
    if kernel_threads != a.threads.get() as u64 {
        eprintln!(
            "warning: candle's kernels ran on {kernel_threads} threads, not {}: start with CANDLE_NUM_THREADS={}",
            a.threads, a.threads
        );
    }
    let ours = engine_summary(&ours);
    let peer = with_peer.then(|| engine_summary(&peer));
    let ratios = peer.as_ref().map(|p| {
        let r = |k: &str| ratio(ours[k].as_f64().unwrap_or(0.0), p[k].as_f64().unwrap_or(0.0));
        json!({
            "decode": r("decode_tokens_per_s"),
            "prefill": r("prefill_tokens_per_s"),
            "perplexity": r("perplexity_tokens_per_s"),
        })
    });
    let gateway = if a.gateway_requests == 0 {
        Value::Null
    } else {
        super::bench_gateway::measure(g, a.gateway_requests).unwrap_or_else(|e| {
            eprintln!("note: gateway overhead not measured: {e:#}");
            Value::Null
        })
    };
    let value = json!({
        "bench": "inference",
        "model": model,
        "threads": a.threads.get(),
        "kernel_threads": kernel_threads,
        "alx_model": ours,
        "llama_cpp": peer,
        "ratio_alx_to_llama_cpp": ratios,
        "goal_decode_ratio": 1.0,
        "gateway": gateway,
        "goal_gateway_overhead_ms_p50": 2.0,
    });
    emit(g.json, &value, || text(&value))
}

fn text(v: &Value) -> String {
    let f = |x: &Value| x.as_f64().map_or_else(|| "-".to_owned(), |x| format!("{x:.1}"));
    let mut lines = vec![format!(
        "{:<12} {:>12} {:>12} {:>16}",
        "engine", "prefill t/s", "decode t/s", "perplexity t/s"
    )];
    for (name, key) in [("alx-model", "alx_model"), ("llama.cpp", "llama_cpp")] {
        let e = &v[key];
        if e.is_null() {
            continue;
        }
        lines.push(format!(
            "{name:<12} {:>12} {:>12} {:>16}",
            f(&e["prefill_tokens_per_s"]),
            f(&e["decode_tokens_per_s"]),
            f(&e["perplexity_tokens_per_s"])
        ));
    }
    let r = &v["ratio_alx_to_llama_cpp"];
    if !r.is_null() {
        let x = |x: &Value| x.as_f64().map_or_else(|| "-".to_owned(), |x| format!("{x:.2}×"));
        lines.push(format!(
            "alx/llama.cpp: prefill {}, decode {} (goal ≥ 1.0×), perplexity {}",
            x(&r["prefill"]),
            x(&r["decode"]),
            x(&r["perplexity"])
        ));
    }
    let gw = &v["gateway"];
    if !gw.is_null() {
        lines.push(format!(
            "gateway overhead per request ({} requests): {} ms p50, {} ms p90 in the handler (receipt {} ms); {} ms p50 seen by the client (goal < 2 ms p50); tokenizing the prompt {} ms p50",
            gw["requests"],
            f3(&gw["server_overhead_ms_p50"]),
            f3(&gw["server_overhead_ms_p90"]),
            f3(&gw["receipt_ms_p50"]),
            f3(&gw["client_overhead_ms_p50"]),
            f3(&gw["tokenize_ms_p50"]),
        ));
    }
    lines.join("\n")
}

fn f3(x: &Value) -> String {
    x.as_f64().map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"))
}
