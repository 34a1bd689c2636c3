//! `alx bench gateway`: serving under concurrency. For 1, 4 and 16 clients (by default), each
//! client sends streamed greedy chats one after another; the run reports the total output
//! tokens per second and the time to first token (p50, p99), against the node's gateway and,
//! when given, an OpenAI-compatible peer (llama.cpp's `llama-server --parallel N`) serving the
//! same model with the same prompt in the same run.

use super::bench_inference::percentile;
use crate::Globals;
use anyhow::Context as _;
use serde_json::{Value, json};
use std::{
    io::BufRead as _,
    time::{Duration, Instant},
};

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

/// One streamed request: time to first token and tokens generated.
struct Sample {
    first_token: Duration,
    tokens: u64,
}

/// A server to measure.
struct Target<'a> {
    name: &'a str,
    base: String,
    model: String,
    key: Option<String>,
}

fn one(
    http: &reqwest::blocking::Client,
    t: &Target<'_>,
    args: &ServeArgs,
) -> anyhow::Result<Sample> {
    let body = json!({
        "model": t.model,
        "messages": [{"role": "user", "content": args.prompt}],
        "max_tokens": args.max_tokens,
        "temperature": 0,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let mut body = body;
    if t.key.is_none() {
        // llama-server reuses a cached prompt across requests unless told not to; every request
        // here must pay for its prompt, as the gateway's do.
        body["cache_prompt"] = json!(false);
    }
    let mut req = http.post(format!("{}/v1/chat/completions", t.base)).json(&body);
    if let Some(key) = &t.key {
        req = req.bearer_auth(key);
    }
    let started = Instant::now();
    let resp = req.send().with_context(|| format!("cannot reach {} at {}", t.name, t.base))?;
    anyhow::ensure!(resp.status().is_success(), "{} answered {}", t.name, resp.status());
    let (mut first, mut tokens, mut chunks) = (None, None, 0u64);
    for line in std::io::BufReader::new(resp).lines() {
        let line = line?;
        let Some(data) = line.strip_prefix("data: ") else { continue };
        if data == "[DONE]" {
            break;
        }
        let v: Value = serde_json::from_str(data).context("a chunk is not JSON")?;
        let content = v["choices"][0]["delta"]["content"].as_str().unwrap_or("");
        if !content.is_empty() {
            chunks += 1;
            first.get_or_insert_with(|| started.elapsed());
        }
        if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
            tokens = Some(n);
        }
    }
    Ok(Sample {
        first_token: first.unwrap_or_else(|| started.elapsed()),
        tokens: tokens.unwrap_or(chunks),
    })
}

fn run_clients(t: &Target<'_>, clients: usize, args: &ServeArgs) -> anyhow::Result<Value> {
    // A fresh connection per request: servers close idle keep-alive connections at their own
    // pace, and a request racing that close would count as a failure of the server.
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .pool_max_idle_per_host(0)
        .build()?;
    // A warm-up, so that loading weights is not measured.
    one(&http, t, args)?;
    let started = Instant::now();
    let samples: Vec<anyhow::Result<Vec<Sample>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| s.spawn(|| (0..args.requests).map(|_| one(&http, t, args)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("panic"))))
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    let samples: Vec<Sample> =
        samples.into_iter().collect::<anyhow::Result<Vec<_>>>()?.into_iter().flatten().collect();
    let tokens: u64 = samples.iter().map(|s| s.tokens).sum();
    let ttft: Vec<f64> = samples.iter().map(|s| s.first_token.as_secs_f64() * 1e3).collect();
    Ok(json!({
        "server": t.name,
        "clients": clients,
        "requests": samples.len(),
        "output_tokens": tokens,
        "seconds": wall,
        "output_tokens_per_s": tokens as f64 / wall.max(1e-9),
        "ttft_ms_p50": percentile(ttft.clone(), 50),
        "ttft_ms_p99": percentile(ttft, 99),
    }))
}

pub(crate) fn run(g: &Globals, args: &ServeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.clients.is_empty() && args.clients.iter().all(|&c| (1..=256).contains(&c)),
        "--clients takes counts between 1 and 256"
    );
    anyhow::ensure!(args.requests >= 1, "--requests must be at least 1");
    let sample = super::sample::load(&g.home).context(
        "no sample in this home (run `alx up` first: the benchmark uses its model and API key)",
    )?;
    let mut targets = vec![Target {
        name: "alexandria",
        base: g.node.trim_end_matches('/').to_owned(),
        model: sample.model.clone(),
        key: Some(sample.api_key),
    }];
    if let Some(peer) = &args.peer {
        targets.push(Target {
            name: "peer",
            base: peer.trim_end_matches('/').to_owned(),
            model: args.peer_model.clone(),
            key: None,
        });
    }
    let mut runs = Vec::new();
    for &clients in &args.clients {
        for t in &targets {
            eprintln!("{}: {clients} clients × {} requests …", t.name, args.requests);
            runs.push(run_clients(t, clients, args)?);
        }
    }
    let rate = |server: &str, clients: usize| {
        runs.iter()
            .find(|r| r["server"] == server && r["clients"] == clients)
            .and_then(|r| r["output_tokens_per_s"].as_f64())
    };
    let (lo, hi) = (
        args.clients.iter().min().copied().unwrap_or(1),
        args.clients.iter().max().copied().unwrap_or(1),
    );
    let scaling = |server: &str| Some(rate(server, hi)? / rate(server, lo)?);
    let versus_peer: Vec<Value> = args
        .clients
        .iter()
        .filter_map(|&c| {
            Some(json!({"clients": c, "ratio": rate("alexandria", c)? / rate("peer", c)?}))
        })
        .collect();
    let report = json!({
        "prompt": args.prompt,
        "max_tokens": args.max_tokens,
        "runs": runs,
        "scaling": {"clients": [lo, hi], "alexandria": scaling("alexandria"), "peer": scaling("peer")},
        "throughput_vs_peer": versus_peer,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
